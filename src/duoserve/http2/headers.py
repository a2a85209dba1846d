"""HTTP/2 fields on the way out (what a response drops) and the h2c upgrade request's head.

Inbound fields are checked in `inbound`. On the way out, h2 would raise on fields HTTP/2
forbids; apps written for HTTP/1.1 send some (`Connection: keep-alive`,
`Transfer-Encoding: chunked`), so they are dropped instead, as §8.2.2 tells an
intermediary to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .events import Headers, RequestHead

# RFC 9113 §8.2.2: fields that only make sense on one HTTP/1.1 connection.
CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
# RFC 9113 §8.2.1: never in a field; names also exclude controls, space and colon.
_FORBIDDEN = re.compile(rb"[\x00\r\n]")
# Fields of an h2c upgrade request (RFC 7540 §3.2) that end with the HTTP/1.1 request.
_UPGRADE_ONLY = CONNECTION_SPECIFIC | {b"http2-settings", b"host", b"te"}


def upgrade_head(method: bytes, path: bytes, headers: Iterable[tuple[bytes, bytes]]) -> RequestHead:
    """The HTTP/1.1 request that carried `Upgrade: h2c`, as stream 1 (RFC 7540 §3.2): it is
    answered over HTTP/2 and has no body (`h2c_upgrade_settings` refuses one)."""
    kept: Headers = []
    authority: bytes | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"host":
            authority = value
        if lower not in _UPGRADE_ONLY:
            kept.append((lower, value))
    return RequestHead(1, method, b"http", authority, path, kept, end_stream=True)


def response_fields(status: int, headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """:status first, then the app's fields lower-cased, connection-specific ones dropped."""
    if not 100 <= status <= 599 or status == 101:
        raise ValueError(f"HTTP/2 cannot send status {status}")  # 101: RFC 9113 §8.6
    return [(b":status", b"%d" % status), *trailer_fields(headers)]


def trailer_fields(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """Fields lower-cased, without connection-specific ones or a `te` other than
    "trailers" (§8.2.2). A pseudo-header or a CR, LF or NUL raises ValueError here: h2
    would fail halfway through HPACK-encoding the block, leaving the client's decoder out
    of step with our encoder for the rest of the connection."""
    fields: Headers = []
    for name, value in headers:
        lower = name.lower()
        if not lower or lower[:1] == b":" or _FORBIDDEN.search(lower + value):
            raise ValueError(f"invalid response field {name!r}: {value!r}")
        if lower in CONNECTION_SPECIFIC or (lower == b"te" and value.lower() != b"trailers"):
            continue
        fields.append((lower, value))
    return fields
