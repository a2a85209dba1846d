"""A loaded app of any interface made the ASGI 3 callable the core serves."""

from __future__ import annotations

from typing import Any, cast

from ..config.settings import Config
from ..edge.static import parse_mounts
from ..errors import AppLoadError
from ..types import ASGI2App, ASGIApp, Receive, Scope, Send
from .loading import LoadedApp


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


class _ASGI2Adapter:
    """Presents an ASGI 2 app (scope → instance(receive, send)) as a single ASGI 3 callable."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI2App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)

    def __repr__(self) -> str:
        return f"wrap_asgi2({self.app!r})"


def wrap_asgi2(app: ASGI2App) -> ASGIApp:
    """Adapt an ASGI 2 app so the rest of the server only ever calls ASGI 3."""
    return _ASGI2Adapter(app)
