"""H2Framing.cached_head: a remembered head is the head() of the same response."""

from __future__ import annotations

from typing import Any

import pytest

from duoserve.core.h2framing import H2Framing
from duoserve.http1.headers import Framing, HeaderCache

DEFAULTS = [(b"server", b"duoserve"), (b"date", b"Mon, 07 Dec 2026 15:00:00 GMT")]


def head_of(method: bytes, cache: HeaderCache | None, *args: Any, **kw: Any) -> Any:
    framing = H2Framing()
    framing.method = method
    if cache is None:
        framing.head(*args, **kw)
    else:
        framing.cached_head(*args, cache, **kw)
    return framing.status, framing._fields, framing.framing, framing._remaining


@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
@pytest.mark.parametrize(
    ("status", "headers", "chunked"),
    [
        (200, [(b"Content-Type", b"text/plain"), (b"content-length", b"13")], False),
        (200, [(b"content-type", b"text/plain")], False),
        (200, [(b"content-type", b"text/plain")], True),
        (204, [(b"x-a", b"1"), (b"connection", b"close")], False),
        (404, [[b"content-length", b"9"]], False),  # unhashable pairs
    ],
)
def test_same_as_head(method: bytes, status: int, headers: Any, chunked: bool) -> None:
    cache = HeaderCache()
    fresh = head_of(method, None, status, headers, DEFAULTS, chunked=chunked)
    for _ in range(3):  # a miss, then hits
        assert head_of(method, cache, status, headers, DEFAULTS, chunked=chunked) == fresh


def test_new_defaults_are_picked_up_after_forget_heads() -> None:
    cache = HeaderCache()
    headers = [(b"content-type", b"text/plain")]
    head_of(b"GET", cache, 200, headers, DEFAULTS)
    assert cache.h2_heads
    cache.forget_heads()
    later = [(b"server", b"duoserve"), (b"date", b"Mon, 07 Dec 2026 15:00:01 GMT")]
    _, fields, framing, _ = head_of(b"GET", cache, 200, headers, later)
    assert fields[-1] == later[-1] and framing is Framing.CHUNKED


def test_invalid_fields_still_raise() -> None:
    cache = HeaderCache()
    for _ in range(2):
        with pytest.raises(ValueError):
            head_of(b"GET", cache, 200, [(b"x", b"a\r\nb")], DEFAULTS)
