"""h2's stream table on a long connection: streams leave it once released, the limit counts
what is in progress, not what has been."""

from __future__ import annotations

import pytest

pytest.importorskip("h2")
import h2.events
import h2.stream

from duoserve.http2.events import RequestHead
from tests.unit.http2.test_connection import REQUEST, exchange, pair


def test_many_streams_in_turn_under_a_limit_of_two() -> None:
    server, client = pair(max_concurrent_streams=2)
    ended = 0
    for sid in range(1, 601, 4):  # two at a time, 300 in all
        client.send_headers(sid, REQUEST, end_stream=True)
        client.send_headers(sid + 2, REQUEST, end_stream=True)
        events = exchange(server, client)
        assert [e.stream_id for e in events if isinstance(e, RequestHead)] == [sid, sid + 2]
        for done in (sid, sid + 2):
            server.send_head(done, 200, [], end_stream=True)
            server.release(done)
        got = client.receive_data(server.data_to_send())
        ended += sum(isinstance(e, h2.events.StreamEnded) for e in got)
        assert not any(isinstance(e, h2.events.StreamReset) for e in got)
    assert ended == 300
    assert server.busy == 0
    assert len(server._h2.streams) == 0  # nothing kept of the 300


def test_released_streams_are_remembered_as_h2_remembers_closed_ones() -> None:
    """Past h2's bound on closed streams the oldest go first, as in h2's own table (the
    bound made small here: h2's is 65,536)."""
    server, client = pair()
    table = server._h2._closed_streams
    limit = table._size_limit = 50
    sids = range(1, 2 * (limit + 5), 2)
    for sid in sids:
        client.send_headers(sid, REQUEST, end_stream=True)
        exchange(server, client)
        server.send_head(sid, 200, [], end_stream=True)
        server.release(sid)
        client.receive_data(server.data_to_send())
    assert len(table) == limit
    assert list(table) == list(sids)[-limit:]  # the oldest dropped, order kept
    assert all(table[sid] is h2.stream.StreamClosedBy.SEND_END_STREAM for sid in sids[-3:])
