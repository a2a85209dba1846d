"""h2c detection as pure functions: the prior-knowledge preface and the `Upgrade: h2c` request.

No h2 import here: the HTTP/1.1 side can recognise an HTTP/2 client (and say how to get
the extra) whether or not `h2` is installed.
"""

from __future__ import annotations

import re
from base64 import urlsafe_b64decode
from collections.abc import Iterable
from typing import Literal

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""RFC 9113 §3.4: what an HTTP/2 client sends first when it knows the server speaks h2."""

H2C_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
"""The HTTP/1.1 answer that switches an `Upgrade: h2c` request to HTTP/2 (RFC 7540 §3.2)."""

PrefaceMatch = Literal["h2", "partial", "no"]

# token68 in the base64url alphabet, trailing '=' optional (RFC 7540 §3.2.1).
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*={0,2}")


def match_preface(data: bytes | bytearray | memoryview) -> PrefaceMatch:
    """Whether a connection's first bytes are the HTTP/2 preface: "h2" when they start with
    it, "partial" when they are a proper prefix of it (read more before deciding), "no"
    otherwise. An HTTP/1.1 request line can never start with "PRI *"."""
    head = bytes(data[: len(PREFACE)])
    if head == PREFACE:
        return "h2"
    if PREFACE.startswith(head):
        return "partial"
    return "no"


def _tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> set[bytes]:
    return {
        token.strip().lower()
        for field, value in headers
        if field.lower() == name
        for token in value.split(b",")
    }


def h2c_upgrade_settings(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The decoded HTTP2-Settings payload when an HTTP/1.1 request asks to upgrade to h2c,
    else None (then the request is served over HTTP/1.1, as RFC 9110 §7.8 allows).

    Asked means RFC 7540 §3.2: `Upgrade` lists h2c, `Connection` lists both Upgrade and
    HTTP2-Settings, and exactly one HTTP2-Settings field holds base64url SETTINGS
    (6 bytes per setting). A request with a body is not upgraded: the body would have to
    be read over HTTP/1.1 first, which RFC 9113 §3.1 deprecated along with h2c upgrade.
    Only for cleartext: over TLS, HTTP/2 is chosen by ALPN.
    """
    headers = list(headers)
    if b"h2c" not in _tokens(headers, b"upgrade"):
        return None
    if not {b"upgrade", b"http2-settings"} <= _tokens(headers, b"connection"):
        return None
    values = [value for name, value in headers if name.lower() == b"http2-settings"]
    if len(values) != 1:
        return None
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding" or (lower == b"content-length" and value.strip() != b"0"):
            return None
    token = values[0].strip().rstrip(b"=")
    if not _BASE64URL.fullmatch(token) or len(token) % 4 == 1:
        return None
    payload = urlsafe_b64decode(token + b"=" * (-len(token) % 4))
    if len(payload) % 6:
        return None
    return payload
