"""Which event loop serves: anyio.run's backend options from --backend and --loop."""

from __future__ import annotations

import importlib.util
from typing import Any

from ..config.settings import Config


def backend_options(config: Config) -> dict[str, Any]:
    if config.backend != "asyncio":
        return {}
    if config.loop == "uvloop" or (
        config.loop == "auto" and importlib.util.find_spec("uvloop") is not None
    ):
        return {"use_uvloop": True}
    return {}
