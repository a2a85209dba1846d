"""H2ServerConnection without sockets: an h2 client on one side, raw frames for the attacks."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

h2_connection = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402
from hpack import Encoder  # noqa: E402
from hyperframe.frame import (  # noqa: E402
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

from duoserve.http2.connection import LAST_STREAM_ID, H2ServerConnection  # noqa: E402
from duoserve.http2.events import (  # noqa: E402
    BodyData,
    ConnectionFailed,
    ErrorCode,
    GoAwayReceived,
    RequestHead,
    StreamEnded,
    StreamGone,
    StreamReset,
    WindowOpened,
)
from duoserve.http2.limits import H2Limits  # noqa: E402
from duoserve.http2.preface import PREFACE  # noqa: E402

REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/a?b")]


def pair(**limits: Any) -> tuple[H2ServerConnection, h2_connection.H2Connection]:
    server = H2ServerConnection(H2Limits(**limits), now=0.0)
    server.initiate()
    client = h2_connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    exchange(server, client)
    return server, client


def exchange(server: H2ServerConnection, client: Any) -> list[Any]:
    """Move bytes both ways until both are quiet; the server's events."""
    events: list[Any] = []
    for _ in range(10):
        out = client.data_to_send()
        if out:
            events += server.receive_data(out, now=0.0)
        back = server.data_to_send()
        if back:
            client.receive_data(back)
        if not out and not back:
            break
    return events


def frames(data: bytes) -> list[Frame]:
    found = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        found.append(frame)
        data = data[9 + length :]
    return found


def raw_server(**limits: Any) -> H2ServerConnection:
    """A server that has seen the preface and the client's SETTINGS."""
    server = H2ServerConnection(H2Limits(**limits), now=0.0)
    server.initiate()
    server.data_to_send()
    assert server.receive_data(PREFACE + SettingsFrame(0).serialize(), now=0.0) == []
    server.data_to_send()
    return server


def headers_frame(stream_id: int, encoder: Encoder, end: bool = True, **extra: Any) -> bytes:
    frame = HeadersFrame(stream_id)
    frame.data = encoder.encode([(k.encode(), v.encode()) for k, v in REQUEST])
    frame.flags.add("END_HEADERS")
    if end:
        frame.flags.add("END_STREAM")
    return frame.serialize()


def test_request_head_and_response() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST, end_stream=True)
    events = exchange(server, client)
    assert events == [
        RequestHead(1, b"GET", b"http", b"x", b"/a?b", [], end_stream=True, view=ANY),
    ]
    server.send_head(1, 200, [(b"Content-Type", b"text/plain"), (b"Connection", b"close")])
    assert server.send_data(1, b"hello", end_stream=True) == 5
    got = []
    client.receive_data(server.data_to_send())
    for ev in client.receive_data(b""):
        got.append(ev)
    server.release(1)
    assert server.busy == 0


def test_body_credit_returns_only_when_acknowledged() -> None:
    server, client = pair(stream_receive_buffer=65_535, connection_receive_buffer=65_535)
    client.send_headers(1, REQUEST)
    for start in range(0, 65_535, 16_384):
        client.send_data(1, b"x" * min(16_384, 65_535 - start))
    events = exchange(server, client)
    assert isinstance(events[0], RequestHead) and not events[0].end_stream
    assert sum(len(e.data) for e in events if isinstance(e, BodyData)) == 65_535
    assert client.local_flow_control_window(1) == 0
    server.acknowledge(1, 65_535)
    exchange(server, client)
    assert client.local_flow_control_window(1) > 0
    client.end_stream(1)
    assert exchange(server, client) == [StreamEnded(1, [])]


def test_trailers_come_with_the_end() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST)
    client.send_data(1, b"abc")
    client.send_headers(1, [("grpc-status", "0")], end_stream=True)
    events = exchange(server, client)
    assert events[1:] == [BodyData(1, b"abc"), StreamEnded(1, [(b"grpc-status", b"0")])]


