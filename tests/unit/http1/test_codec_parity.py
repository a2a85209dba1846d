"""The codec contract: the h11 and httptools codecs give the same events and the same error
statuses for a corpus of valid and invalid requests, whole, byte by byte and split."""

from __future__ import annotations

import random
from typing import Any

import pytest

from duoserve import Config
from duoserve.errors import ProtocolError
from duoserve.http1.codec import codec_factory
from duoserve.http1.events import Body, EndOfRequest, RequestHead, Signal
from duoserve.http1.h11_codec import H11Codec
from duoserve.http1.httptools_codec import HttptoolsCodec
from duoserve.http1.plain_head import REGEX_HEAD

CONFIG = Config(app="test", limit_request_body=1000)

VALID = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /p?q=1#frag HTTP/1.1\r\nHost: a:80\r\nX-Pad:  spaced  value \t\r\n\r\n",
    b"GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET http://example.com?y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"
    b"\x81\x80frame",
    b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n",
    b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \t\x80\xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    # The regex head with a body or a Connection option (httptools_codec._plain).
    b"POST /u HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0003 \r\n\r\nabc",
    b"POST /u HTTP/1.1\r\nHost: a\r\ncontent-length:\t40\r\n\r\n" + b"x" * 40,
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000002\r\n\r\nok",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: a\r\nConnection: KEEP-ALIVE \r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, te\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive-ish\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"POST /u HTTP/1.1\r\nContent-Length: 3\r\nHost: a\r\n\r\nabc",
    b"POST /u HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nHost: a\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    # pipelined
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"
    b"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
]

INVALID = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET / HTTP/0.9\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 2000\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a b\r\nContent-Length: 1\r\n\r\nx",
    b"POST / HTTP/1.1\r\nContent-Length: 1x\r\nHost: a\r\n\r\nx",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2 2\r\n\r\nok",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n",
    b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\x7f\xff\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / http/1.1\r\nHost: a\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 40000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n",
    b"GET / HTTP/1.1",
]


def padded(data: bytes) -> bytes | None:
    """`data` with a field after its request line long enough for its head to take the
    llhttp path (httptools_codec.REGEX_HEAD) instead of the regular expressions."""
    at = data.find(b"\r\n")
    if at <= 0:
        return None
    return data[: at + 2] + b"X-Pad: " + b"p" * (REGEX_HEAD + 1) + b"\r\n" + data[at + 2 :]


PADDED = [p for data in VALID + INVALID if (p := padded(data)) is not None]


def run(codec: Any, chunks: list[bytes], fed: bool = False, whole: bool = False) -> list[Any]:
    """Feed `chunks` then EOF; the events (bodies merged), the keep-alive flag after each
    head, and the error status if one is raised. `fed`: the bytes go in through feed()
    (what the lean stream does between requests) instead of receive_data(). `whole`: right
    after each head, whole_body() is asked first (what the HTTP cycle does)."""
    pending = [*chunks, b""]
    out: list[Any] = []
    event: Any = None
    for _ in range(len(chunks) + 100):
        if whole and out and out[-1][0] == "head" and (body := codec.whole_body()) is not None:
            out += [bytearray(body), ("end", codec.request_complete())]
            continue
        try:
            if fed and event is Signal.NEED_DATA and pending:
                event = codec.feed(pending.pop(0))
            else:
                event = codec.next_event()
        except ProtocolError as exc:
            return [*out, ("error", exc.status, codec.keep_alive)]
        if event is Signal.NEED_DATA:
            if not pending:
                return [*out, "need-data"]
            if not fed:
                codec.receive_data(pending.pop(0))
        elif isinstance(event, RequestHead):
            out.append(("head", event, codec.keep_alive))
        elif isinstance(event, Body):
            if out and isinstance(out[-1], bytearray):
                out[-1] += event.data
            else:
                out.append(bytearray(event.data))
        elif isinstance(event, EndOfRequest):
            out.append(("end", codec.request_complete()))
        elif event is Signal.PAUSED:
            out.append(("paused", codec.trailing_data))
            codec.start_next_cycle()
        else:
            return [*out, "closed"]
    raise AssertionError("no end")


