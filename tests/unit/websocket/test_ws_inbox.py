"""The WebSocket inbox: bounded, in order, waking the waiting side, draining after close."""

from __future__ import annotations

import anyio
import pytest

from duoserve.websocket.inbox import Inbox

pytestmark = pytest.mark.anyio


def message(n: int) -> dict[str, object]:
    return {"type": "websocket.receive", "bytes": bytes([n])}


async def test_full_inbox_refuses_then_put_waits_for_room() -> None:
    inbox = Inbox(2)
    assert inbox.put_nowait(message(0)) and inbox.put_nowait(message(1))
    assert not inbox.put_nowait(message(2))
    put_done = anyio.Event()

    async def putter() -> None:
        await inbox.put(message(2))
        put_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(putter)
        await anyio.wait_all_tasks_blocked()
        assert not put_done.is_set()  # no room: the reader waits
        assert await inbox.get() == message(0)
        with anyio.fail_after(1):
            await put_done.wait()
    assert [await inbox.get(), await inbox.get()] == [message(1), message(2)]


async def test_get_waits_for_a_message() -> None:
    inbox = Inbox(1)
    got: list[object] = []

    async def getter() -> None:
        got.append(await inbox.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        assert inbox.put_nowait(message(7))
    assert got == [message(7)]


async def test_close_drains_queued_messages_then_ends_and_wakes_waiters() -> None:
    inbox = Inbox(1)
    assert inbox.put_nowait(message(1))
    outcome: list[str] = []

    async def blocked_putter() -> None:
        try:
            await inbox.put(message(2))
        except anyio.ClosedResourceError:
            outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked_putter)
        await anyio.wait_all_tasks_blocked()
        inbox.close()
    assert outcome == ["closed"]
    assert await inbox.get() == message(1)
    with pytest.raises(anyio.EndOfStream):
        await inbox.get()
    with pytest.raises(anyio.ClosedResourceError):
        inbox.put_nowait(message(3))


async def test_close_wakes_a_waiting_getter() -> None:
    inbox = Inbox(4)
    outcome: list[str] = []

    async def getter() -> None:
        try:
            await inbox.get()
        except anyio.EndOfStream:
            outcome.append("end")

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        inbox.close()
    assert outcome == ["end"]
