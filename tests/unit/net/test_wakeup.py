"""Wakeup: set() before or during the wait ends it, twice is harmless, a cancel scope
interrupts the wait, and the loop can be looked up once for many; on both backends."""

from __future__ import annotations

import anyio
import pytest

from duoserve.net.wakeup import Wakeup, running_loop

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("cached", [False, True])
async def test_set_during_the_wait_ends_it(cached: bool) -> None:
    wake = Wakeup(running_loop()) if cached else Wakeup()
    woken: list[bool] = []

    async def waiter() -> None:
        await wake.wait()
        woken.append(True)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)
            assert not woken
            wake.set()
            wake.set()  # harmless
    assert woken == [True]


async def test_set_before_the_wait_returns_at_once() -> None:
    wake = Wakeup()
    wake.set()
    with anyio.fail_after(5):
        await wake.wait()


async def test_a_cancel_scope_interrupts_the_wait_and_a_later_set_is_harmless() -> None:
    wake = Wakeup()
    with anyio.move_on_after(0.01) as scope:
        await wake.wait()
    assert scope.cancelled_caught
    wake.set()


async def test_running_loop_is_none_only_on_trio(anyio_backend: str) -> None:
    assert (running_loop() is None) == (anyio_backend == "trio")
