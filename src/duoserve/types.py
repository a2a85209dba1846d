"""Type names shared by every layer: the ASGI and WSGI interfaces, a connection's addresses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from types import TracebackType
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias

Headers: TypeAlias = list[tuple[bytes, bytes]]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
ASGI2App: TypeAlias = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
Environ: TypeAlias = dict[str, Any]


class StartResponse(Protocol):
    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
        /,
    ) -> Callable[[bytes], object]: ...


WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]

Scheme = Literal["http", "https"]
# The interface the access log names: decided at start-up from the loaded app, handed down.
InterfaceName = Literal["asgi", "wsgi"]


class ConnInfo(NamedTuple):
    """Where a connection comes from and arrives at. `client`/`server` are None for
    peers without an address (Unix sockets give only the server path). `host` and
    `root_path` are set by a trusted proxy (X-Forwarded-Host/-Prefix): the Host header and
    root path the app sees."""

    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    scheme: Scheme = "http"
    tls: dict[str, Any] | None = None
    host: bytes | None = None
    root_path: str | None = None
