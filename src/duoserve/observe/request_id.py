"""X-Request-ID for --request-id: keep a well-formed incoming one, else make a new one."""

from __future__ import annotations

import os
import re

from ..types import Headers

HEADER = b"x-request-id"
# Ids from UUIDs, hex, base64 (standard or URL-safe) and most tracing systems fit this;
# anything longer or with other bytes could smuggle text into logs and is replaced.
_VALID = re.compile(rb"[A-Za-z0-9._~:+/=-]{1,128}")


def request_id(headers: Headers) -> tuple[bytes, Headers | None]:
    """The request's id and, when it had to be made (missing, invalid or repeated), the
    request headers carrying it instead of what the client sent."""
    found: bytes | None = None
    count = 0
    for name, value in headers:
        if name == HEADER:
            found = value
            count += 1
    if count == 1 and found is not None and _VALID.fullmatch(found):
        return found, None
    new = os.urandom(16).hex().encode("ascii")
    return new, [*(h for h in headers if h[0] != HEADER), (HEADER, new)]
