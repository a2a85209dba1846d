"""The bounded pool of WSGI threads, their calls into the event loop run by the waiting task.

Blocking calls in a bounded pool of threads, which call back into the event loop through
the very task that waits for them.

A WSGI request crosses between its app thread and the event loop for every body read and
write. anyio's to_thread/from_thread make each crossing start a task on the loop and arm a
cancel scope; here the task that awaits `run()` serves the thread's calls itself, so a
crossing is one wake-up each way. The calls then run inside the request's task: its cancel
scopes and timeouts apply to them, and when that task is cancelled the thread's pending and
later calls raise ClientDisconnected while the task waits for the thread to return (a
thread cannot be stopped from outside) — unless the server has set ABANDON_THREADS (its
graceful deadline): then the task stops waiting and the daemon thread is left to end
on its own, so the process can exit without it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

from ..asgi.context import ABANDON_THREADS
from ..errors import ClientDisconnected
from ..net.wakeup import Wakeup

T = TypeVar("T")

# A thread with no work for this long exits (the pool starts another when needed).
IDLE_SECONDS = 10.0

_local = threading.local()  # .job: the _Job the current pool thread runs


class _Job(Generic[T]):
    """One blocking call: its result, and the calls into the loop it has pending (at most
    one whose reply the thread awaits; before it, a last call nobody awaits)."""

    __slots__ = (
        "args",
        "calls",
        "cancelled",
        "context",
        "done",
        "error",
        "func",
        "lost",
        "reply",
        "reply_ready",
        "result",
        "started",
        "waiter",
        "wake",
    )

    def __init__(
        self,
        func: Callable[..., T],
        args: tuple[Any, ...],
        wake: Callable[[Callable[[], None]], object],
    ) -> None:
        self.func = func
        self.args = args
        self.context = contextvars.copy_context()
        self.wake = wake  # runs a callback on the event loop thread, from any thread
        self.waiter: Wakeup | None = None
        self.started = False
        self.done = False
        self.cancelled = False  # the waiting task was cancelled: calls into the loop fail
        self.result: T | None = None
        self.error: BaseException | None = None
        # (func, args, whether the thread collects the reply), served in order by the loop.
        self.calls: deque[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], bool]] = deque()
        self.lost: BaseException | None = None  # the error of a call nobody collects
        self.reply: tuple[Any, BaseException | None] = (None, None)
        self.reply_ready = threading.Lock()
        self.reply_ready.acquire()  # released by the loop once per answered call

    def notify(self) -> None:
        """On the event loop thread: the thread finished or has a call pending."""
        waiter = self.waiter
        if waiter is None:
            return
        self.waiter = None
        waiter.set()

    def answer(self, value: Any, error: BaseException | None) -> None:
        self.reply = (value, error)
        self.reply_ready.release()


class ThreadPool:
    """At most `size` threads; calls beyond wait in order for a free one."""

    def __init__(self, size: int, name: str) -> None:
        self._size = max(1, size)
        self._name = name
        self._jobs: deque[_Job[Any]] = deque()  # waiting for a thread to be free
        self._lock = threading.Lock()  # guards the pool's state below and job.started
        self._threads = 0
        self._idle: list[_Worker] = []  # threads waiting for work, the last idle first

    def stats(self) -> tuple[int, int]:
        """(threads running a job, jobs waiting for a thread) now, for the metrics."""
        return self._threads - len(self._idle), len(self._jobs)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """func(*args) in a pool thread; meanwhile serve its call_async() calls."""
        wake: Callable[[Callable[[], None]], object]
        try:
            wake = asyncio.get_running_loop().call_soon_threadsafe
        except RuntimeError:  # trio
            import trio

            wake = trio.lowlevel.current_trio_token().run_sync_soon
        job: _Job[T] = _Job(func, args, wake)
        self._submit(job)
        try:
            while True:
                await self._next(job)
                if job.calls:
                    await self._serve_call(job)
                elif job.done:
                    break
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._cancel(job)
            raise
        error = job.error or job.lost
        if error is not None:
            job.error = job.lost = None
            try:
                raise error
            finally:
                error = None  # no reference cycle through the traceback
        return job.result  # type: ignore[return-value]

    @staticmethod
    async def _next(job: _Job[Any]) -> None:
        """Wait until the thread has a call pending or is done (spurious wake-ups are fine:
        the caller looks again)."""
        if job.calls or job.done:
            return
        waiter = job.waiter = Wakeup()
        await waiter.wait()

    @staticmethod
    async def _serve_call(job: _Job[Any]) -> None:
        func, args, collected = job.calls.popleft()
        try:
            value = await func(*args)
        except anyio.get_cancelled_exc_class():
            if collected:
                job.answer(None, ClientDisconnected("the server closed the connection"))
            raise
        except BaseException as exc:  # the thread re-raises it
            if collected:
                job.answer(None, exc)
            elif job.lost is None:
                job.lost = exc
        else:
            if collected:
                job.answer(value, None)

    async def _cancel(self, job: _Job[Any]) -> None:
        """The waiting task is cancelled: refuse the thread's calls and wait for it to end,
        unless it never started or ABANDON_THREADS is (or becomes) set."""
        with self._lock:
            job.cancelled = True
            if not job.started:
                self._jobs.remove(job)
                return
        abandon = ABANDON_THREADS.get()
        if abandon is None:
            await self._refuse_until_done(job)
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_when_set, abandon, tg.cancel_scope)
            await self._refuse_until_done(job)
            tg.cancel_scope.cancel()
        # Abandoned: answer what the thread asked meanwhile; later calls raise at once.
        while job.calls:
            if job.calls.popleft()[2]:
                job.answer(None, ClientDisconnected("the server closed the connection"))

    async def _refuse_until_done(self, job: _Job[Any]) -> None:
        while not job.done:
            while job.calls:
                if job.calls.popleft()[2]:
                    job.answer(None, ClientDisconnected("the server closed the connection"))
            await self._next(job)

    def _submit(self, job: _Job[Any]) -> None:
        """Hand the job to an idle thread (its own lock is released: no Condition, whose
        wait allocates a lock and runs Python code at every hand-over), or to a new thread,
        or queue it until a thread is free."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                job.started = True
                worker.job = job
                worker.ready.release()
                return
            if self._threads >= self._size:
                self._jobs.append(job)
                return
            self._threads += 1
            job.started = True
            name = f"{self._name}-{self._threads}"
        try:
            threading.Thread(target=self._work, args=(job,), name=name, daemon=True).start()
        except BaseException:  # no thread could be started: the caller sees the error
            with self._lock:
                self._threads -= 1
            raise

    def _work(self, job: _Job[Any] | None) -> None:
        worker = _Worker()
        lock = self._lock
        while job is not None:
            _run_job(job)
            with lock:
                if self._jobs:
                    job = self._jobs.popleft()
                    job.started = True
                    continue
                self._idle.append(worker)
            job = None  # drop the reference while idle
            if not worker.ready.acquire(timeout=IDLE_SECONDS):
                with lock:
                    if worker in self._idle:  # idle too long: this thread ends
                        self._idle.remove(worker)
                        self._threads -= 1
                        return
                # Handed a job just as the wait timed out: take the hand-over.
                worker.ready.acquire()
            job, worker.job = worker.job, None


