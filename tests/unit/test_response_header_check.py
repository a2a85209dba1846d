"""ResponseWriter.head() checks all app headers with one regex: it must refuse exactly what
check_header(), the per-header rule, refuses."""

from __future__ import annotations

import random

import pytest

from duoserve.http.framing import ResponseError, ResponseWriter, check_header

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
