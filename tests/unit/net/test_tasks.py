"""ConnectionTasks: cancel() reaches the tasks made `within` it but for the spared blocks,
on both backends (asyncio's plain tasks, trio's nested task groups)."""

from __future__ import annotations

import anyio
import pytest

from duoserve.net.tasks import ConnectionTasks

pytestmark = pytest.mark.anyio


async def test_cancel_reaches_inner_tasks_but_not_the_spared() -> None:
    ended: dict[str, str] = {}
    inner_ready = anyio.Event()
    all_ended = anyio.Event()

    def end(name: str, how: str) -> None:
        ended[name] = how
        if len(ended) == 4:
            all_ended.set()

    async def waits(name: str, spared: ConnectionTasks | None = None) -> None:
        try:
            if spared is None:
                await anyio.sleep_forever()
            else:
                with spared.spared():
                    await anyio.sleep(0.2)
            end(name, "finished")
        except anyio.get_cancelled_exc_class():
            end(name, "cancelled")
            raise

    async with anyio.create_task_group() as group:
        outer = ConnectionTasks(group)

        async def connection() -> None:
            async with anyio.create_task_group() as streams:
                inner = ConnectionTasks(streams, outer)
                inner.start(waits, "stream")
                inner.start(waits, "websocket", outer)  # spared as a session is
                inner_ready.set()
                try:
                    with outer.spared():  # as an HTTP/2 connection's reader is
                        await anyio.sleep(0.3)
                    end("reader", "finished")
                finally:
                    with anyio.CancelScope(shield=True):
                        await inner.aclose()

        outer.start(connection)
        outer.start(waits, "plain")
        await inner_ready.wait()
        await anyio.sleep(0.05)  # every task is waiting
        outer.cancel()
        with anyio.CancelScope(shield=True), anyio.fail_after(2):
            await all_ended.wait()
        await outer.aclose()
    assert ended == {
        "plain": "cancelled",
        "stream": "cancelled",
        "websocket": "finished",
        "reader": "finished",
    }
    order = list(ended)  # the stream by cancel(), not by the connection's end
    assert set(order[:2]) == {"plain", "stream"} and order[2:] == ["websocket", "reader"]


async def test_aclose_ends_the_spared_blocks_too() -> None:
    ended: list[str] = []
    done = anyio.Event()

    async def spared(tasks: ConnectionTasks) -> None:
        try:
            with tasks.spared():
                await anyio.sleep_forever()
        finally:
            ended.append("spared")
            done.set()

    async with anyio.create_task_group() as group:
        tasks = ConnectionTasks(group)
        tasks.start(spared, tasks)
        await anyio.sleep(0.05)
        tasks.cancel()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.05)
            assert ended == []
            with anyio.fail_after(2):
                await tasks.aclose()
                await done.wait()
    assert ended == ["spared"]
