"""Frames built by hand (`http2.sending`) as an h2 client reads them: DATA across frame sizes
and windows, heads past one frame (CONTINUATION), a 1xx before the response."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h2")
import h2.events
import h2.settings

from duoserve.http2.events import StreamGone
from tests.unit.http2.test_connection import REQUEST, exchange, pair


def client_events(server: Any, client: Any) -> list[Any]:
    return list(client.receive_data(server.data_to_send()))


def test_data_in_frames_of_the_client_size_up_to_the_window_end_stream_last() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST, end_stream=True)
    exchange(server, client)
    server.send_head(1, 200, [])
    body = bytes(range(256)) * 400  # 102,400 bytes: past the 65,535 window
    assert server.send_data(1, body, end_stream=True) == 65_535
    events = client_events(server, client)
    data = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert [len(e.data) for e in data] == [16_384] * 3 + [16_383]
    assert not any(isinstance(e, h2.events.StreamEnded) for e in events)
    assert server.window(1) == 0
    client.increment_flow_control_window(50_000)
    client.increment_flow_control_window(50_000, stream_id=1)
    exchange(server, client)
    assert server.send_data(1, memoryview(body)[65_535:], end_stream=True) == 36_865
    events = client_events(server, client)
    got = b"".join(e.data for e in data) + b"".join(
        e.data for e in events if isinstance(e, h2.events.DataReceived)
    )
    assert got == body
    assert isinstance(events[-1], h2.events.StreamEnded)
    with pytest.raises(StreamGone):
        server.send_data(1, b"more")


def test_a_head_past_one_frame_goes_on_in_continuation_frames() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST, end_stream=True)
    exchange(server, client)
    server.send_head(1, 103, [(b"link", b"</a.css>; rel=preload")])
    big = [(b"x-big-%d" % n, b"v" * 4000) for n in range(10)]
    server.send_head(1, 200, big, end_stream=True)
    events = client_events(server, client)
    heads = [e for e in events if isinstance(e, h2.events.InformationalResponseReceived)]
    assert heads[0].headers[0] == (b":status", b"103")
    response = next(e for e in events if isinstance(e, h2.events.ResponseReceived))
    assert response.headers[1:] == big
    assert isinstance(events[-1], h2.events.StreamEnded)
    with pytest.raises(StreamGone):
        server.send_head(1, 200, [])


def test_a_window_the_client_shrank_below_zero_sends_nothing_until_it_reopens() -> None:
    server, client = pair()
    client.send_headers(1, REQUEST, end_stream=True)
    exchange(server, client)
    server.send_head(1, 200, [])
    assert server.send_data(1, b"a" * 40_000) == 40_000
    client.receive_data(server.data_to_send())
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10_000})
    exchange(server, client)  # 10,000 - 40,000: the stream's window is -30,000
    assert server.send_data(1, b"b" * 1000, end_stream=True) == 0
    assert not server.data_to_send()
    client.increment_flow_control_window(31_000, stream_id=1)
    exchange(server, client)
    assert server.send_data(1, b"b" * 1000, end_stream=True) == 1000
    events = client_events(server, client)
    assert [len(e.data) for e in events if isinstance(e, h2.events.DataReceived)] == [1000]
