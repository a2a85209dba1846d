"""ResponseWriter.head() checks all app headers with one regex: it must refuse exactly what
check_header(), the per-header rule, refuses."""

from __future__ import annotations

import random
from typing import Any

import pytest

from duoserve.http1.framing import ResponseWriter
from duoserve.http1.headers import HeaderCache, ResponseError, check_header

ALPHABET = b'aZ09-_!~ \t:;,\x00\x01\x08\x09\x0a\x0d\x1f\x7f\x80\xff"()'


def refused_by_rule(headers: list[tuple[bytes, bytes]]) -> bool:
    try:
        for name, value in headers:
            check_header(name.lower(), value)
    except ResponseError:
        return True
    return False


def refused_by_writer(headers: list[tuple[bytes, bytes]]) -> bool:
    try:
        ResponseWriter(b"GET", "1.1", True).head(200, headers, [])
    except ResponseError:
        return True
    return False


def random_field(rng: random.Random) -> bytes:
    return bytes(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 5)))


def test_joint_check_agrees_with_the_per_header_rule() -> None:
    rng = random.Random(8)
    refused = 0
    for _ in range(5000):
        headers = [
            (rng.choice([b"x-a", b"X-B", random_field(rng) or b"n"]), random_field(rng))
            for _ in range(rng.randrange(1, 4))
        ]
        expected = refused_by_rule(headers)
        assert refused_by_writer(headers) == expected, headers
        refused += expected
    assert 500 < refused < 4500  # both outcomes well represented


@pytest.mark.parametrize(
    "value", [b"", b"a", b"a b", b"a\tb", b"\xff", b" a", b"a ", b"\ta", b"a\r\nb", b"a\x00"]
)
def test_edge_values(value: bytes) -> None:
    assert refused_by_writer([(b"x", value)]) == refused_by_rule([(b"x", value)])


def test_cache_gives_the_same_bytes_and_stays_bounded() -> None:
    cache = HeaderCache(size=4)
    rng = random.Random(3)
    for _ in range(300):
        headers = [(b"x-n", str(rng.randrange(8)).encode()), (b"Content-Length", b"0")]
        plain = ResponseWriter(b"GET", "1.1", True).head(200, headers, [])
        assert ResponseWriter(b"GET", "1.1", True).head(200, headers, [], cache=cache) == plain
        assert len(cache._blocks) <= 4


def test_cached_heads_match_fresh_ones_for_every_request_shape() -> None:
    """A head reused from the cache is the one a fresh writer builds, with the same
    framing and keep-alive outcome, whatever the request, status, headers and defaults
    (the cache's owner forgets its heads whenever the defaults change, as the server does
    every second)."""
    cache = HeaderCache(size=16)
    last_date = b""
    rng = random.Random(5)
    header_sets = [
        [(b"content-length", b"5")],
        [(b"content-type", b"text/plain")],
        [(b"transfer-encoding", b"chunked")],
        [(b"connection", b"close"), (b"content-length", b"2")],
        [(b"date", b"x"), (b"server", b"y")],
    ]
    for _ in range(2000):
        method = rng.choice([b"GET", b"HEAD", b"POST"])
        version = rng.choice(["1.0", "1.1"])
        keep_alive = rng.random() < 0.7
        status = rng.choice([200, 204, 304, 404])
        headers = rng.choice(header_sets)
        date = rng.choice([b"d1", b"d2"])
        if date != last_date:
            cache.forget_heads()
            last_date = date
        defaults = [(b"server", b"duoserve"), (b"date", date)]
        options = {"chunked_ok": rng.random() < 0.8, "chunked": rng.random() < 0.2}
        fresh = ResponseWriter(method, version, keep_alive)
        cached = ResponseWriter(method, version, keep_alive)
        assert cached.head(status, headers, defaults, cache=cache, **options) == fresh.head(
            status, headers, defaults, **options
        )
        assert (cached.framing, cached._remaining, cached.keep_alive) == (
            fresh.framing,
            fresh._remaining,
            fresh.keep_alive,
        )
        assert len(cache.heads) <= 16


def test_cache_takes_unhashable_pairs_and_never_keeps_refusals() -> None:
    cache = HeaderCache()
    as_lists: Any = [[b"x", b"1"]]
    assert b"x: 1\r\n" in ResponseWriter(b"GET", "1.1", True).head(200, as_lists, [], cache=cache)
    for _ in range(2):
        with pytest.raises(ResponseError):
            ResponseWriter(b"GET", "1.1", True).head(200, [(b"x", b"a\r\nb")], [], cache=cache)
    writer = ResponseWriter(b"GET", "1.1", True)
    writer.head(200, [(b"connection", b"close")], [], cache=cache)
    writer = ResponseWriter(b"GET", "1.1", True)
    assert b"connection: close" in writer.head(200, [(b"connection", b"close")], [], cache=cache)
    assert not writer.keep_alive  # the cached block still closes the connection


def test_heads_that_cannot_recur_are_built_but_not_kept() -> None:
    """reuse=False (a request id in the defaults): the header list is still looked up, the
    head is the fresh one, and the map of heads is left to the heads that do recur."""
    cache = HeaderCache()
    headers = [(b"content-length", b"2")]
    for n in range(3):
        defaults = [(b"x-request-id", b"%d" % n)]
        fresh = ResponseWriter(b"GET", "1.1", True).head(200, headers, defaults)
        writer = ResponseWriter(b"GET", "1.1", True)
        assert writer.head(200, headers, defaults, cache=cache, reuse=False) == fresh
    assert cache.heads == {}
    assert len(cache._blocks) == 1
