"""The WebSocket writer lock: one holder at a time, first come first served, and a waiter
cancelled after being handed the lock passes it on."""

from __future__ import annotations

import anyio
import pytest

from duoserve.websocket.writer_lock import WriterLock

pytestmark = pytest.mark.anyio


async def test_one_holder_at_a_time_in_arrival_order() -> None:
    lock = WriterLock()
    order: list[int] = []
    inside = 0
    peak = 0

    async def writer(n: int) -> None:
        nonlocal inside, peak
        async with lock:
            inside += 1
            peak = max(peak, inside)
            order.append(n)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(writer, n)
            await anyio.sleep(0.01)  # arrive in order
    assert peak == 1
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("handed_first", [False, True])
async def test_a_cancelled_waiter_never_keeps_the_lock(handed_first: bool) -> None:
    """Cancelled while queued, or just after the holder handed it the lock: either way
    the next waiter gets the lock. (The hand-over race is asyncio's: there the release
    runs before the cancelled waiter does. On trio a cancelled wait ends at once, so both
    cases cancel a queued waiter.)"""
    lock = WriterLock()
    got: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with lock:
            await release.wait()

    async def waiter(name: str, scope_box: list[anyio.CancelScope]) -> None:
        with anyio.CancelScope() as scope:
            scope_box.append(scope)
            async with lock:
                got.append(name)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            await anyio.sleep(0.01)
            first: list[anyio.CancelScope] = []
            tg.start_soon(waiter, "first", first)
            await anyio.sleep(0.01)
            tg.start_soon(waiter, "second", [])
            await anyio.sleep(0.01)
            if handed_first:
                release.set()  # the lock goes to "first" ...
                first[0].cancel()  # ... which is cancelled before it runs
            else:
                first[0].cancel()
                await anyio.sleep(0.01)
                release.set()
    assert got == ["second"]  # the group ended: "second" got the lock
    async with lock:  # and it is free again
        pass
