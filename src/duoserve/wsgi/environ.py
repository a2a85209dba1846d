"""Pure PEP 3333 environ building from an ASGI http scope; no I/O, no threads."""

from __future__ import annotations

import logging
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from ..http1.head import decode_path
from ..types import Environ, Scope

# Request headers that become CGI variables without the HTTP_ prefix (PEP 3333).
_UNPREFIXED = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
# An adapter remembers the environ key of each header name it has seen (None: dropped),
# so that a name is converted once, not in every request; bounded, as clients choose them.
KEYS_MAX = 1024
_UNSEEN = "unseen"


def environ_keys() -> dict[bytes, str | None]:
    """A new map of header names to environ keys, for one adapter's build_environ()."""
    return dict(_UNPREFIXED)


# Cookie values are joined with "; " (RFC 6265 §5.4), every other repeated field with ", ".
_JOINERS = {"HTTP_COOKIE": "; "}


def build_environ(
    scope: Scope,
    body: IO[bytes] | Any,
    errors: Any,
    *,
    multiprocess: bool,
    keys: dict[bytes, str | None] | None = None,
) -> Environ:
    """The WSGI environ for one request. Strings are latin-1 "bytes as str" per PEP 3333.
    `keys` (environ_keys()) remembers header names across requests."""
    if keys is None:
        keys = environ_keys()
    server = scope.get("server")
    client = scope.get("client")
    root_path: str = scope.get("root_path", "")
    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path_info(scope),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for raw_name, raw_value in scope["headers"]:
        key = keys.get(raw_name, _UNSEEN)
        if key is _UNSEEN:
            key = _environ_key(raw_name, keys)
        if key is None:
            continue
        value = raw_value.decode("latin-1")
        if key in environ:
            environ[key] += _JOINERS.get(key, ",") + value
        else:
            environ[key] = value
    if server is not None and server[1] is not None:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
    else:  # a Unix socket ([path, None]): the Host header is the best name we have
        name, port = _split_host(environ.get("HTTP_HOST", "localhost"))
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = port or ("443" if environ["wsgi.url_scheme"] == "https" else "80")
    if client is not None and client[1] is not None:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    return environ


def _environ_key(raw_name: bytes, keys: dict[bytes, str | None]) -> str | None:
    """The environ key of a header name not seen before (kept in `keys` while it has room)."""
    key: str | None = "HTTP_" + raw_name.decode("latin-1").upper().replace("-", "_")
    if b"_" in raw_name:
        # HTTP_X_USER would be indistinguishable from X-User: a client could spoof a
        # header a proxy sets. Such names are dropped, as nginx does by default.
        key = None
    if len(keys) < KEYS_MAX:
        keys[raw_name] = key
    return key


def path_info(scope: Scope) -> str:
    """PATH_INFO from the raw path, percent-decoded byte for byte (not via UTF-8, so no
    information is lost), without the SCRIPT_NAME part. The scope's `path` tells which
    convention its root_path follows: a server-level root path (a proxy stripped the
    prefix) is not in raw_path, a mount point is, and a mount below a server-level root
    path is both: only the part of root_path found in raw_path is removed."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    decoded = unquote_to_bytes(raw) if b"%" in raw else raw
    root_path: str = scope.get("root_path", "")
    if not root_path:
        return decoded.decode("latin-1")  # nothing to take off (most apps)
    path: str = scope["path"]
    raw_text = decode_path(raw)
    outside = path[: len(path) - len(raw_text)] if path.endswith(raw_text) else ""
    in_raw = root_path[len(outside) :] if root_path.startswith(outside) else root_path
    if in_raw:
        prefix = in_raw.encode("utf-8")
        if decoded.startswith(prefix):
            decoded = decoded[len(prefix) :]
    return decoded.decode("latin-1")


def _split_host(host: str) -> tuple[str, str]:
    """("example.com", "8000") from "example.com:8000"; IPv6 literals keep their brackets."""
    if host.startswith("["):
        end = host.find("]") + 1
        name, rest = host[:end], host[end:]
        return name, rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name, port


class ErrorStream:
    """wsgi.errors: text written by the app goes to the error log, one record per line."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._logger.error("%s", self._pending)
            self._pending = ""
