"""RFC 9113 §8.2-8.3 field rules over a raw socket, blocks crafted with hpack: a malformed
request or trailer section gets RST_STREAM(PROTOCOL_ERROR) and nothing else, the next
stream on the same connection is answered, and so is a fresh connection; a body that
disagrees with its content-length ends the connection with GOAWAY(PROTOCOL_ERROR)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

pytest.importorskip("h2")
from hpack import Encoder
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame

from duoserve.http2.events import ErrorCode
from tests.conftest import RunningServer, running_server
from tests.http2.rawh2 import CLOSED, START, headers_frame, parse
from tests.http2.rawh2 import REQUEST as PSEUDO
from tests.http2.test_attacks import still_serves

pytestmark = pytest.mark.anyio
Fields = list[tuple[bytes, bytes]]


async def app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body first (so trailers reach an open stream); answers "hello", or
    on /cookie the Cookie fields it got, joined by "|"."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    cookies = [v for n, v in scope["headers"] if n == b"cookie"]
    body = b"|".join(cookies) if scope["path"] == "/cookie" else b"hello"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def block(sid: int, enc: Encoder, fields: Fields, end: bool = True) -> bytes:
    return headers_frame(sid, enc.encode(fields), end)


def data(sid: int, payload: bytes, end: bool = True) -> bytes:
    frame = DataFrame(sid)
    frame.data = payload
    if end:
        frame.flags.add("END_STREAM")
    return frame.serialize()


async def converse(srv: RunningServer, payload: bytes, enc: Encoder) -> list[Frame]:
    """Preface, SETTINGS, `payload` and a good request on stream 101 (`enc` encoded both:
    one HPACK context); the frames received until stream 101's answer ends, a GOAWAY
    comes or the server closes."""
    stream = await srv.connect()
    received = b""
    frames: list[Frame] = []
    try:
        await stream.send(START + payload + block(101, enc, PSEUDO))
        with anyio.move_on_after(5):
            while not any(
                isinstance(f, GoAwayFrame) or (f.stream_id == 101 and "END_STREAM" in f.flags)
                for f in frames
            ):
                try:
                    received += await stream.receive()
                except CLOSED:
                    break
                frames = parse(received)
    finally:
        await stream.aclose()
    return frames


def body(frames: list[Frame], sid: int) -> bytes:
    return b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sid)


async def assert_stream_error(srv: RunningServer, payload: bytes, enc: Encoder) -> None:
    """Stream 1 reset with PROTOCOL_ERROR and never answered; stream 101 and a fresh
    connection served."""
    frames = await converse(srv, payload, enc)
    assert [(f.stream_id, f.error_code) for f in frames if isinstance(f, RstStreamFrame)] == [
        (1, ErrorCode.PROTOCOL_ERROR)
    ], frames
    assert not [f for f in frames if isinstance(f, HeadersFrame) and f.stream_id == 1]
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    assert body(frames, 101) == b"hello"
    await still_serves(srv)


def without(name: bytes) -> Fields:
    return [f for f in PSEUDO if f[0] != name]


CONNECT = [(b":method", b"CONNECT"), (b":authority", b"x:443")]
MALFORMED: dict[str, Fields] = {
    "uppercase name": [*PSEUDO, (b"User-Agent", b"raw")],
    "name not a token": [*PSEUDO, (b"bad(name)", b"v")],
    "empty name": [*PSEUDO, (b"", b"v")],
    "colon inside a name": [*PSEUDO, (b"x:y", b"v")],
    **{
        f"connection-specific {n.decode()}": [*PSEUDO, (n, b"close")]
        for n in (b"connection", b"keep-alive", b"proxy-connection", b"upgrade")
    },
    "connection-specific transfer-encoding": [*PSEUDO, (b"transfer-encoding", b"chunked")],
    "te other than trailers": [*PSEUDO, (b"te", b"gzip")],
    "pseudo-header after a regular field": [*PSEUDO[:2], (b"accept", b"*/*"), *PSEUDO[2:]],
    "unknown pseudo-header": [*PSEUDO, (b":foo", b"bar")],
    "uppercase pseudo-header": [*PSEUDO, (b":Path", b"/")],
    "response pseudo-header": [*PSEUDO, (b":status", b"200")],
    "repeated :path": [*PSEUDO, (b":path", b"/again")],
    "repeated :method": [(b":method", b"GET"), *PSEUDO],
    "no :method": without(b":method"),
    "no :scheme": without(b":scheme"),
    "no :path": without(b":path"),
    "empty :path": [*without(b":path"), (b":path", b"")],
    "CONNECT with :scheme": [*CONNECT, (b":scheme", b"https")],
    "CONNECT with :path": [*CONNECT, (b":path", b"/")],
    "CONNECT with host, without :authority": [(b":method", b"CONNECT"), (b"host", b"x:443")],
    ":protocol without CONNECT": [*PSEUDO, (b":protocol", b"websocket")],
    "value with NUL": [*PSEUDO, (b"x", b"a\x00b")],
    "value with CR": [*PSEUDO, (b"x", b"a\rb")],
    "value with LF": [*PSEUDO, (b"x", b"a\nb")],
    "value with a leading space": [*PSEUDO, (b"x", b" a")],
    "value with a trailing space": [*PSEUDO, (b"x", b"a ")],
    "value with a leading tab": [*PSEUDO, (b"x", b"\ta")],
    "value with a trailing tab": [*PSEUDO, (b"x", b"a\t")],
    "pseudo-header value with LF": [*without(b":path"), (b":path", b"/\nx")],
    "host differs from :authority": [*PSEUDO, (b"host", b"y")],
    "two hosts": [*without(b":authority"), (b"host", b"x"), (b"host", b"x")],
    "neither :authority nor host": without(b":authority"),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_request_is_a_stream_protocol_error(case: str) -> None:
    enc = Encoder()
    async with running_server(app) as srv:
        await assert_stream_error(srv, block(1, enc, MALFORMED[case]), enc)


async def test_extended_connect_not_advertised_is_a_stream_protocol_error() -> None:
    enc = Encoder()
    fields = [*CONNECT, (b":scheme", b"https"), (b":path", b"/ws"), (b":protocol", b"websocket")]
    async with running_server(app, ws="none") as srv:
        await assert_stream_error(srv, block(1, enc, fields, end=False), enc)


TRAILERS: dict[str, Fields] = {
    "pseudo-header": [(b":path", b"/")],
    "uppercase name": [(b"X-Sum", b"1")],
    "connection-specific field": [(b"connection", b"close")],
    "te other than trailers": [(b"te", b"gzip")],
    "value with LF": [(b"x-sum", b"1\n2")],
    "value with a trailing space": [(b"x-sum", b"1 ")],
}


@pytest.mark.parametrize("case", TRAILERS)
async def test_malformed_trailers_are_a_stream_protocol_error(case: str) -> None:
    enc = Encoder()
    payload = block(1, enc, PSEUDO, end=False) + data(1, b"abc", end=False)
    async with running_server(app) as srv:
        await assert_stream_error(srv, payload + block(1, enc, TRAILERS[case]), enc)


async def served(fields: Fields, trailers: Fields | None = None, path: bytes = b"/") -> bytes:
    """What stream 1 got back: its answer's body, with no reset and no GOAWAY."""
    enc = Encoder()
    payload = block(1, enc, fields, end=trailers is None)
    if trailers is not None:
        payload += data(1, b"abc", end=False) + block(1, enc, trailers)
    async with running_server(app) as srv:
        frames = await converse(srv, payload, enc)
    assert not [f for f in frames if isinstance(f, RstStreamFrame | GoAwayFrame)], frames
    assert body(frames, 101) == b"hello"
    return body(frames, 1)


