"""The bounded queue of received messages between a WebSocket's reader and its app."""

from __future__ import annotations

from collections import deque

import anyio

from ..net.wakeup import Wakeup
from ..types import Message


class Inbox:
    """At most `size` messages wait for the app; while it is full the reader waits, and so
    stops reading the socket (the back-pressure). One reader puts, one app task gets. A
    message already queued is taken without a trip through the event loop, and a Wakeup
    is made only when one side must wait."""

    __slots__ = ("_closed", "_items", "_readable", "_size", "_writable")

    def __init__(self, size: int) -> None:
        self._items: deque[Message] = deque()
        self._size = max(1, size)
        self._closed = False
        self._readable: Wakeup | None = None  # the app waits for a message
        self._writable: Wakeup | None = None  # the reader waits for room

    @property
    def closed(self) -> bool:
        return self._closed

    def put_nowait(self, message: Message) -> bool:
        """Queue a message; False when the inbox is full. ClosedResourceError once closed."""
        if self._closed:
            raise anyio.ClosedResourceError
        if len(self._items) >= self._size:
            return False
        self._items.append(message)
        if self._readable is not None:
            self._readable.set()
            self._readable = None
        return True

    async def put(self, message: Message) -> None:
        while not self.put_nowait(message):
            self._writable = writable = Wakeup()
            await writable.wait()

    async def get(self) -> Message:
        """The next message; EndOfStream once the inbox is closed and empty."""
        while not self._items:
            if self._closed:
                raise anyio.EndOfStream
            self._readable = readable = Wakeup()
            await readable.wait()
        message = self._items.popleft()
        if self._writable is not None:
            self._writable.set()
            self._writable = None
        return message

    def close(self) -> None:
        """No more messages: the app gets what is queued, then EndOfStream."""
        self._closed = True
        for event in (self._readable, self._writable):
            if event is not None:
                event.set()
        self._readable = self._writable = None
