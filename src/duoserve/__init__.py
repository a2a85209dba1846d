"""duoserve: one HTTP server for ASGI and WSGI apps."""

from __future__ import annotations

from typing import Any

from .config.settings import Config
from .core.server import Server
from .version import __version__


def run(app: object, **settings: Any) -> None:
    """Serve an app object, or a "module:attr" string, until SIGINT/SIGTERM.

    Settings are Config field names: run(app, port=8080, timeout_keep_alive=10)."""
    from .runner import run_config

    if isinstance(app, str):
        run_config(Config(app=app, **settings))
    else:
        run_config(Config(**settings), app)


__all__ = ["Config", "Server", "__version__", "run"]