@pytest.mark.parametrize(
    "fields",
    [
        [*PSEUDO, (b"te", b"trailers"), (b"user-agent", b"raw"), (b"x", b"")],
        [*without(b":authority"), (b"host", b"x")],
        [*PSEUDO, (b"host", b"x"), (b"x", b"in\tside \x7f\xff")],
    ],
    ids=["te trailers and an empty value", "host alone", "host equal, inner whitespace"],
)
async def test_well_formed_requests_are_served(fields: Fields) -> None:
    assert await served(fields) == b"hello"


async def test_well_formed_trailers_are_served() -> None:
    assert await served(PSEUDO, [(b"x-sum", b"1"), (b"host", b"y")]) == b"hello"


async def test_cookie_crumbs_reach_the_app_joined() -> None:
    fields = [*without(b":path"), (b":path", b"/cookie"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]
    assert await served(fields) == b"a=1; b=2"  # one field (RFC 9113 §8.2.3)


@pytest.mark.parametrize(
    ("length", "sent"),
    [(b"5", b"abc"), (b"2", b"abc"), (b"0", b"a"), (b"three", b"abc"), (b"+3", b"abc")],
)
async def test_a_body_against_its_content_length_ends_the_connection(
    length: bytes, sent: bytes
) -> None:
    enc = Encoder()
    payload = block(1, enc, [*PSEUDO, (b"content-length", length)], end=False) + data(1, sent)
    async with running_server(app) as srv:
        frames = await converse(srv, payload, enc)
        goaways = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
        assert goaways == [ErrorCode.PROTOCOL_ERROR], frames
        assert not [f for f in frames if isinstance(f, HeadersFrame) and f.stream_id == 1]
        await still_serves(srv)


async def test_a_body_as_long_as_its_content_length_is_served() -> None:
    enc = Encoder()
    payload = block(1, enc, [*PSEUDO, (b"content-length", b"3")], end=False) + data(1, b"abc")
    async with running_server(app) as srv:
        frames = await converse(srv, payload, enc)
    assert body(frames, 1) == b"hello" and body(frames, 101) == b"hello"


async def test_a_body_after_a_malformed_head_does_not_end_the_connection() -> None:
    enc = Encoder()
    payload = block(1, enc, [*PSEUDO, (b"Bad", b"x")], end=False) + data(1, b"a" * 1000)
    async with running_server(app) as srv:
        frames = await converse(srv, payload, enc)
    resets = [f.error_code for f in frames if isinstance(f, RstStreamFrame) and f.stream_id == 1]
    assert resets[:1] == [ErrorCode.PROTOCOL_ERROR]  # then STREAM_CLOSED for the DATA
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    assert body(frames, 101) == b"hello"
