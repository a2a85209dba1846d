"""The lean stream on asyncio/uvloop: an anyio SocketStream that is its transport's Protocol."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, cast

import anyio
import anyio.abc
from anyio.lowlevel import checkpoint

from ..http1.events import Signal
from .head_wait import Cancellable, HeadParser, HeadWait, IdleWait

# Reading pauses once this much received data waits unread (bounded input per connection).
READ_HIGH_WATER = 64 * 1024
# asyncio asks us to pause writing above this many buffered bytes, resumes below a quarter.
WRITE_HIGH_WATER = 64 * 1024
# Calls that completed without waiting, in a row, before one yields to the event loop: a
# client that keeps the buffers full cannot starve other connections or dodge cancellation.
_YIELD_EVERY = 32
_IOV_MAX = 1024  # buffers per writev on Linux, macOS and the BSDs (more: EINVAL, then joined)
_writev = getattr(os, "writev", None)  # not on Windows: buffers are joined there


class LeanStream(anyio.abc.SocketStream, asyncio.Protocol, HeadWait):
    """An anyio SocketStream that is also the asyncio Protocol of its transport.

    Unlike anyio's asyncio stream it does not yield on every call: receive() returns
    buffered bytes at once and send() waits only while the transport's write buffer is
    above its high-water mark. Waits are plain futures, so anyio cancel scopes (timeouts,
    shutdown) interrupt them like any other await."""

    __slots__ = (
        "_abort_handle",
        "_buffered",
        "_chunks",
        "_close_timeout",
        "_closed",
        "_data_hook",
        "_drain_waiter",
        "_eof",
        "_error",
        "_head_parser",
        "_head_seconds",
        "_idle",
        "_idle_deadline",
        "_idle_timer",
        "_input_ended",
        "_loop",
        "_lost",
        "_read_waiter",
        "_reading_paused",
        "_registered",
        "_sock",
        "_timer_at",
        "_transport",
        "_unwritable",
        "_unyielded",
        "_writing_paused",
    )

    def __init__(self, sock: socket.socket, close_timeout: float) -> None:
        self._sock = sock
        self._close_timeout = close_timeout
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._chunks: list[bytes] = []  # a list: an empty deque costs 760 bytes per connection
        self._buffered = 0
        self._reading_paused = False
        self._writing_paused = False
        self._eof = False
        self._lost = False
        self._closed = False
        self._unwritable = True  # until the transport is made; again once closed or lost
        self._error: BaseException | None = None
        self._read_waiter: asyncio.Future[Any] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        self._unyielded = 0
        self._idle = IdleWait(self)
        self._idle_deadline: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf  # when _idle_timer fires
        self._input_ended = False  # _eof or _lost or _closed: no more bytes will arrive
        self._head_parser: HeadParser | None = None  # set while next_head() waits
        self._data_hook: Callable[[bytes], None] | None = None  # see set_data_hook()
        self._head_seconds = 0.0
        self._registered: set[Cancellable] | None = None  # where _idle sits (see _IdleWait)

    # -- asyncio.Protocol (called by the event loop) ----------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the Transport methods without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._unwritable = False
        self._transport.set_write_buffer_limits(WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        parser = self._head_parser
        if parser is not None and self._parse_head(parser, data):
            return
        hook = self._data_hook
        if hook is not None:
            hook(data)
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered >= READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._input_ended = True
        hook = self._data_hook
        if hook is not None:
            hook(b"")
            return True
        parser = self._head_parser
        if parser is None or not self._parse_head(parser, b""):
            self._wake_reader()
        return True  # keep our side open: the response may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        eof = self._eof
        self._lost = True
        self._unwritable = True
        self._input_ended = True
        self._error = exc
        hook = self._data_hook
        if hook is not None and not eof:
            hook(b"")
        self._end_head_wait(Signal.CLOSED)
        self._forget()
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer()

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- anyio.abc.ByteStream ---------------------------------------------------------------
    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        if self._chunks:
            await self._maybe_yield()
        else:
            while not self._chunks:
                if self._closed:
                    raise anyio.ClosedResourceError
                if self._eof or self._lost:
                    if self._error is not None:
                        raise anyio.BrokenResourceError from self._error
                    raise anyio.EndOfStream
                if self._read_waiter is not None and self._read_waiter.done():
                    self._take_head_waiter()  # a head wait its task gave up (cancelled)
                if self._read_waiter is not None:
                    raise anyio.BusyResourceError("reading from")
                self._read_waiter = waiter = self._loop.create_future()
                try:
                    await waiter
                finally:
                    self._read_waiter = None
            self._unyielded = 0
        return self._take(max_bytes)

    def set_data_hook(self, hook: Callable[[bytes], None] | None) -> None:
        """While a hook is set, each read goes to it as it arrives, in the event loop's
        callback, instead of into the buffer (a WebSocket parses frames there, and its
        reader task wakes only when there is work a callback cannot do); b"" is the end
        of the input. What is buffered already goes to the hook first. The hook may unset
        itself; whatever arrives after that is buffered, with the usual bound."""
        self._data_hook = hook
        if hook is None:
            return
        chunks = self._chunks
        while chunks and self._data_hook is hook:
            data = chunks.pop(0)
            self._buffered -= len(data)
            hook(data)
        if self._reading_paused and self._buffered < READ_HIGH_WATER // 2:
            self._resume_reading()
        if self._data_hook is hook and not chunks and (self._eof or self._lost):
            hook(b"")

    def _resume_reading(self) -> None:
        """Read again: the unread input is back under its bound."""
        self._reading_paused = False
        if not self._lost and self._transport is not None:
            self._transport.resume_reading()

    def _take(self, max_bytes: int) -> bytes:
        """Up to max_bytes of what is buffered (there is something)."""
        chunks = self._chunks
        data = chunks.pop(0)
        if len(data) > max_bytes:
            chunks.insert(0, data[max_bytes:])
            data = data[:max_bytes]
        elif chunks and len(data) < max_bytes:
            parts = [data]
            room = max_bytes - len(data)
            while chunks and room > 0:
                part = chunks.pop(0)
                if len(part) > room:
                    chunks.insert(0, part[room:])
                    part = part[:room]
                parts.append(part)
                room -= len(part)
            data = b"".join(parts)
        self._buffered -= len(data)
        if self._reading_paused and self._buffered < READ_HIGH_WATER // 2:
            self._resume_reading()
        return data

    async def send(self, item: bytes) -> None:
        if self.push(item):
            await self.drain(math.inf)

    async def send_within(self, data: bytes, seconds: float) -> None:
        """send(), raising TimeoutError when the client does not take the bytes within
        `seconds`; the timeout scope is only set up when it must wait."""
        if self.push(data):
            await self.drain(seconds)

    def push(self, data: bytes) -> bool:
        """Hand bytes to the transport (Writes.push): True when drain() must be awaited,
        because the client is slow to take them or it is time to yield."""
        if self._unwritable:
            if self._closed:
                raise anyio.ClosedResourceError
            raise anyio.BrokenResourceError from self._error
        self._transport.write(data)  # type: ignore[union-attr]  # made: not _unwritable
        if self._writing_paused:
            return True
        self._unyielded += 1
        return self._unyielded >= _YIELD_EVERY

    def push_parts(self, parts: Sequence[bytes | memoryview]) -> bool:
        """push() of several buffers in order, with one writev and no copy while the
        transport has nothing buffered (Python 3.11's writelines would join them); what
        the socket does not take now goes to the transport, joined."""
        if self._unwritable:
            return self.push(b"")  # raises
        transport = self._transport
        rest = parts
        if _writev is not None and not transport.get_write_buffer_size():  # type: ignore[union-attr]
            try:
                sent = _writev(self._sock.fileno(), parts[:_IOV_MAX])
            except OSError:  # would block, or failed: the transport's write says which
                sent = 0
            rest = _after(parts, sent)
        if rest:
            return self.push(cast(bytes, rest[0]) if len(rest) == 1 else b"".join(rest))
        self._unyielded += 1
        return self._unyielded >= _YIELD_EVERY

    async def drain(self, seconds: float) -> None:
        """After push() said so: wait until the client has taken the bytes (TimeoutError
        past `seconds`), or yield once to the event loop."""
        if self._writing_paused:
            with anyio.fail_after(seconds):
                await self._drain()
        else:
            self._unyielded = 0
            await checkpoint()

    async def _drain(self) -> None:
        while self._writing_paused:
            if self._lost:
                raise anyio.BrokenResourceError from self._error
            if self._closed:
                raise anyio.ClosedResourceError
            if self._drain_waiter is not None:
                raise anyio.BusyResourceError("writing to")
            self._drain_waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._drain_waiter = None
        self._unyielded = 0
        if self._lost:
            raise anyio.BrokenResourceError from self._error

    async def send_eof(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            with contextlib.suppress(OSError):
                transport.write_eof()

    async def aclose(self) -> None:
        """Close after the buffered response bytes are sent; a client that does not read
        them within `close_timeout` is cut off."""
        if not self._closed:
            self._close()
            await checkpoint()

    def _close(self) -> None:
        self._closed = True
        self._unwritable = True
        self._input_ended = True
        self._end_head_wait(Signal.CLOSED)
        self._forget()
        transport = self._transport
        if transport is not None and not self._lost:
            if transport.get_write_buffer_size():
                self._abort_handle = self._loop.call_later(self._close_timeout, transport.abort)
            transport.close()
        self._wake_reader()
        self._wake_writer()

    async def _maybe_yield(self) -> None:
        self._unyielded += 1
        if self._unyielded >= _YIELD_EVERY:
            self._unyielded = 0
            await checkpoint()


def _after(parts: Sequence[bytes | memoryview], count: int) -> Sequence[bytes | memoryview]:
    """What is left of `parts` once their first `count` bytes are written."""
    if count == sum(map(len, parts)):  # all of them, as a rule: no walk
        return ()
    for index, part in enumerate(parts):
        size = len(part)
        if count < size:
            rest = list(parts[index:])
            if count:
                rest[0] = memoryview(part)[count:]
            return rest
        count -= size
    return ()
