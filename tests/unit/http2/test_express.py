"""The express lane against h2's own path: the same events, bytes out and h2 state."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

pytest.importorskip("h2.connection")
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from duoserve.http2 import express
from duoserve.http2.connection import H2ServerConnection
from duoserve.http2.events import (
    ConnectionFailed,
    ErrorCode,
    RequestHead,
    StreamGone,
)
from tests.unit.http2.test_connection import goaway_of, raw_server

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/")]


def headers(sid: int, block: bytes, *flags: str) -> bytes:
    frame = HeadersFrame(sid)
    frame.data = block
    for flag in flags or ("END_HEADERS", "END_STREAM"):
        frame.flags.add(flag)
    return frame.serialize()


def request(sid: int, enc: Encoder, fields: list[tuple[bytes, bytes]] = GET, *flags: str) -> bytes:
    return headers(sid, enc.encode(fields), *flags)


def state(server: H2ServerConnection) -> Any:
    conn: Any = server._h2
    return (
        conn.highest_inbound_stream_id,
        sorted(
            (
                sid,
                s.state_machine.state,
                s._expected_content_length,
                s.inbound_flow_control_window,
                s.outbound_flow_control_window,
                s.max_outbound_frame_size,
                sorted(vars(s.state_machine).items()),  # what each move left
            )
            for sid, s in conn.streams.items()
        ),
        sorted(conn._closed_streams.items()),
        sorted(conn.busy),
        conn.state_machine.state,
        list(conn.decoder.header_table.dynamic_entries),
    )


def run(reads: list[bytes], lane: bool, monkeypatch: pytest.MonkeyPatch, **limits: Any) -> Any:
    with monkeypatch.context() as patch:
        if not lane:
            patch.setattr(express, "receive", lambda conn, data: conn.receive_data(data))
        server = raw_server(**limits)
        events: list[Any] = []
        out = []
        for data in reads:
            events += server.receive_data(data, now=0.0)
            out.append(server.data_to_send())
            if server.ended:
                break
        for ev in events:
            if isinstance(ev, RequestHead):
                with contextlib.suppress(StreamGone):  # reset since
                    server.send_head(ev.stream_id, 200, [], end_stream=True)
                server.release(ev.stream_id)
        out.append(server.data_to_send())
        return events, out, state(server)


def _frames() -> dict[str, bytes]:
    post = [(b":method", b"POST"), *GET[1:], (b"content-length", b"3")]
    found = {}
    for name, data, end in (("body", b"abc", True), ("long body", b"abcd", True)):
        frame = DataFrame(1)
        frame.data = data
        if end:
            frame.flags.add("END_STREAM")
        found[name] = frame.serialize()
    cont = ContinuationFrame(1)
    cont.flags.add("END_HEADERS")
    priority = PriorityFrame(3)
    priority.depends_on = 1
    window = WindowUpdateFrame(0)
    window.window_increment = 1000
    reset = RstStreamFrame(1)
    reset.error_code = 8
    found |= {"cont": cont.serialize(), "priority": priority.serialize()}
    found |= {"window": window.serialize(), "reset": reset.serialize()}
    found["post"] = Encoder().encode(post)
    settings = SettingsFrame(0)
    settings.settings = {
        SettingsFrame.INITIAL_WINDOW_SIZE: 1_000,
        SettingsFrame.MAX_FRAME_SIZE: 20_000,
    }
    found["settings"] = settings.serialize()
    return found


def _repeated_after_a_change(enc: Encoder) -> list[bytes]:
    """x-a goes into the table; a block naming it by index is sent twice, around a block
    that adds x-b, which takes that index: the second time the block means x-b."""
    first = request(1, enc, [*GET, (b"x-a", b"1")])
    again = enc.encode([*GET, (b"x-a", b"1")])  # all indexed now: changes no table
    other = request(5, enc, [*GET, (b"x-b", b"2")])
    return [first + headers(3, again) + other + headers(7, again) + headers(9, again)]


def _repeated_after_our_ack(enc: Encoder) -> list[bytes]:
    """A block that changes no table, sent before and after the client acknowledges our
    smaller table: the second time its table is too large (no size update came)."""
    first = headers(1, enc.encode(GET))
    again = enc.encode(GET)
    ack = SettingsFrame(0, flags=["ACK"]).serialize()
    return [first + headers(3, again), ack + headers(5, again)]


F = _frames()
BIG = [*GET, (b"x", b"y" * 4000)]
# name -> (the reads, made with one encoder of the scenario's own; limits)
SCENARIOS: dict[str, tuple[Any, dict[str, Any]]] = {
    "many requests": (lambda o: [request(1, o) + request(3, o) + request(5, o)], {}),
    "requests with control frames between": (
        lambda o: [request(1, o) + PingFrame(0).serialize() + F["window"] + request(3, o)],
        {},
    ),
    "frames split across reads": (
        lambda o: (lambda d: [d[:50], d[50:51], d[51:300], d[300:]])(
            b"".join(request(sid, o) for sid in range(1, 40, 2))
        ),
        {},
    ),
    "a body and its length": (lambda o: [headers(1, F["post"], "END_HEADERS") + F["body"]], {}),
    "a body longer than its length": (
        lambda o: [headers(1, F["post"], "END_HEADERS") + F["long body"]],
        {},
    ),
    "a bad content-length": (lambda o: [request(1, o, [*GET, (b"content-length", b"x")])], {}),
    "content-lengths that differ": (
        lambda o: [request(1, o, [*GET, (b"content-length", b"1"), (b"content-length", b"2")])],
        {},
    ),
    "a bad content-length and a malformed field": (
        lambda o: [request(1, o, [*GET, (b"content-length", b"x"), (b"Upper", b"v")])],
        {},
    ),
    "the same body length again (a remembered head)": (
        lambda o: [
            b"".join(
                request(sid, o, [(b":method", b"POST"), *GET[1:], (b"content-length", b"3")])
                for sid in (1, 3)
            )
            + DataFrame(3, data=b"abcd", flags=["END_STREAM"]).serialize()
        ],
        {},
    ),
    "a repeated block after the table changed (the same bytes, another request)": (
        lambda o: _repeated_after_a_change(o),
        {},
    ),
    "a repeated block with and without END_STREAM": (
        lambda o: (lambda b: [headers(1, b) + headers(3, b, "END_HEADERS") + headers(5, b)])(
            o.encode(GET)
        ),
        {},
    ),
    "a repeated block once our smaller table is acknowledged": (
        lambda o: _repeated_after_our_ack(o),
        {"header_table_size": 256},
    ),
    "malformed fields": (lambda o: [request(1, o, [*GET, (b"Upper", b"v")]) + request(3, o)], {}),
    "a pseudo-header missing": (lambda o: [request(1, o, GET[1:])], {}),
    "bad hpack": (lambda o: [headers(1, b"\xff\xff\xff\xff\x0f")], {}),
    "an hpack bomb": (lambda o: [request(1, o, BIG) + request(3, o, [*BIG, *BIG[-1:] * 20])], {}),
    "an even stream": (lambda o: [request(2, o)], {}),
    "a stream id going down": (lambda o: [request(5, o) + request(3, o)], {}),
    "a stream reused": (lambda o: [request(1, o) + request(1, o)], {}),
    "headers during a header block": (
        lambda o: [request(1, o, GET, "END_STREAM") + request(3, o) + F["cont"]],
        {},
    ),
    "a header block in two frames": (lambda o: [request(1, o, GET, "END_STREAM") + F["cont"]], {}),
    "priority and padding flags": (
        lambda o: [request(1, o, GET, "END_HEADERS", "END_STREAM", "PADDED") + F["priority"]],
        {},
    ),
    "streams past the limit": (
        lambda o: [b"".join(request(sid, o) for sid in range(1, 12, 2))],
        {"max_concurrent_streams": 3},
    ),
    "a reset, then a new stream": (
        lambda o: [request(1, o, GET, "END_HEADERS"), F["reset"] + request(3, o)],
        {},
    ),
    "requests after the client's settings": (
        lambda o: [F["settings"] + request(1, o) + request(3, o, GET, "END_HEADERS")],
        {},
    ),
    "a connect": (
        lambda o: [
            request(1, o, [(b":method", b"CONNECT"), (b":authority", b"h:1")], "END_HEADERS")
        ],
        {},
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_as_h2(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, limits = SCENARIOS[name]
    reads = build(Encoder())
    assert run(reads, True, monkeypatch, **limits) == run(reads, False, monkeypatch, **limits)


def test_the_lane_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real = express._open

    def spy(conn: Any, sid: int, block: bytes, ended: bool) -> Any:
        opened.append(sid)
        return real(conn, sid, block, ended)

    monkeypatch.setattr(express, "_open", spy)
    enc = Encoder()
    server = raw_server(max_concurrent_streams=2)
    events = server.receive_data(b"".join(request(sid, enc) for sid in (1, 3, 5)), now=0.0)
    assert opened == [1, 3]  # the third is refused, by h2's path
    assert [type(ev) for ev in events] == [RequestHead, RequestHead]
    assert server._h2.streams[1].state_machine.state.name == "HALF_CLOSED_REMOTE"


def test_bad_hpack_is_a_compression_error() -> None:
    server = raw_server()
    events = server.receive_data(request(1, Encoder()) + headers(3, b"\x80"), now=0.0)
    assert isinstance(events[-1], ConnectionFailed)
    assert goaway_of(server) == ErrorCode.COMPRESSION_ERROR