def test_send_data_stops_at_the_window_and_resumes() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST, end_stream=True)
    exchange(server, client)
    server.send_head(1, 200, [])
    assert server.window(1) == 65_535
    assert server.send_data(1, b"y" * 100_000) == 65_535
    assert server.window(1) == 0
    for ev in client.receive_data(server.data_to_send()):
        if isinstance(ev, h2.events.DataReceived):
            client.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
    events = exchange(server, client)
    assert WindowOpened(1) in events or WindowOpened(0) in events
    assert server.send_data(1, b"y" * 34_465, end_stream=True) == 34_465


def test_streams_past_the_limit_are_refused_not_the_connection() -> None:
    server = raw_server(max_concurrent_streams=2)
    enc = Encoder()
    out = b"".join(headers_frame(sid, enc) for sid in (1, 3, 5))
    events = server.receive_data(out, now=0.0)
    assert [type(e) for e in events] == [RequestHead, RequestHead]
    reset = [f for f in frames(server.data_to_send()) if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in reset] == [(5, ErrorCode.REFUSED_STREAM)]
    server.release(1)
    events = server.receive_data(headers_frame(7, enc), now=0.0)
    assert [type(e) for e in events] == [RequestHead]  # HPACK stayed in step


def test_reset_stream_keeps_its_slot_until_released() -> None:
    server = raw_server(max_concurrent_streams=1)
    enc = Encoder()
    reset = RstStreamFrame(1)
    reset.error_code = ErrorCode.CANCEL
    events = server.receive_data(headers_frame(1, enc, end=False) + reset.serialize(), now=0.0)
    assert events[1] == StreamReset(1, ErrorCode.CANCEL, True)
    server.receive_data(headers_frame(3, enc), now=0.0)
    assert any(
        isinstance(f, RstStreamFrame) and f.stream_id == 3 for f in frames(server.data_to_send())
    )
    with pytest.raises(StreamGone):
        server.send_head(1, 200, [])


def goaway_of(server: H2ServerConnection) -> ErrorCode:
    last = [f for f in frames(server.data_to_send()) if isinstance(f, GoAwayFrame)][-1]
    return ErrorCode(last.error_code)


def settings_flood() -> bytes:
    return b"".join(SettingsFrame(0).serialize() for _ in range(300))


def ping_flood() -> bytes:
    return b"".join(PingFrame(0).serialize() for _ in range(300))


def empty_data_flood(enc: Encoder) -> bytes:
    return headers_frame(1, enc, end=False) + b"".join(DataFrame(1).serialize() for _ in range(300))


def rapid_reset(enc: Encoder) -> bytes:
    out = b""
    for sid in range(1, 1000, 2):
        reset = RstStreamFrame(sid)
        reset.error_code = ErrorCode.CANCEL
        out += headers_frame(sid, enc, end=False) + reset.serialize()
    return out


def continuation_flood(enc: Encoder) -> bytes:
    first = HeadersFrame(1)
    first.data = enc.encode([(b":method", b"GET")])
    out = first.serialize()
    for _ in range(100):
        frame = ContinuationFrame(1)
        frame.data = b"\x00" * 1000
        out += frame.serialize()
    return out


def hpack_bomb(enc: Encoder) -> bytes:
    """A 4 KB field put in the dynamic table once, then referenced by one byte 20 times."""
    request = [(k.encode(), v.encode()) for k, v in REQUEST]
    out = b""
    for sid, copies in ((1, 1), (3, 20)):
        frame = HeadersFrame(sid)
        frame.data = enc.encode([*request, *[(b"x", b"y" * 4000)] * copies])
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        out += frame.serialize()
    assert len(out) < 8000
    return out


def bad_hpack(enc: Encoder) -> bytes:
    frame = HeadersFrame(1)
    frame.data = b"\xff\xff\xff\xff\x0f"  # an index far past the tables
    frame.flags.add("END_HEADERS")
    return frame.serialize()


def window_overflow(enc: Encoder) -> bytes:
    frame = WindowUpdateFrame(0)
    frame.window_increment = 2**31 - 1
    return frame.serialize()


