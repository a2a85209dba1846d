"""Mixed serving: one ASGI app routing prefixes, WebSockets and lifespan to several apps.

One ASGI app that routes path prefixes, WebSockets and lifespan to several apps of either
interface (--mount, --ws-app)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..asgi.lifespan_fanout import fan_out_lifespan
from ..config.settings import Config
from ..errors import AppLoadError, ConfigError
from ..types import ASGIApp, Receive, Scope, Send
from .interface import as_asgi
from .loading import LoadedApp, load_app


@dataclass(frozen=True, slots=True)
class Route:
    """One app and where it is served: `prefix` is "" for the main app and --ws-app."""

    prefix: str
    loaded: LoadedApp
    app: ASGIApp

    @property
    def asgi(self) -> bool:
        return self.loaded.interface != "wsgi"

    def matches(self, path: str) -> bool:
        """`/api` matches `/api` and `/api/...`, never `/apix`."""
        return path == self.prefix or path.startswith(self.prefix + "/")


def parse_mount(spec: str) -> tuple[str, str]:
    """('/prefix', 'module:attr') from '/prefix=module:attr'; a clear ConfigError otherwise."""
    prefix, sep, target = spec.partition("=")
    prefix = prefix.strip().rstrip("/")
    target = target.strip()
    if not sep or not target or not prefix.startswith("/"):
        raise ConfigError(
            f"--mount {spec!r}: expected '/prefix=module:attribute', e.g. '/events=events:app'"
        )
    if any(part in (".", "..") for part in prefix.split("/")) or "//" in prefix:
        raise ConfigError(f"--mount {spec!r}: the prefix must be a plain path like '/api'")
    return prefix, target


class Router:
    """The ASGI app the core serves when --ws-app or --mount is given.

    HTTP goes to the longest matching mount, else to the main app. A WebSocket goes to
    the longest matching ASGI mount, else to --ws-app, else to the main app when it is
    ASGI; with none of them it is refused (403). Lifespan goes to every ASGI app."""

    def __init__(self, main: Route, ws_app: Route | None, mounts: Sequence[Route]) -> None:
        self.main = main
        self.ws_app = ws_app
        self.mounts = tuple(sorted(mounts, key=lambda r: len(r.prefix), reverse=True))
        routes = [main, *([ws_app] if ws_app else []), *self.mounts]
        seen: set[int] = set()
        self.lifespan_apps: list[ASGIApp] = []
        for route in routes:  # the same object mounted twice still starts once
            if route.asgi and id(route.loaded.obj) not in seen:
                seen.add(id(route.loaded.obj))
                self.lifespan_apps.append(route.app)
        fallback = ws_app if ws_app is not None else main
        self.ws_fallback = fallback if fallback.asgi else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await fan_out_lifespan(self.lifespan_apps, scope, receive, send)
            return
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        relative = path[len(root_path) :] if path.startswith(root_path) else path
        for mount in self.mounts:
            if (kind == "http" or mount.asgi) and mount.matches(relative):
                # path keeps the prefix (it includes root_path, per the ASGI spec).
                await mount.app({**scope, "root_path": root_path + mount.prefix}, receive, send)
                return
        if kind == "http":
            await self.main.app(scope, receive, send)
        elif self.ws_fallback is not None:
            await self.ws_fallback.app(scope, receive, send)
        else:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})

    def describe_routes(self, config: Config, lifespan: str) -> str:
        """What is served where, each app's interface detected on its own."""
        parts = [f"{self.main.loaded.target} ({_interface(self.main, config, lifespan)})"]
        if self.ws_app is not None:
            details = _interface(self.ws_app, config, lifespan)
            parts.append(f"WebSocket → {self.ws_app.loaded.target} ({details})")
        for mount in sorted(self.mounts, key=lambda r: r.prefix):
            details = _interface(mount, config, lifespan)
            parts.append(f"{mount.prefix} → {mount.loaded.target} ({details})")
        return " + ".join(parts)


def _interface(route: Route, config: Config, lifespan: str) -> str:
    if route.loaded.interface == "wsgi":
        return f"WSGI, {config.threads} threads"
    return f"{route.loaded.description}, {lifespan}"


def build_router(main: LoadedApp, config: Config) -> LoadedApp:
    """Load --ws-app and the mounts beside the main app; the result is served as ASGI 3."""
    plain = config.with_changes(ws_app="", mount=(), lifespan="off")

    def route(prefix: str, loaded: LoadedApp) -> Route:
        return Route(prefix, loaded, as_asgi(loaded, plain)[0])

    def load(target: str, flag: str) -> LoadedApp:
        try:
            return load_app(target, app_dir=config.app_dir)
        except AppLoadError as exc:  # say which of the apps failed
            raise AppLoadError(f"{flag}: {exc}", show_traceback=exc.show_traceback) from (
                exc.__cause__
            )

    ws_app = route("", load(config.ws_app, "--ws-app")) if config.ws_app else None
    if ws_app is not None and not ws_app.asgi:
        raise ConfigError(
            f"--ws-app {config.ws_app} is a WSGI app; WebSockets need an ASGI app "
            "(for Django: the project's asgi.py)"
        )
    mounts: list[Route] = []
    for spec in config.mount:
        prefix, target = parse_mount(spec)
        if any(m.prefix == prefix for m in mounts):
            raise ConfigError(f"--mount: the prefix {prefix!r} is mounted twice")
        mounts.append(route(prefix, load(target, f"--mount {prefix}")))
    router = Router(route("", main), ws_app, mounts)
    return LoadedApp(main.target, router, "asgi3")
