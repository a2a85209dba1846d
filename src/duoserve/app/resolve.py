"""Which app to serve (given, loaded, or a router over several) and how start-up names it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.settings import Config
from ..errors import AppLoadError
from .detect import detect_interface
from .loading import LoadedApp, load_app

if TYPE_CHECKING:
    from ..core.server import Server


def resolve_app(config: Config, app: object | None) -> LoadedApp:
    """The app to serve; with --ws-app or --mount, a router over all of them (ASGI 3)."""
    loaded = _main_app(config, app)
    if config.ws_app or config.mount:
        from .routing import build_router

        return build_router(loaded, config)
    return loaded


def _main_app(config: Config, app: object | None) -> LoadedApp:
    if app is None:
        if not config.app:
            raise AppLoadError("no app given; usage: duoserve module:attribute")
        return load_app(
            config.app,
            factory=config.factory,
            interface=config.interface,
            app_dir=config.app_dir,
        )
    interface = detect_interface(app) if config.interface == "auto" else config.interface
    return LoadedApp(
        target=config.app or getattr(app, "__name__", repr(app)), obj=app, interface=interface
    )


def describe(loaded: LoadedApp, config: Config, server: Server | None = None) -> str:
    if loaded.interface == "wsgi":
        details = f"WSGI, {config.threads} threads"
    elif config.lifespan == "off":
        details = f"{loaded.description}, lifespan off"
    elif server is not None and not server.lifespan_supported:
        details = f"{loaded.description}, lifespan unsupported"
    else:
        details = f"{loaded.description}, lifespan on"
    describe_routes = getattr(loaded.obj, "describe_routes", None)
    if describe_routes is not None:  # a routing.Router: each app and its own interface
        return str(describe_routes(config, details.partition(", ")[2]))
    return f"{loaded.target} ({details})"
