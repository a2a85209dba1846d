"""SETTINGS_ENABLE_CONNECT_PROTOCOL and :protocol (RFC 8441 §3-4) in H2ServerConnection,
without sockets: an h2 client on the other side."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

pytest.importorskip("h2")
import h2.config
import h2.connection
import h2.events
import h2.settings

from duoserve.http2.connection import H2ServerConnection
from duoserve.http2.events import ErrorCode, RequestHead
from duoserve.http2.limits import H2Limits
from tests.unit.http2.test_connection import exchange

CONNECT = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat"),
    (b":authority", b"example.com"),
    (b"sec-websocket-version", b"13"),
]


def pair(websocket: bool) -> tuple[H2ServerConnection, h2.connection.H2Connection]:
    server = H2ServerConnection(H2Limits(websocket=websocket), now=0.0)
    server.initiate()
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    client = h2.connection.H2Connection(config)
    client.initiate_connection()
    exchange(server, client)
    return server, client


@pytest.mark.parametrize("websocket", [True, False])
def test_the_setting_follows_websocket_support(websocket: bool) -> None:
    _, client = pair(websocket)
    assert client.remote_settings.enable_connect_protocol == int(websocket)


def test_an_extended_connect_is_a_request_head_with_its_protocol() -> None:
    server, client = pair(True)
    client.send_headers(1, CONNECT)
    (event,) = exchange(server, client)
    assert event == RequestHead(
        1,
        b"CONNECT",
        b"https",
        b"example.com",
        b"/chat",
        [(b"sec-websocket-version", b"13")],
        end_stream=False,
        protocol=b"websocket",
        view=ANY,
    )
    assert server.busy == 1


def test_protocol_without_the_setting_is_a_stream_protocol_error() -> None:
    server, client = pair(False)
    client.send_headers(1, CONNECT)
    assert server.receive_data(client.data_to_send(), now=0.0) == []
    assert server.busy == 0  # no cycle holds its slot
    resets = [
        (e.stream_id, e.error_code)
        for e in client.receive_data(server.data_to_send())
        if isinstance(e, h2.events.StreamReset)
    ]
    assert resets == [(1, ErrorCode.PROTOCOL_ERROR)]
    client.send_headers(3, [(b":method", b"GET"), *CONNECT[2:]], end_stream=True)
    events = exchange(server, client)
    assert [type(e) for e in events] == [RequestHead]  # a stream error: the connection goes on