def oversize_frame(enc: Encoder) -> bytes:
    frame = DataFrame(1)
    frame.data = b"z" * 20_000
    return headers_frame(1, enc, end=False) + frame.serialize()


def even_stream(enc: Encoder) -> bytes:
    return headers_frame(2, enc)


def data_on_idle(enc: Encoder) -> bytes:
    frame = DataFrame(3)
    frame.data = b"a"
    return frame.serialize()


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda e: settings_flood(), ErrorCode.ENHANCE_YOUR_CALM),
        (lambda e: ping_flood(), ErrorCode.ENHANCE_YOUR_CALM),
        (empty_data_flood, ErrorCode.ENHANCE_YOUR_CALM),
        (rapid_reset, ErrorCode.ENHANCE_YOUR_CALM),
        (continuation_flood, ErrorCode.ENHANCE_YOUR_CALM),
        (hpack_bomb, ErrorCode.ENHANCE_YOUR_CALM),
        (bad_hpack, ErrorCode.COMPRESSION_ERROR),
        (window_overflow, ErrorCode.FLOW_CONTROL_ERROR),
        (oversize_frame, ErrorCode.FRAME_SIZE_ERROR),
        (even_stream, ErrorCode.PROTOCOL_ERROR),
        (data_on_idle, ErrorCode.PROTOCOL_ERROR),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_attacks_end_the_connection_with_the_right_code(build: Any, code: ErrorCode) -> None:
    server = raw_server()
    events = server.receive_data(build(Encoder()), now=0.0)
    failed = [e for e in events if isinstance(e, ConnectionFailed)]
    assert failed and failed[-1].error_code == code
    assert goaway_of(server) == code
    assert server.receive_data(PingFrame(0).serialize(), now=0.0) == []


def test_preface_must_be_the_preface() -> None:
    server = H2ServerConnection(H2Limits(), now=0.0)
    server.initiate()
    events = server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", now=0.0)
    assert isinstance(events[-1], ConnectionFailed)


def test_client_goaway() -> None:
    server = raw_server()
    frame = GoAwayFrame(0)
    frame.error_code = 0
    assert server.receive_data(frame.serialize(), now=0.0) == [
        GoAwayReceived(ErrorCode.NO_ERROR, 0)
    ]


def test_ping_and_settings_are_acknowledged() -> None:
    server = raw_server()
    ping = PingFrame(0)
    ping.opaque_data = b"12345678"
    server.receive_data(ping.serialize() + SettingsFrame(0).serialize(), now=0.0)
    sent = frames(server.data_to_send())
    assert any(
        isinstance(f, PingFrame) and "ACK" in f.flags and f.opaque_data == b"12345678" for f in sent
    )
    assert any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in sent)


def test_graceful_shutdown_lets_streams_finish_and_refuses_new_ones() -> None:
    server = raw_server()
    enc = Encoder()
    server.receive_data(headers_frame(1, enc), now=0.0)
    server.shutdown()
    sent = frames(server.data_to_send())
    goaway = [f for f in sent if isinstance(f, GoAwayFrame)]
    assert goaway[0].last_stream_id == LAST_STREAM_ID and goaway[0].error_code == 0
    ping = next(f for f in sent if isinstance(f, PingFrame))
    ack = PingFrame(0, flags=["ACK"])
    ack.opaque_data = ping.opaque_data
    server.receive_data(ack.serialize(), now=0.0)
    final = [f for f in frames(server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert final[0].last_stream_id == 1
    server.receive_data(headers_frame(3, enc), now=0.0)
    assert any(
        isinstance(f, RstStreamFrame) and f.error_code == ErrorCode.REFUSED_STREAM
        for f in frames(server.data_to_send())
    )
    server.send_head(1, 200, [])
    assert server.send_data(1, b"done", end_stream=True) == 4  # in flight: still served
    assert any(isinstance(f, DataFrame) for f in frames(server.data_to_send()))
