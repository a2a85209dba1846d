"""HTTP/2 attacks and RFC 9113 / RFC 7541 MUSTs over a raw socket, frames crafted with
hyperframe and hpack: each asserts the exact GOAWAY or RST_STREAM code, then that the
server still serves a new connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

pytest.importorskip("h2")
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from duoserve.http2.events import ErrorCode
from duoserve.http2.preface import PREFACE
from tests.conftest import RunningServer, running_server
from tests.http2.rawh2 import REQUEST, START, headers_frame, parse, read_until_closed

pytestmark = pytest.mark.anyio


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def headers(sid: int, enc: Encoder, end: bool = True) -> bytes:
    return headers_frame(sid, enc.encode(REQUEST), end)


async def exchange(srv: RunningServer, payload: bytes, *, preface: bool = True) -> list[Frame]:
    """Send the preface, SETTINGS and `payload`; the frames received until the server
    closes (or for 5 s)."""
    stream = await srv.connect()
    try:
        await stream.send((START if preface else b"") + payload)
        data = await read_until_closed(stream, timeout=5)
    finally:
        await stream.aclose()
    return parse(data)


def goaway(frames: list[Frame]) -> int:
    codes = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    assert codes, frames
    return codes[-1]


async def still_serves(srv: RunningServer) -> None:
    async with httpx.AsyncClient(http1=False, http2=True, timeout=5) as client:
        assert (await client.get(srv.url + "/")).text == "hello"


def rapid_reset(enc: Encoder) -> bytes:
    out = b""
    for sid in range(1, 2001, 2):
        reset = RstStreamFrame(sid)
        reset.error_code = ErrorCode.CANCEL
        out += headers(sid, enc, end=False) + reset.serialize()
    return out


def continuation_flood(enc: Encoder) -> bytes:
    first = HeadersFrame(1)
    first.data = enc.encode(REQUEST[:1])
    out = first.serialize()
    for _ in range(200):
        frame = ContinuationFrame(1)
        frame.data = b"\x00" * 1000
        out += frame.serialize()
    return out


def hpack_bomb(enc: Encoder) -> bytes:
    out = b""
    for sid, copies in ((1, 1), (3, 20)):
        frame = HeadersFrame(sid)
        frame.data = enc.encode([*REQUEST, *[(b"x", b"y" * 4000)] * copies])
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        out += frame.serialize()
    return out


def bad_hpack(enc: Encoder) -> bytes:
    frame = HeadersFrame(1)
    frame.data = b"\xff\xff\xff\xff\x0f"
    frame.flags.add("END_HEADERS")
    return frame.serialize()


def flood(make: Callable[[], Frame]) -> Callable[[Encoder], bytes]:
    return lambda enc: b"".join(make().serialize() for _ in range(500))


def empty_data_flood(enc: Encoder) -> bytes:
    return headers(1, enc, end=False) + b"".join(DataFrame(1).serialize() for _ in range(500))


def oversize_frame(enc: Encoder) -> bytes:
    frame = DataFrame(1)
    frame.data = b"z" * 20_000
    return headers(1, enc, end=False) + frame.serialize()


def window_overflow(enc: Encoder) -> bytes:
    frame = WindowUpdateFrame(0)
    frame.window_increment = 2**31 - 1
    return frame.serialize()


def even_stream(enc: Encoder) -> bytes:
    return headers(2, enc)


def decreasing_stream(enc: Encoder) -> bytes:
    return headers(5, enc) + headers(3, enc)


def data_on_idle(enc: Encoder) -> bytes:
    frame = DataFrame(7)
    frame.data = b"a"
    return frame.serialize()


def rst_on_idle(enc: Encoder) -> bytes:
    frame = RstStreamFrame(9)
    frame.error_code = ErrorCode.CANCEL
    return frame.serialize()


def settings_on_stream(enc: Encoder) -> bytes:
    return b"\x00\x00\x00\x04\x00\x00\x00\x00\x01"  # SETTINGS on stream 1


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (rapid_reset, ErrorCode.ENHANCE_YOUR_CALM),
        (continuation_flood, ErrorCode.ENHANCE_YOUR_CALM),
        (hpack_bomb, ErrorCode.ENHANCE_YOUR_CALM),
        (bad_hpack, ErrorCode.COMPRESSION_ERROR),
        (flood(lambda: SettingsFrame(0)), ErrorCode.ENHANCE_YOUR_CALM),
        (flood(lambda: PingFrame(0)), ErrorCode.ENHANCE_YOUR_CALM),
        (empty_data_flood, ErrorCode.ENHANCE_YOUR_CALM),
        (oversize_frame, ErrorCode.FRAME_SIZE_ERROR),
        (window_overflow, ErrorCode.FLOW_CONTROL_ERROR),
        (even_stream, ErrorCode.PROTOCOL_ERROR),
        (decreasing_stream, ErrorCode.PROTOCOL_ERROR),
        (data_on_idle, ErrorCode.PROTOCOL_ERROR),
        (rst_on_idle, ErrorCode.PROTOCOL_ERROR),
        (settings_on_stream, ErrorCode.PROTOCOL_ERROR),
    ],
    ids=lambda v: getattr(v, "__name__", None) or str(v),
)
async def test_attack_gets_goaway_and_others_are_served(
    build: Callable[[Encoder], bytes], code: ErrorCode
) -> None:
    async with running_server(hello) as srv:
        frames = await exchange(srv, build(Encoder()))
        assert goaway(frames) == code
        await still_serves(srv)


async def test_not_quite_the_preface_is_an_http1_505() -> None:
    async with running_server(hello) as srv:
        answer = await srv.raw(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 505 ")
        await still_serves(srv)


async def test_preface_without_settings_first() -> None:
    async with running_server(hello) as srv:
        frames = await exchange(srv, PREFACE + PingFrame(0).serialize(), preface=False)
        assert goaway(frames) == ErrorCode.PROTOCOL_ERROR


async def test_settings_and_ping_acknowledged_and_request_served() -> None:
    async with running_server(hello, timeout_keep_alive=0.5) as srv:
        ping = PingFrame(0)
        ping.opaque_data = b"abcdefgh"
        frames = await exchange(srv, ping.serialize() + headers(1, Encoder()))
    assert any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in frames)
    assert any(
        isinstance(f, PingFrame) and "ACK" in f.flags and f.opaque_data == b"abcdefgh"
        for f in frames
    )
    assert b"".join(f.data for f in frames if isinstance(f, DataFrame)) == b"hello"
    assert goaway(frames) == ErrorCode.NO_ERROR  # idle past the keep-alive timeout


async def test_streams_over_the_limit_are_refused() -> None:
    async with running_server(hello, h2_max_concurrent_streams=2, timeout_keep_alive=0.5) as srv:
        enc = Encoder()
        frames = await exchange(srv, b"".join(headers(s, enc, end=False) for s in (1, 3, 5)))
    resets = {f.stream_id: f.error_code for f in frames if isinstance(f, RstStreamFrame)}
    # 1 and 3 answered before their bodies ended: reset with NO_ERROR (RFC 9113 §8.1).
    assert resets == {5: ErrorCode.REFUSED_STREAM, 1: ErrorCode.NO_ERROR, 3: ErrorCode.NO_ERROR}


async def test_client_that_never_opens_its_window_is_cut() -> None:
    async def big(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"b" * 200_000})

    async with running_server(big, timeout_io=0.5, timeout_keep_alive=1) as srv:
        with anyio.fail_after(5):
            frames = await exchange(srv, headers(1, Encoder()))
    sent = sum(len(f.data) for f in frames if isinstance(f, DataFrame))
    assert sent == 65_535  # the initial window, then nothing
    assert [f.error_code for f in frames if isinstance(f, RstStreamFrame)] == [
        ErrorCode.INTERNAL_ERROR
    ]
