"""HTTP/2 refused before any stream: our SETTINGS, then GOAWAY(INADEQUATE_SECURITY).

For a TLS connection that chose h2 by ALPN over a cipher suite RFC 9113 §9.2.2 rules out
(§9.2.2 allows this connection error). Built by hand: no h2 connection is needed to say no.
"""

from __future__ import annotations

from .events import ErrorCode

_SETTINGS, _GOAWAY = 0x4, 0x7


def _frame(kind: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, 0]) + b"\0\0\0\0" + payload


def inadequate_security(reason: str) -> bytes:
    """The server preface (an empty SETTINGS frame, RFC 9113 §3.4) and a GOAWAY naming no
    stream, INADEQUATE_SECURITY, with `reason` as its debug data."""
    code = int(ErrorCode.INADEQUATE_SECURITY).to_bytes(4, "big")
    debug = reason.encode("ascii", "replace")[:256]
    return _frame(_SETTINGS, b"") + _frame(_GOAWAY, b"\0\0\0\0" + code + debug)
