"""A loaded app of any interface made the ASGI 3 callable the core serves."""

from __future__ import annotations

from typing import Any, cast

from ..config.settings import Config
from ..edge.static import parse_mounts
from ..errors import AppLoadError
from ..types import ASGI2App, ASGIApp
from .loading import LoadedApp, wrap_asgi2


def as_asgi(loaded: LoadedApp, config: Config) -> tuple[ASGIApp, Config]:
    """The ASGI 3 callable the core serves, and the config adjusted for the interface."""
    parse_mounts(config)  # a bad --static fails here, before binding or forking
    if loaded.interface == "asgi3":
        return cast(ASGIApp, loaded.obj), config
    if loaded.interface == "asgi2":
        return wrap_asgi2(cast(ASGI2App, loaded.obj)), config
    try:
        from ..wsgi.adapter import WSGIAdapter
    except ImportError:
        raise AppLoadError(
            f"{loaded.target} is a WSGI app, and this duoserve build cannot serve WSGI yet"
        ) from None
    return WSGIAdapter(cast(Any, loaded.obj), config), config.with_changes(lifespan="off")
