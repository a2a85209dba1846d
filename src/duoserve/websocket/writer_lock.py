"""The lock that keeps one WebSocket writer at a time (the app, pongs, pings, close)."""

from __future__ import annotations

from collections import deque
from types import TracebackType

from ..net.wakeup import Wakeup


class WriterLock:
    """A first-come-first-served async lock that costs nothing when free: taken once per
    message sent, where anyio's Lock (even with fast_acquire) looks up the current task
    twice and checks for cancellation. A waiter is handed the lock directly on release;
    one cancelled after being handed it passes it on."""

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[Wakeup] = deque()

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting (then release() it)."""
        if self._locked:
            return False
        self._locked = True
        return True

    def release(self) -> None:
        self._release()

    async def __aenter__(self) -> None:
        if not self._locked:
            self._locked = True
            return
        waiter = Wakeup()
        self._waiters.append(waiter)
        try:
            await waiter.wait()  # woken as the new owner
        except BaseException:
            try:
                self._waiters.remove(waiter)
            except ValueError:  # already handed the lock: pass it on
                self._release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # the lock stays taken, by the woken task
        else:
            self._locked = False
