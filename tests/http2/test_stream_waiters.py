"""An HTTP/2 stream with two of the app's tasks waiting on it at once (a response blocked on
the client's window while another task awaits receive()): a window update wakes both, and
one waiter cancelled (here, or in the driver's drain()) leaves the other waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

pytest.importorskip("h2")
from duoserve.core.h2connection import H2Driver
from duoserve.core.h2stream import H2Stream
from duoserve.net.wakeup import running_loop
from tests.conftest import running_server
from tests.http2.h2ws_client import open_client

pytestmark = pytest.mark.anyio


async def send_then_listen(scope: Any, receive: Any, send: Any) -> None:
    """The body is sent by a task of its own; this one then awaits receive() (the
    disconnect), as streaming responses that watch for the client leaving do."""
    if scope["type"] != "http":
        return
    await receive()  # the (empty) request body
    await send({"type": "http.response.start", "status": 200, "headers": []})

    async def body() -> None:
        for _ in range(3):  # more_body: each part waits for the window (the last would not)
            await send({"type": "http.response.body", "body": b"b" * 100_000, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with anyio.create_task_group() as tg:
        tg.start_soon(body)
        await anyio.sleep(0.2)  # the sender waits for the window first
        with anyio.move_on_after(3):
            await receive()  # http.disconnect: not before the response is over
        tg.cancel_scope.cancel()


async def test_a_window_update_wakes_the_sender_while_another_task_waits() -> None:
    async with running_server(send_then_listen, timeout_io=30) as srv:
        sock, client = await open_client(srv.host, srv.port)
        async with sock:
            stream = await client.request(b"GET", b"/")
            await anyio.sleep(0.5)  # the app's second task is waiting too
            received = 0

            def done() -> bool:
                nonlocal received
                received += len(client.take(stream))
                return stream.ended or stream.reset is not None

            with anyio.fail_after(2):  # well before the 3 s of the receive()
                await client.until(done)
            assert received == 300_000 and stream.reset is None


async def one_gives_up(
    wait: Callable[[], Awaitable[None]], release: Callable[[], None]
) -> list[str]:
    """Two tasks wait; one gives up after 50 ms; then `release()`: what ended, in order."""
    ended: list[str] = []

    async def waits() -> None:
        await wait()
        ended.append("released")

    async def gives_up() -> None:
        with anyio.move_on_after(0.05):
            await wait()
        ended.append("cancelled")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waits)
            tg.start_soon(gives_up)
            await anyio.sleep(0.2)
            assert ended == ["cancelled"]  # the other still waits
            release()
    return ended


async def test_a_cancelled_wait_leaves_the_other_waiter_waiting() -> None:
    """Each waiter has a wake-up of its own: on asyncio a cancelled wait cancels its
    future, which, shared, would end the other task's wait with a stray CancelledError."""
    driver = SimpleNamespace(h2=None, ctx=SimpleNamespace(config=None), loop=running_loop())
    port = H2Stream(cast(Any, driver), 1, cast(Any, None))
    assert await one_gives_up(port._wait, port.wake) == ["cancelled", "released"]


async def test_a_cancelled_drain_leaves_the_other_stream_waiting_for_the_writer() -> None:
    """Streams past the high-water mark wait in drain() with a wake-up each, for the same
    reason; the writer's take lets every one still waiting go."""
    driver = object.__new__(H2Driver)  # only the output queue's state, which drain() reads
    driver.loop = running_loop()
    driver._pending, driver._queued, driver._taken, driver.dead = False, 1 << 20, 0, False
    driver._full = []

    def take() -> None:  # what the writer does when it takes the queue
        driver._taken += 1
        driver._let_go()

    assert await one_gives_up(driver.drain, take) == ["cancelled", "released"]
