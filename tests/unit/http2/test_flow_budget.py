"""Request-body credit without sockets: the connection's at once, the stream's as it is read,
and stream windows growing out of the connection's pool."""

from __future__ import annotations

import pytest

pytest.importorskip("h2")
from duoserve.http2.flow import FlowBudget
from duoserve.http2.limits import H2Limits
from tests.unit.http2.test_connection import REQUEST, exchange, pair


def test_connection_credit_returns_on_receipt_stream_credit_on_reading() -> None:
    server, client = pair(max_concurrent_streams=4, connection_receive_buffer=4 * 65_535)
    for sid in (1, 3):
        client.send_headers(sid, REQUEST)
        for start in range(0, 65_535, 16_384):
            client.send_data(sid, b"x" * min(16_384, 65_535 - start))
    exchange(server, client)
    # Nothing read: both stream windows are closed, the connection's is open again.
    assert client.local_flow_control_window(1) == client.local_flow_control_window(3) == 0
    assert client.outbound_flow_control_window == 4 * 65_535
    server.acknowledge(1, 65_535)
    exchange(server, client)
    assert client.local_flow_control_window(1) == 65_535  # no pool: no growth
    assert client.local_flow_control_window(3) == 0


def test_a_reading_stream_grows_its_window_up_to_the_stream_buffer() -> None:
    server, client = pair(
        max_concurrent_streams=2, stream_receive_buffer=200_000, connection_receive_buffer=10**6
    )
    client.send_headers(1, REQUEST)
    client.send_data(1, b"x" * 10_000)
    exchange(server, client)
    server.acknowledge(1, 10_000)
    exchange(server, client)
    # Grown by the pool; the 10,000 read come back with h2's next batch (half a window).
    assert client.local_flow_control_window(1) == 190_000
    for _ in range(10):
        client.send_data(1, b"x" * 15_000)
    exchange(server, client)
    server.acknowledge(1, 150_000)
    exchange(server, client)
    assert client.local_flow_control_window(1) == 200_000  # grown once, not again


def test_the_pool_is_what_the_bound_leaves_after_every_stream_first_window() -> None:
    limits = H2Limits(
        max_concurrent_streams=3, stream_receive_buffer=100_000, connection_receive_buffer=250_000
    )
    flow = FlowBudget(limits)
    assert flow.pool == 250_000 - 3 * 65_535
    assert flow.growth(1) == 34_465  # up to the stream buffer
    assert flow.growth(1) == 0
    assert flow.growth(3) == 250_000 - 3 * 65_535 - 34_465
    assert flow.growth(5) == 0  # the pool is empty: 5 keeps its first window
    flow.release(1)
    assert flow.growth(5) == 34_465
    flow.give_back(5, 34_465)
    flow.release(3)
    assert flow.pool == 250_000 - 3 * 65_535
    assert FlowBudget(H2Limits(max_concurrent_streams=100)).pool == 8 * 2**20 - 100 * 65_535
