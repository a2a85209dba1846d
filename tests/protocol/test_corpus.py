"""The codec contract, pinned by a corpus of raw requests: each valid request must parse to
the same events and each invalid one must get the same status, whether its bytes arrive
whole, a byte at a time, or in random splits. Every codec runs the same corpus."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from duoserve.config.settings import Config
from duoserve.errors import ProtocolError
from duoserve.http1.codec import H1Codec
from duoserve.http1.events import Body, EndOfRequest, RequestHead, Signal
from duoserve.http1.h11_codec import H11Codec
from duoserve.http1.httptools_codec import HttptoolsCodec

CODECS: dict[str, Callable[[Config], H1Codec]] = {"h11": H11Codec, "httptools": HttptoolsCodec}

# Small limits so that the limit cases stay short.
LIMITS = {
    "limit_request_line": 64,
    "limit_request_head": 256,
    "limit_request_fields": 8,
    "limit_request_body": 32,
}


@dataclass(frozen=True)
class Parsed:
    """What the app-facing side sees of one request."""

    method: bytes
    path: bytes
    query: bytes = b""
    version: str = "1.1"
    body: bytes = b""
    keep_alive: bool = True
    headers: tuple[tuple[bytes, bytes], ...] | None = None  # checked when given
    expect_continue: bool = False
    upgrade: bytes | None = None
    chunked: bool = False
    content_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


GET = Parsed(b"GET", b"/")

VALID: dict[str, tuple[bytes, list[Parsed]]] = {
    "simple": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", [GET]),
    "query": (
        b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: x\r\n\r\n",
        [Parsed(b"GET", b"/a/b", b"x=1&y=%20")],
    ),
    "percent-encoded path kept raw": (
        b"GET /caf%C3%A9/%2F HTTP/1.1\r\nHost: x\r\n\r\n",
        [Parsed(b"GET", b"/caf%C3%A9/%2F")],
    ),
    "header names lower-cased, values trimmed": (
        b"GET / HTTP/1.1\r\nHOST: x\r\nX-Thing:   a b  \r\n\r\n",
        [Parsed(b"GET", b"/", headers=((b"host", b"x"), (b"x-thing", b"a b")))],
    ),
    "repeated headers kept in order": (
        b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nA: 2\r\n\r\n",
        [Parsed(b"GET", b"/", headers=((b"host", b"x"), (b"a", b"1"), (b"a", b"2")))],
    ),
    "content-length body": (
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        [Parsed(b"POST", b"/up", body=b"hello", content_length=5)],
    ),
    "content-length zero": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        [Parsed(b"POST", b"/", content_length=0)],
    ),
    "identical content-length list": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab",
        [Parsed(b"POST", b"/", body=b"ab", content_length=2)],
    ),
    "chunked with extensions and trailers": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
        [Parsed(b"POST", b"/", body=b"abc0123456789", chunked=True)],
    ),
    "HTTP/1.0 closes by default and needs no Host": (
        b"GET / HTTP/1.0\r\n\r\n",
        [Parsed(b"GET", b"/", version="1.0", keep_alive=False)],
    ),
    "HTTP/1.0 keep-alive": (
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        [Parsed(b"GET", b"/", version="1.0")],
    ),
    "connection close": (
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        [Parsed(b"GET", b"/", keep_alive=False)],
    ),
    "connection token list": (
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n",
        [Parsed(b"GET", b"/", keep_alive=False)],
    ),
    "absolute-form reaches the app as path and query": (
        b"GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [Parsed(b"GET", b"/a/b", b"x=1")],
    ),
    "absolute-form without a path": (
        b"GET http://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [Parsed(b"GET", b"/", b"x=1")],
    ),
    "asterisk-form": (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", [Parsed(b"OPTIONS", b"*")]),
    "authority-form with CONNECT": (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        [Parsed(b"CONNECT", b"example.com:443")],
    ),
    "absolute-form with another scheme and a port": (
        b"OPTIONS coap+tcp://h:5683/a?b HTTP/1.1\r\nHost: h\r\n\r\n",
        [Parsed(b"OPTIONS", b"/a", b"b")],
    ),
    "HTAB and obs-text in a value": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\tb \x80\xff\r\n\r\n",
        [Parsed(b"GET", b"/", headers=((b"host", b"x"), (b"x", b"a\tb \x80\xff")))],
    ),
    "empty lines before the request line are ignored": (
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        [GET],
    ),
    "bare LF line endings": (b"GET / HTTP/1.1\nHost: x\n\n", [GET]),
    "obs-fold replaced by a space": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        [Parsed(b"GET", b"/", headers=((b"host", b"x"), (b"x", b"a b")))],
    ),
    "empty Host (no authority) is allowed": (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", [GET]),
    "IPv6 Host with port": (b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", [GET]),
    "expect 100-continue": (
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
        [Parsed(b"POST", b"/", body=b"a", expect_continue=True, content_length=1)],
    ),
    "expect ignored on HTTP/1.0": (
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
        [Parsed(b"POST", b"/", version="1.0", body=b"a", keep_alive=False, content_length=1)],
    ),
    "websocket upgrade": (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
        b"Upgrade: WebSocket\r\n\r\n",
        [Parsed(b"GET", b"/ws", upgrade=b"websocket")],
    ),
    "upgrade without connection: upgrade is ignored": (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        [GET],
    ),
    "pipelined requests": (
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        [
            Parsed(b"GET", b"/1"),
            Parsed(b"POST", b"/2", body=b"abc", content_length=3),
            Parsed(b"GET", b"/3", keep_alive=False),
        ],
    ),
    "body exactly at the limit": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n" + b"b" * 32,
        [Parsed(b"POST", b"/", body=b"b" * 32, content_length=32)],
    ),
}

INVALID: dict[str, tuple[bytes, int]] = {
    "garbage": (b"HELLO\r\n\r\n", 400),
    "HTTP/0.9 request line": (b"GET /\r\n\r\n", 400),
    "lower-case version": (b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    "tab in the request line": (b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "two spaces in the request line": (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "bad method character": (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "HTTP/2.0 request line": (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "HTTP/3.0 request line": (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    "no Host on HTTP/1.1": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two Hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "invalid Host": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "space before the colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "header name with a space": (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
    "continuation line first": (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    "NUL in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    "bare CR in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    # Request-target forms (RFC 9112 §3.2).
    "target neither origin- nor absolute-form": (b"GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "target a bare word": (b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "absolute-form without an authority": (b"GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "absolute-form without a scheme": (b"GET ://h/a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "scheme starting with a digit": (b"GET 1http://h/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "asterisk-form with GET": (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "authority-form with GET": (b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "CONNECT with origin-form": (b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "CONNECT without a port": (b"CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "CONNECT with absolute-form": (b"CONNECT http://h:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    # Control characters in field values (RFC 9110 §5.5): only HTAB is allowed.
    "SOH in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400),
    "DEL in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", 400),
    "ESC in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: \x1b[31m\r\n\r\n", 400),
    "vertical tab in a value": (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x0bb\r\n\r\n", 400),
    "form feed in the Host value": (b"GET / HTTP/1.1\r\nHost: x\x0c\r\n\r\n", 400),
    "control character in an obs-fold": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n \x02b\r\n\r\n",
        400,
    ),
    "both Content-Length and Transfer-Encoding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "Transfer-Encoding on HTTP/1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "conflicting Content-Length list": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab",
        400,
    ),
    "negative Content-Length": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    "signed Content-Length": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400),
    "unsupported transfer coding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
    "bad chunk size": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        400,
    ),
    "request line over the limit": (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "request line over the limit, unterminated": (b"GET /" + b"a" * 80, 414),
    "head over the limit": (
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"v" * 300 + b"\r\n\r\n",
        431,
    ),
    "head over the limit, unterminated": (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: v\r\n" * 60, 431),
    "too many header fields": (
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(9)) + b"\r\n",
        431,
    ),
    "Content-Length over the body limit": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 33\r\n\r\n" + b"b" * 33,
        413,
    ),
    "chunked body over the body limit": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"14\r\n" + b"c" * 20 + b"\r\n14\r\n" + b"c" * 20 + b"\r\n0\r\n\r\n",
        413,
    ),
}


def splits(raw: bytes) -> dict[str, list[bytes]]:
    """The same bytes delivered whole, a byte at a time, and in three random splits."""
    rng = random.Random(raw)
    ways = {"whole": [raw], "bytewise": [raw[i : i + 1] for i in range(len(raw))]}
    for n in range(3):
        cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(1, 6))))
        ways[f"random{n}"] = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return ways


def parse(codec: H1Codec, pieces: list[bytes]) -> Iterator[Parsed]:
    """Feed the pieces as reads arrive, yielding each finished request; after the last
    piece, EOF. Raises ProtocolError as the codec does."""
    feed = iter([*pieces, b""])
    head: RequestHead | None = None
    body = b""
    while True:
        event = codec.next_event()
        if event is Signal.NEED_DATA:
            try:
                codec.receive_data(next(feed))
            except StopIteration:
                raise AssertionError("the codec asked for data after EOF") from None
        elif event is Signal.PAUSED:
            codec.start_next_cycle()
        elif event is Signal.CLOSED:
            return
        elif isinstance(event, RequestHead):
            head, body = event, b""
        elif isinstance(event, Body):
            body += event.data
        elif isinstance(event, EndOfRequest):
            assert head is not None
            yield Parsed(
                head.method,
                head.path,
                head.query,
                head.http_version,
                body,
                head.keep_alive,
                tuple(head.headers),
                head.expect_continue,
                head.upgrade,
                head.chunked,
                head.content_length,
            )
            if not head.keep_alive:
                return


def same(got: Parsed, want: Parsed) -> bool:
    if want.headers is None:
        got = Parsed(**{**got.__dict__, "headers": None})
    return got == want


@pytest.fixture(params=sorted(CODECS))
def make(request: pytest.FixtureRequest) -> Callable[[], H1Codec]:
    factory = CODECS[request.param]
    config = Config(app="t", **LIMITS)
    return lambda: factory(config)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_requests_parse_the_same_however_split(
    name: str, make: Callable[[], H1Codec]
) -> None:
    raw, expected = VALID[name]
    for way, pieces in splits(raw).items():
        got = list(parse(make(), pieces))
        assert len(got) == len(expected), (way, got)
        for g, w in zip(got, expected, strict=True):
            assert same(g, w), (way, g, w)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_requests_get_one_status_however_split(
    name: str, make: Callable[[], H1Codec]
) -> None:
    raw, status = INVALID[name]
    for way, pieces in splits(raw).items():
        codec = make()
        with pytest.raises(ProtocolError) as caught:
            list(parse(codec, pieces))
        assert caught.value.status == status, (way, caught.value.detail)
        assert codec.keep_alive is False, way  # the connection closes after the answer


# Bytes that can no longer begin a valid head: refused as soon as they arrive, not at the
# head timeout. Each is an unfinished head; the codec must answer without more data.
DOOMED: dict[str, bytes] = {
    "a byte outside the token set in the method": b"G(",
    "a TLS ClientHello on the cleartext port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "a space before the method": b" GET",
    "two spaces after the method": b"GET  ",
    "a tab in the target": b"GET /a\tb",
    "a non-ASCII byte in the target": b"GET /caf\xc3",
    "something other than HTTP/ after the target": b"GET / XTTP",
    "a lower-case version": b"GET / http/",
    "a letter in the version": b"GET / HTTP/1.x",
    "a space after the version": b"GET / HTTP/1.1 ",
    "a control character in an unfinished header": b"GET / HTTP/1.1\r\nHost: x\r\nX: \x01",
}


@pytest.mark.parametrize("name", sorted(DOOMED))
def test_a_head_that_cannot_become_valid_is_refused_at_once(
    name: str, make: Callable[[], H1Codec]
) -> None:
    raw = DOOMED[name]
    for way, pieces in splits(raw).items():
        codec = make()
        with pytest.raises(ProtocolError) as caught:
            for piece in pieces:
                codec.receive_data(piece)
                while codec.next_event() is not Signal.NEED_DATA:
                    pass
        assert caught.value.status == 400, way
        assert codec.keep_alive is False, way


@pytest.mark.parametrize(
    "prefix",
    [
        b"\r",
        b"G",
        b"GET",
        b"GET ",
        b"GET /a",
        b"GET /a ",
        b"GET /a HTTP/",
        b"GET /a HTTP/1.1\r",
        b"M-SEARCH * HTTP/1.1",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\tb",
    ],
)
def test_a_valid_unfinished_head_waits_for_more(prefix: bytes, make: Callable[[], H1Codec]) -> None:
    codec = make()
    codec.receive_data(prefix)
    assert codec.next_event() is Signal.NEED_DATA


def test_eof_inside_a_head_is_a_400(make: Callable[[], H1Codec]) -> None:
    codec = make()
    codec.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert codec.next_event() is Signal.NEED_DATA
    codec.receive_data(b"")
    with pytest.raises(ProtocolError) as caught:
        codec.next_event()
    assert caught.value.status == 400


def test_eof_between_requests_is_a_clean_close(make: Callable[[], H1Codec]) -> None:
    got = list(parse(make(), [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]))
    assert got == [Parsed(b"GET", b"/", headers=((b"host", b"x"),))]
