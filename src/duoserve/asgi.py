"""Pure ASGI scope building and the extensions duoserve advertises on HTTP/1.1."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from .config import Config
from .context import ConnInfo
from .http.events import RequestHead

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# Built once: each scope gets a shallow copy so an app cannot change what others see.
_HTTP_EXTENSIONS: dict[str, dict[str, Any]] = {
    "http.response.pathsend": {},
}


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a raw path and read it as UTF-8 (invalid bytes become U+FFFD)."""
    if b"%" not in raw_path:
        try:
            return raw_path.decode("ascii")
        except UnicodeDecodeError:
            pass
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")


def http_scope(
    head: RequestHead, info: ConnInfo, config: Config, state: dict[str, Any]
) -> dict[str, Any]:
    """The ASGI `http` scope for one request. `path` includes root_path, per the spec."""
    root_path = config.root_path
    return {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": head.http_version,
        "method": head.method.decode("ascii"),
        "scheme": info.scheme,
        "path": root_path + decode_path(head.path),
        "raw_path": head.path,
        "query_string": head.query,
        "root_path": root_path,
        "headers": head.headers,
        "client": info.client,
        "server": info.server,
        "state": state.copy(),
        "extensions": dict(_HTTP_EXTENSIONS),
    }
