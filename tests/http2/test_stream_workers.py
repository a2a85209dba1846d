"""HTTP/2 streams served by a connection's workers: many requests arriving in one read are
served one after another by one worker, and a stream whose app waits never holds up the
streams queued behind it, nor do a crash or a reset."""

from __future__ import annotations

from typing import Any

import anyio
import h2.connection
import h2.events
import pytest

pytest.importorskip("h2")
from tests.conftest import running_server
from tests.http2.rawh2 import REQUEST

pytestmark = pytest.mark.anyio


def _request(path: bytes) -> list[tuple[bytes, bytes]]:
    return [*REQUEST[:3], (b":path", path)]


class WaitingApp:
    """`/slow` waits (up to 5 s) until every `/fast` request of the test is answered;
    `/crash` raises before it responds."""

    def __init__(self, fast: int) -> None:
        self.fast = fast
        self.answered = 0
        self.all_fast = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/crash":
            raise RuntimeError("boom")
        if path == "/slow":
            with anyio.move_on_after(5):
                await self.all_fast.wait()
            body = b"waited" if self.all_fast.is_set() else b"timed out"
        else:
            body = path.encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        if path.startswith("/fast"):
            self.answered += 1
            if self.answered == self.fast:
                self.all_fast.set()


async def _exchange(port: int, paths: list[bytes], host: str) -> dict[int, h2.events.Event]:
    """Send every request in one write; the responses by stream id (status and body)."""
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    sids = []
    for path in paths:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, _request(path), end_stream=True)
        sids.append(sid)
    results: dict[int, Any] = {sid: {"status": None, "body": b"", "reset": None} for sid in sids}
    done: set[int] = set()
    async with await anyio.connect_tcp(host, port) as stream:
        await stream.send(conn.data_to_send())  # the preface and all heads: one read
        with anyio.fail_after(10):
            while len(done) < len(sids):
                data = await stream.receive()
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        results[event.stream_id]["status"] = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        results[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(len(event.data), event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        done.add(event.stream_id)
                    elif isinstance(event, h2.events.StreamReset):
                        results[event.stream_id]["reset"] = event.error_code
                        done.add(event.stream_id)
                await stream.send(conn.data_to_send())
    return results


async def test_a_waiting_stream_does_not_hold_up_the_streams_queued_behind_it() -> None:
    app = WaitingApp(fast=8)
    async with running_server(app, http2="on") as srv:
        paths = [b"/slow", *(b"/fast%d" % i for i in range(8))]
        results = await _exchange(srv.port, paths, srv.host)
    bodies = [r["body"] for r in results.values()]
    assert bodies[0] == b"waited"  # the eight behind it were answered while it waited
    assert bodies[1:] == [b"/fast%d" % i for i in range(8)]
    assert all(r["status"] == b"200" for r in results.values())


async def test_two_waiting_streams_and_a_crash_leave_the_rest_served() -> None:
    app = WaitingApp(fast=6)
    async with running_server(app, http2="on") as srv:
        paths = [b"/slow", b"/fast0", b"/crash", b"/slow", *(b"/fast%d" % i for i in range(1, 6))]
        results = await _exchange(srv.port, paths, srv.host)
        again = await _exchange(srv.port, [b"/fast-again"], srv.host)  # the server goes on
    found = [(r["status"], r["body"]) for r in results.values()]
    assert found[0] == found[3] == (b"200", b"waited")
    assert found[2][0] == b"500"
    assert [body for _, body in found[4:]] == [b"/fast%d" % i for i in range(1, 6)]
    assert [(r["status"], r["body"]) for r in again.values()] == [(b"200", b"/fast-again")]


async def test_many_reads_of_many_streams_on_one_connection() -> None:
    """Batches of 32 heads, one after another: every one answered, in order per batch."""
    app = WaitingApp(fast=10_000)
    async with running_server(app, http2="on") as srv:
        for batch in range(5):
            paths = [b"/fast%d-%d" % (batch, i) for i in range(32)]
            results = await _exchange(srv.port, paths, srv.host)
            assert [r["body"] for r in results.values()] == paths