class _Worker:
    """An idle pool thread: it waits on `ready`, which the submitter releases once it
    has put a job in `job`."""

    __slots__ = ("job", "ready")

    def __init__(self) -> None:
        self.job: _Job[Any] | None = None
        self.ready = threading.Lock()
        self.ready.acquire()


def _run_job(job: _Job[Any]) -> None:
    _local.job = job
    try:
        job.result = job.context.run(job.func, *job.args)
    except BaseException as exc:
        job.error = exc
    finally:
        _local.job = None
        job.done = True
        with contextlib.suppress(RuntimeError):  # an abandoned job outliving its loop
            job.wake(job.notify)


async def _cancel_when_set(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def call_async(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    """From a pool thread: await func(*args) in the task waiting for this thread, and return
    its result (or raise its exception). ClientDisconnected once that task is cancelled."""
    job = _current_job("call_async")
    job.calls.append((func, args, True))
    job.wake(job.notify)
    job.reply_ready.acquire()
    value, error = job.reply
    job.reply = (None, None)
    if error is not None:
        try:
            raise error
        finally:
            error = None
    return value  # type: ignore[no-any-return]


def post_last(func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """From a pool thread, for its last call into the loop (the end of a response): queue
    func(*args) and return without waiting for it, so the thread goes on (to the app's
    close()) while the loop runs it. Calls made after it run after it. Its error, if any,
    is raised by run() once the thread returns."""
    job = _current_job("post_last")
    job.calls.append((func, args, False))
    job.wake(job.notify)


def _current_job(caller: str) -> _Job[Any]:
    job: _Job[Any] | None = getattr(_local, "job", None)
    if job is None:
        raise RuntimeError(f"{caller}() must be called from a ThreadPool thread")
    if job.cancelled:
        raise ClientDisconnected("the server closed the connection")
    return job
