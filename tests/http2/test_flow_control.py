"""HTTP/2 request-body flow control over a real socket with a raw h2 client: a stream whose app
does not read holds its own window only, never the connection's, and what a connection
buffers stays within --h2-connection-buffer (or 65,535 bytes per allowed stream)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import pytest

pytest.importorskip("h2")
import h2.config
import h2.connection
import h2.events

from tests.conftest import RunningServer, running_server

pytestmark = pytest.mark.anyio


class Gate:
    """Apps on /hold wait for `open` before they read; every app reports what it read."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.read: dict[str, int] = {}  # query string -> body bytes the app has taken

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        name = scope["query_string"].decode()
        self.read[name] = 0
        if scope["path"] == "/part":  # one message, then wait like /hold
            self.read[name] += len((await receive()).get("body", b""))
        if scope["path"] in ("/hold", "/part"):
            await self.open.wait()
        more = True
        while more:
            message = await receive()
            self.read[name] += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % self.read[name]})


class Uploader:
    """A raw h2 client: POSTs whose bodies it sends as far as the server's windows allow."""

    def __init__(self, sock: anyio.abc.SocketStream) -> None:
        self.sock = sock
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.initiate_connection()
        self.left: dict[int, int] = {}  # body bytes still to send
        self.sent: dict[int, int] = {}
        self.widest: dict[int, int] = {}  # the largest send window each stream had
        self.replies: dict[int, bytes] = {}
        self.bodies: dict[int, bytes] = {}

    def post(self, path: str, size: int) -> int:
        sid = self.h2.get_next_available_stream_id()
        head = [(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", path)]
        self.h2.send_headers(sid, [*head, ("content-length", str(size))])
        self.left[sid] = size
        self.sent[sid] = 0
        self.bodies[sid] = b""
        return sid

    def _send_bodies(self) -> None:
        for sid, left in self.left.items():
            stream_window = self.h2.streams[sid].outbound_flow_control_window
            self.widest[sid] = max(self.widest.get(sid, 0), stream_window)
            size = min(left, self.h2.local_flow_control_window(sid))
            while size:
                chunk = min(size, self.h2.max_outbound_frame_size)
                self.h2.send_data(sid, b"u" * chunk, end_stream=chunk == left)
                size -= chunk
                left -= chunk
                self.sent[sid] += chunk
            self.left[sid] = left
        self.left = {sid: left for sid, left in self.left.items() if left}

    async def step(self, timeout: float) -> bool:
        """Send what the windows allow, then read for at most `timeout`: False if nothing came."""
        self._send_bodies()
        if out := self.h2.data_to_send():
            await self.sock.send(out)
        data = b""
        with anyio.move_on_after(timeout):
            data = await self.sock.receive()
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                self.bodies[event.stream_id] += event.data or b""
                size = event.flow_controlled_length or 0
                self.h2.acknowledge_received_data(size, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
                self.replies[event.stream_id] = self.bodies[event.stream_id]
        return bool(data)

    async def until_quiet(self) -> None:
        """Until the server has sent nothing for half a second (its windows are closed)."""
        with anyio.fail_after(10):
            while await self.step(0.5):
                pass

    async def until_replied(self, *sids: int, within: float = 10) -> None:
        with anyio.fail_after(within):
            while not all(sid in self.replies for sid in sids):
                await self.step(0.05)


@contextlib.asynccontextmanager
async def uploader(srv: RunningServer) -> AsyncIterator[Uploader]:
    """An Uploader whose socket is closed however the test ends (a failed assertion must
    not leave it for the garbage collector to report in a later test)."""
    async with await srv.connect() as sock:
        yield Uploader(sock)


async def test_unread_bodies_do_not_stall_a_stream_that_reads() -> None:
    gate = Gate()
    async with (
        running_server(gate.app, h2_stream_buffer=256 * 1024) as srv,
        uploader(srv) as client,
    ):
        held = [client.post(f"/hold?{n}", 300_000) for n in range(6)]
        await client.until_quiet()
        assert all(client.h2.local_flow_control_window(sid) == 0 for sid in held)
        # Six unread bodies hold 6 x 65,535 bytes at most: none of the connection's credit.
        assert all(client.sent[sid] == 65_535 for sid in held)
        reader = client.post("/read?r", 2_000_000)
        await client.until_replied(reader, within=5)
        assert client.replies[reader] == b"2000000"
        assert client.widest[reader] > 65_535  # a stream that reads gets a wider window
        gate.open.set()
        await client.until_replied(*held)
        assert all(client.replies[sid] == b"300000" for sid in held)


async def test_what_a_connection_buffers_stays_within_its_bound() -> None:
    gate = Gate()
    streams, pool = 4, 300_000
    bound = streams * 65_535 + pool
    settings: dict[str, Any] = {
        "h2_max_concurrent_streams": streams,
        "h2_stream_buffer": 256 * 1024,
        "h2_connection_buffer": bound,
    }
    async with running_server(gate.app, **settings) as srv, uploader(srv) as client:
        parts = [client.post(f"/part?{n}", 1_000_000) for n in range(streams)]
        await client.until_quiet()
        buffered = {sid: client.sent[sid] - gate.read[str(n)] for n, sid in enumerate(parts)}
        assert all(size <= 256 * 1024 for size in buffered.values())
        assert sum(buffered.values()) <= bound
        # The whole pool was handed out: every /part app read once, so the windows the
        # client was given (and filled) add up to the bound. (What the apps read is not
        # buffered, so `buffered` alone falls short of it by at least one frame per stream.)
        assert sum(client.sent[sid] for sid in parts) >= bound
        gate.open.set()
        await client.until_replied(*parts)
        assert all(client.replies[sid] == b"1000000" for sid in parts)
