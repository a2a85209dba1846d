"""Pure ASGI scope building and the extensions duoserve advertises on HTTP/1.1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config.settings import Config
from ..http1.events import RequestHead
from ..http1.head import decode_path
from ..types import ConnInfo

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# Built once: each scope gets a shallow copy so an app cannot change what others see.
_HTTP_EXTENSIONS: dict[str, dict[str, Any]] = {
    "http.response.pathsend": {},
    "http.response.zerocopysend": {},
    "http.response.trailers": {},
}
# 103 Early Hints for HTTP/1.1 and HTTP/2 clients (HTTP/1.0 has no 1xx responses).
_HTTP11_EXTENSIONS: dict[str, dict[str, Any]] = {
    **_HTTP_EXTENSIONS,
    "http.response.early_hint": {},
}
_WEBSOCKET_EXTENSIONS: dict[str, dict[str, Any]] = {
    "websocket.http.response": {},
}


def _common_scope(
    kind: str, scheme: str, head: RequestHead, info: ConnInfo, config: Config, state: dict[str, Any]
) -> dict[str, Any]:
    """The keys the http and websocket scopes share. `path` includes root_path, per the spec.
    A trusted proxy's prefix replaces --root-path, its host replaces the Host header."""
    root_path = config.root_path if info.root_path is None else info.root_path
    headers = head.headers if info.host is None else _with_host(head.headers, info.host)
    return {
        "type": kind,
        "asgi": ASGI_VERSION,
        "http_version": head.http_version,
        "scheme": scheme,
        "path": root_path + decode_path(head.path),
        "raw_path": head.path,
        "query_string": head.query,
        "root_path": root_path,
        "headers": headers,
        "client": info.client,
        "server": info.server,
        "state": state.copy(),
    }


def http_scope(
    head: RequestHead, info: ConnInfo, config: Config, state: dict[str, Any]
) -> dict[str, Any]:
    """The ASGI `http` scope for one request: _common_scope()'s keys, built in one step
    (this runs for every request)."""
    root_path = config.root_path if info.root_path is None else info.root_path
    raw_path = head.path
    if b"%" in raw_path or not raw_path.isascii():
        path = decode_path(raw_path)
    else:
        path = raw_path.decode("ascii")
    version = head.http_version
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": version,
        "scheme": info.scheme,
        "path": root_path + path,
        "raw_path": raw_path,
        "query_string": head.query,
        "root_path": root_path,
        "headers": head.headers if info.host is None else _with_host(head.headers, info.host),
        "client": info.client,
        "server": info.server,
        "state": state.copy(),
        "method": head.method.decode("ascii"),
        "extensions": dict(_HTTP_EXTENSIONS if version == "1.0" else _HTTP11_EXTENSIONS),
    }
    if info.tls is not None:
        scope["extensions"]["tls"] = info.tls
    return scope


def websocket_scope(
    head: RequestHead,
    info: ConnInfo,
    config: Config,
    state: dict[str, Any],
    subprotocols: Sequence[str],
) -> dict[str, Any]:
    """The ASGI `websocket` scope for an upgrade request the handshake checks accepted."""
    scheme = "wss" if info.scheme == "https" else "ws"
    scope = _common_scope("websocket", scheme, head, info, config, state)
    scope["subprotocols"] = list(subprotocols)
    scope["extensions"] = dict(_WEBSOCKET_EXTENSIONS)
    if info.tls is not None:
        scope["extensions"]["tls"] = info.tls
    return scope


def _with_host(headers: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """The request headers with one Host header: the one a trusted proxy forwarded."""
    return [(b"host", host)] + [(name, value) for name, value in headers if name != b"host"]
