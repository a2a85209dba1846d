"""The thread pool behind the WSGI adapter: bounded threads, calls back into the waiting
task, and cancellation that reaches the thread as ClientDisconnected."""

from __future__ import annotations

import contextvars
import threading
import time

import anyio
import anyio.lowlevel
import pytest

from duoserve.asgi.context import ABANDON_THREADS
from duoserve.errors import ClientDisconnected
from duoserve.wsgi.thread_pool import ThreadPool, call_async, post_last

pytestmark = pytest.mark.anyio

request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="-")


async def test_runs_in_another_thread_and_returns_or_raises() -> None:
    pool = ThreadPool(2, "test")
    assert await pool.run(threading.get_ident) != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        await pool.run(lambda: 1 / 0)


async def test_thread_calls_back_into_the_waiting_task_in_order() -> None:
    pool = ThreadPool(1, "test")
    seen: list[int] = []

    async def record(n: int) -> int:
        seen.append(n)
        await anyio.lowlevel.checkpoint()
        return n * 10

    def work() -> list[int]:
        return [call_async(record, n) for n in range(5)]

    assert await pool.run(work) == [0, 10, 20, 30, 40]
    assert seen == [0, 1, 2, 3, 4]


async def test_errors_of_async_calls_reach_the_thread() -> None:
    pool = ThreadPool(1, "test")

    async def fail() -> None:
        raise KeyError("nope")

    def work() -> str:
        try:
            call_async(fail)
        except KeyError:
            return "caught"
        return "not raised"

    assert await pool.run(work) == "caught"


async def test_a_last_call_does_not_hold_the_thread_and_keeps_its_order() -> None:
    """post_last() returns before the loop has run the call; a call the thread makes after
    it runs after it; its error is raised by run()."""
    pool = ThreadPool(1, "test")
    release = anyio.Event()
    started = anyio.Event()
    seen: list[str] = []
    progress: list[str] = []

    async def slow(name: str) -> None:
        seen.append(name)
        started.set()
        await release.wait()

    async def record(name: str) -> None:
        seen.append(name)

    def work() -> None:
        post_last(slow, "end")
        progress.append("end posted")
        call_async(record, "after")
        progress.append("after done")

    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run, work)
        with anyio.fail_after(5):
            await started.wait()
        await anyio.sleep(0.05)
        assert progress == ["end posted"]  # returned at once; the next call waits its turn
        release.set()
    assert seen == ["end", "after"]
    assert progress == ["end posted", "after done"]

    async def fail() -> None:
        raise ValueError("last")

    def last() -> str:
        post_last(fail)
        return "returned"

    with pytest.raises(ValueError, match="last"):
        await pool.run(last)


async def test_at_most_size_threads_run_at_once() -> None:
    pool = ThreadPool(2, "test")
    lock = threading.Lock()
    running = 0
    peak = 0

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(pool.run, work)
    assert peak == 2


async def test_context_variables_are_copied_into_the_thread() -> None:
    pool = ThreadPool(1, "test")
    request_var.set("abc")
    assert await pool.run(request_var.get) == "abc"


async def test_cancelled_task_waits_for_its_thread_which_sees_a_disconnect() -> None:
    pool = ThreadPool(1, "test")
    outcome: list[str] = []
    in_call = threading.Event()

    async def never() -> None:
        in_call.set()
        await anyio.sleep_forever()

    def work() -> None:
        try:
            call_async(never)
        except ClientDisconnected:
            outcome.append("disconnected in call")
        try:
            call_async(never)
        except ClientDisconnected:
            outcome.append("later call refused")
        time.sleep(0.1)  # the cancelled task still waits for the thread to return
        outcome.append("thread returned")

    with anyio.move_on_after(0.2) as scope:
        await pool.run(work)
    assert scope.cancelled_caught
    assert in_call.is_set()
    assert outcome == ["disconnected in call", "later call refused", "thread returned"]


async def test_abandon_threads_ends_the_wait_for_a_cancelled_thread() -> None:
    """Once the server sets ABANDON_THREADS (its graceful deadline), a cancelled call
    returns without waiting for its thread, which can still not call into the loop."""
    pool = ThreadPool(1, "test")
    release = threading.Event()
    outcome: list[str] = []

    def work() -> None:
        release.wait(5)
        try:
            call_async(anyio.sleep, 0)
        except ClientDisconnected:
            outcome.append("refused")

    abandon = anyio.Event()
    token = ABANDON_THREADS.set(abandon)
    try:
        started = anyio.current_time()
        with anyio.move_on_after(0.1) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_set_later, abandon, 0.2)
                await pool.run(work)
        assert scope.cancelled_caught
        assert anyio.current_time() - started < 1  # not the 5 s the thread could take
    finally:
        ABANDON_THREADS.reset(token)
        release.set()
    await anyio.to_thread.run_sync(lambda: time.sleep(0.1))
    assert outcome == ["refused"]


async def _set_later(event: anyio.Event, seconds: float) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.sleep(seconds)
    event.set()


async def test_a_queued_call_cancelled_before_it_starts_never_runs() -> None:
    pool = ThreadPool(1, "test")
    release, busy = threading.Event(), threading.Event()
    ran: list[str] = []

    def block() -> None:
        busy.set()
        release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run, block)
        # Once the pool's only thread is taken, the next call queues.
        assert await anyio.to_thread.run_sync(busy.wait, 5)
        with anyio.move_on_after(0.05):
            await pool.run(ran.append, "queued")
        release.set()
    assert await pool.run(lambda: "free again") == "free again"
    assert ran == []


async def test_call_async_outside_a_pool_thread_is_an_error() -> None:
    async def nothing() -> None:
        pass

    with pytest.raises(RuntimeError):
        call_async(nothing)


async def test_full_parallelism_survives_threads_idling_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Threads that time out of their idle wait just as work arrives must not upset the
    # pool's count of idle threads (it would stop starting new ones).
    monkeypatch.setattr("duoserve.wsgi.thread_pool.IDLE_SECONDS", 0.002)
    pool = ThreadPool(2, "test")
    for _ in range(40):
        barrier = threading.Barrier(2, timeout=5)  # both calls must run at once
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run, barrier.wait)
            tg.start_soon(pool.run, barrier.wait)
        await anyio.sleep(0.002)
