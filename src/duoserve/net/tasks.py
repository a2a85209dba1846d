"""The connection tasks: plain asyncio tasks in a set on asyncio, a task group's on trio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import anyio
import anyio.abc


class ConnectionTasks:
    """Where connection tasks run. On asyncio, plain tasks tracked in a set: an anyio task
    group child also carries a cancel scope, a finished-event and a handle (about 1.5 KiB
    per idle connection, and work at every accept). On trio, the given task group. Either
    way `aclose()` cancels every task still running and waits for them to end; `cancel()`
    cancels all but those inside `spared()` (WebSockets closing with their handshake).

    The tasks of one connection (an HTTP/2 connection's streams) are made `within` the
    server's: its `cancel()` reaches them too, but for those inside its `spared()`. On trio
    that is the nesting of the task groups; on asyncio the inner one is listed here."""

    __slots__ = ("_group", "_inner", "_outer", "_spared", "_tasks")

    def __init__(self, group: anyio.abc.TaskGroup, within: ConnectionTasks | None = None) -> None:
        self._group = group
        self._tasks: set[asyncio.Task[None]] | None
        self._spared: dict[anyio.CancelScope, asyncio.Task[Any] | None] = {}
        self._inner: set[ConnectionTasks] = set()
        self._outer: ConnectionTasks | None = None
        try:
            asyncio.get_running_loop()
            self._tasks = set()
        except RuntimeError:  # trio
            self._tasks = None
        if within is not None and self._tasks is not None:
            self._outer = within
            within._inner.add(self)

    def start(self, func: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        tasks = self._tasks
        if tasks is None:
            self._group.start_soon(func, *args)
            return
        task = asyncio.get_running_loop().create_task(func(*args))
        tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; log what a task group would have raised (an error that
        escaped a connection task)."""
        assert self._tasks is not None
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logging.getLogger("duoserve.error").error(
                "unexpected error in a connection task", exc_info=exc
            )

    @contextlib.contextmanager
    def spared(self) -> Iterator[anyio.CancelScope]:
        """Run a block of the current task beyond `cancel()`: shielded from the group's
        cancel scope, and on asyncio also left out of the tasks cancelled (a task.cancel()
        goes through shields). `aclose()` still ends it, as does cancelling the scope
        yielded."""
        scope = anyio.CancelScope(shield=True)
        self._spared[scope] = asyncio.current_task() if self._tasks is not None else None
        try:
            with scope:
                yield scope
        finally:
            del self._spared[scope]

    def cancel(self) -> None:
        """Cancel every task, those made `within` this one's included, except the blocks
        running in `spared()`. On trio that is the group's cancel scope, which the caller
        (inside the group) must await shielded."""
        if self._tasks is None:
            self._group.cancel_scope.cancel()
            return
        self._cancel_all(set(self._spared.values()))

    def _cancel_all(self, spared: set[asyncio.Task[Any] | None]) -> None:
        assert self._tasks is not None
        for task in self._tasks:
            if task not in spared:
                task.cancel()
        for inner in self._inner:
            inner._cancel_all(spared.union(inner._spared.values()))

    async def aclose(self) -> None:
        """Cancel the tasks still running and wait for the plain tasks to end (the group's
        own children are awaited by the group). Call it shielded, with a deadline."""
        if self._outer is not None:
            self._outer._inner.discard(self)
        for scope in list(self._spared):
            scope.cancel()
        self._group.cancel_scope.cancel()
        tasks = self._tasks
        if tasks:
            for task in tasks:
                task.cancel()
            await asyncio.wait(set(tasks))
