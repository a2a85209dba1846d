"""A one-shot wake-up for one waiting task, made only when a task must wait."""

from __future__ import annotations

import asyncio

import anyio


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, None on trio: for a caller that makes many Wakeups, to
    look it up once (on Python 3.11 each lookup is a getpid() system call)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Wakeup:
    """On asyncio a bare future: anyio's Event costs a backend lookup to make and a
    cancellation checkpoint per wait, on paths that wait once per message. On trio,
    anyio's Event. Cancel scopes interrupt `wait()` like any other await; `set()` from the
    event loop's thread only, and setting twice is harmless.

    One waiter only: on asyncio a cancelled wait cancels the future, which would end every
    other task's wait too. `loop`: the running loop, from running_loop(), or looked up."""

    __slots__ = ("_event", "_future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._event: anyio.Event | None = None
        if loop is None:  # running_loop() inline: the WebSocket and WSGI paths come here
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # trio
                self._future: asyncio.Future[None] | None = None
                self._event = anyio.Event()
                return
        self._future = loop.create_future()

    async def wait(self) -> None:
        if self._future is not None:
            await self._future
        else:
            assert self._event is not None
            await self._event.wait()

    def set(self) -> None:
        future = self._future
        if future is not None:
            if not future.done():
                future.set_result(None)
        else:
            assert self._event is not None
            self._event.set()
