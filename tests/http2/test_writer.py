"""The HTTP/2 writer over a real socket: many large responses interleaved on one connection
arrive byte for byte, to a fast client (the socket takes part of each write) and to one
that reads slowly (the transport buffers, and streams wait for the writer)."""

from __future__ import annotations

import random
import socket
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

pytest.importorskip("h2")
import h2.config
import h2.connection
import h2.events
import h2.settings

from tests.conftest import running_server

pytestmark = pytest.mark.anyio
SIZE = 1024 * 1024


def body(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


async def pattern(scope: Any, receive: Any, send: Any) -> None:
    """SIZE bytes no other stream sends, in parts of uneven sizes."""
    if scope["type"] != "http":
        return
    data = body(int(scope["query_string"]))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    view, start = memoryview(data), 0
    for size in [1, 16_383, 16_385, 100_000, 65_536] * 100:
        part = bytes(view[start : start + size])
        start += len(part)
        await send({"type": "http.response.body", "body": part, "more_body": start < SIZE})
        if start >= SIZE:
            return
    raise AssertionError("the sizes do not cover the body")


async def test_interleaved_large_responses_arrive_intact() -> None:
    async with running_server(pattern) as srv:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as client:
            got: dict[int, bytes] = {}

            async def fetch(seed: int) -> None:
                got[seed] = (await client.get(f"{srv.url}/?{seed}")).content

            async with anyio.create_task_group() as tg:
                for seed in range(24):
                    tg.start_soon(fetch, seed)
    assert {seed: len(data) for seed, data in got.items()} == {seed: SIZE for seed in range(24)}
    assert all(got[seed] == body(seed) for seed in got)


async def test_a_slow_reader_gets_every_stream_intact() -> None:
    async with running_server(pattern, timeout_io=20) as srv:
        stream = await srv.connect()
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**30})
        conn.increment_flow_control_window(2**30)
        seeds: dict[int, int] = {}
        for seed in range(100, 108):
            sid = conn.get_next_available_stream_id()
            head = [(":method", "GET"), (":scheme", "http"), (":authority", "x")]
            conn.send_headers(sid, [*head, (":path", f"/?{seed}")], end_stream=True)
            seeds[sid] = seed
        got = {sid: bytearray() for sid in seeds}
        ended: set[int] = set()
        with anyio.fail_after(30):
            while len(ended) < len(seeds):
                if out := conn.data_to_send():
                    await stream.send(out)
                data = await stream.receive(8192)
                await anyio.sleep(0.0005)  # a slow reader: the server's buffers fill
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived) and event.stream_id:
                        got[event.stream_id] += event.data or b""
                    elif isinstance(event, h2.events.StreamEnded) and event.stream_id:
                        ended.add(event.stream_id)
        await stream.aclose()
    assert all(bytes(got[sid]) == body(seed) for sid, seed in seeds.items())