def splits(data: bytes) -> list[list[bytes]]:
    rng = random.Random(len(data))
    cut = sorted(rng.sample(range(1, len(data)), min(3, len(data) - 1))) if len(data) > 1 else []
    pieces = [data[a:b] for a, b in zip([0, *cut], [*cut, len(data)], strict=True)]
    step = 1 if len(data) < 4096 else 1000  # byte by byte, or small pieces for big heads
    return [[data], [data[i : i + step] for i in range(0, len(data), step)], pieces]


def mutants(count: int, bases: list[bytes] = VALID[:9]) -> list[bytes]:
    """Valid requests with one byte inserted, replaced or removed, to reach edge cases
    nobody thought to list."""
    rng = random.Random(8)
    specials = b"\x00\t\n\r \x01\x7f\x80\xff:;,/?#%\"'()<>@[]\\{}=-"
    found = []
    for _ in range(count):
        base = bytearray(rng.choice(bases))
        at = rng.randrange(len(base))
        op = rng.randrange(3)
        if op == 0:
            base.insert(at, rng.choice(specials))
        elif op == 1:
            base[at] = rng.choice(specials)
        else:
            del base[at]
        found.append(bytes(base))
    return found


@pytest.mark.parametrize("data", VALID + INVALID + PADDED)
def test_codecs_agree_on_the_corpus(data: bytes) -> None:
    for chunks in splits(data):
        expected = run(H11Codec(CONFIG), chunks)
        assert run(HttptoolsCodec(CONFIG), chunks) == expected, chunks


@pytest.mark.parametrize("data", VALID + INVALID + PADDED)
def test_feed_gives_the_events_of_receive_data_and_next_event(data: bytes) -> None:
    for chunks in splits(data):
        expected = run(H11Codec(CONFIG), chunks)
        assert run(HttptoolsCodec(CONFIG), chunks, fed=True) == expected, chunks
        assert run(H11Codec(CONFIG), chunks, fed=True) == expected, chunks


@pytest.mark.parametrize("data", VALID + INVALID)
def test_a_whole_body_taken_at_once_is_the_body_events(data: bytes) -> None:
    for chunks in splits(data):
        expected = run(H11Codec(CONFIG), chunks)
        assert run(HttptoolsCodec(CONFIG), chunks, whole=True) == expected, chunks
        assert run(H11Codec(CONFIG), chunks, whole=True) == expected, chunks


def test_a_whole_body_is_there_only_once_all_of_it_is() -> None:
    codec = HttptoolsCodec(CONFIG)
    codec.receive_data(b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
    assert isinstance(codec.next_event(), RequestHead)
    assert codec.whole_body() is None
    codec.receive_data(b"loGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert codec.whole_body() == b"hello"
    assert codec.request_complete()
    assert codec.whole_body() is None  # nothing is left of this body
    assert codec.next_event() is Signal.PAUSED  # the pipelined request waits its turn
    assert codec.trailing_data == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def test_codecs_agree_on_mutated_requests() -> None:
    for data in mutants(1500):
        expected = run(H11Codec(CONFIG), [data])
        assert run(HttptoolsCodec(CONFIG), [data]) == expected, data


def test_codecs_agree_on_mutated_long_heads() -> None:
    """The same for heads that llhttp reads: mutated outside the padding field, mostly."""
    bases = [p for data in VALID[:9] if (p := padded(data)) is not None]
    for data in mutants(1500, bases):
        expected = run(H11Codec(CONFIG), [data])
        assert run(HttptoolsCodec(CONFIG), [data]) == expected, data


def test_corpus_outcomes_are_what_the_lists_say() -> None:
    """Guards the corpus itself: valid requests parse, invalid ones are refused."""
    for data in VALID:
        assert run(HttptoolsCodec(CONFIG), [data])[0][0] == "head", data
    for data in INVALID:
        outcome = run(HttptoolsCodec(CONFIG), [data])
        assert outcome[-1][0] == "error", data


@pytest.mark.parametrize(
    ("choice", "codec"),
    [("h11", H11Codec), ("httptools", HttptoolsCodec), ("auto", HttptoolsCodec)],
)
def test_http_setting_selects_the_codec(choice: str, codec: type) -> None:
    config = Config(app="test", http=choice)
    assert type(codec_factory(config)(config)) is codec
