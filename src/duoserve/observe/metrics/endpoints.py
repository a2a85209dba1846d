"""The metrics listener's HTTP, pure: /metrics, /healthz and /readyz, request to response.

A request head in, a whole response out (/metrics, /healthz, /readyz; every response closes
the connection)."""

from __future__ import annotations

from typing import Protocol

from .exposition import CONTENT_TYPE, render
from .totals import Lifecycle, Snapshot

# A request head longer than this is refused (431) and the connection closed.
MAX_REQUEST = 8192
# How long one client may take to send its request and read the response.
CLIENT_TIMEOUT = 5.0
# Clients served at once; more are closed at once.
MAX_CLIENTS = 16


class Source(Protocol):
    """Where the numbers come from: the supervisor's view, or the single process's."""

    def snapshot(self) -> Snapshot: ...

    def lifecycle(self) -> Lifecycle: ...


def complete(data: bytes | bytearray) -> bool:
    """Whether `data` holds a whole request head (or is too long to ever be one)."""
    return b"\r\n\r\n" in data or b"\n\n" in data or len(data) > MAX_REQUEST


def respond(data: bytes, source: Source) -> bytes:
    """The response to the request head in `data`."""
    if len(data) > MAX_REQUEST and b"\n" not in data[:MAX_REQUEST]:
        return _response(431, b"text/plain", b"request head too large\n")
    parts = data.split(b"\n", 1)[0].split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _response(400, b"text/plain", b"bad request\n")
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _response(405, b"text/plain", b"method not allowed\n", b"Allow: GET, HEAD\r\n")
    head_only = method == b"HEAD"
    if target == b"/metrics":
        body = render(source.snapshot(), source.lifecycle())
        return _response(200, CONTENT_TYPE, body, head_only=head_only)
    if target == b"/healthz":
        life = source.lifecycle()
        status, body = (200, b"ok\n") if life.healthy else (503, b"no worker is alive\n")
        return _response(status, b"text/plain", body, head_only=head_only)
    if target == b"/readyz":
        life = source.lifecycle()
        if life.ready:
            return _response(200, b"text/plain", b"ready\n", head_only=head_only)
        body = f"not ready: {life.reason}\n".encode()
        return _response(503, b"text/plain", body, head_only=head_only)
    return _response(404, b"text/plain", b"not found: try /metrics, /healthz or /readyz\n")


_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _response(
    status: int, content_type: bytes, body: bytes, extra: bytes = b"", *, head_only: bool = False
) -> bytes:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\n%s\r\n"
        % (status, _REASONS[status], content_type, len(body), extra)
    )
    return head if head_only else head + body
