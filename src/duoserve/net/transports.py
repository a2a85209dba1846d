"""ByteStreams beneath the connection core: a lean stream over an asyncio Protocol on
asyncio/uvloop, anyio's own socket streams on trio. The one backend-aware module."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Callable
from typing import Any, Protocol, cast

import anyio
import anyio.abc
from anyio.lowlevel import checkpoint

from ..errors import ProtocolError
from ..http1.events import Signal

# Reading pauses once this much received data waits unread (bounded input per connection).
READ_HIGH_WATER = 64 * 1024
# asyncio asks us to pause writing above this many buffered bytes, resumes below a quarter.
WRITE_HIGH_WATER = 64 * 1024
# Calls that completed without waiting, in a row, before one yields to the event loop: a
# client that keeps the buffers full cannot starve other connections or dodge cancellation.
_YIELD_EVERY = 32
_NEED_DATA = Signal.NEED_DATA


class Cancellable(Protocol):
    """A wait that shutdown can end early (anyio cancel scopes, lean idle waits)."""

    def cancel(self) -> None: ...


class HeadParser(Protocol):
    """What next_head() feeds: the connection's codec (bytes in, one event out; it raises
    on bad input, and says NEED_DATA until a head or the end of the input is complete)."""

    def feed(self, data: bytes) -> Any: ...  # bytes in (b"": the end), the next event out


class LeanStream(anyio.abc.SocketStream, asyncio.Protocol):
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
        self._idle = _IdleWait(self)
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

    def _forget(self) -> None:
        """The connection has ended: no timer, and shutdown no longer looks at it."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
            self._timer_at = math.inf
        registered = self._registered
        if registered is not None:
            registered.discard(self._idle)
            self._registered = None

    def _arm(self, deadline: float) -> None:
        """Make the head wait end at `deadline`. The one timer is re-armed only for a
        deadline earlier than its own; one that fires early re-arms itself for the
        current deadline (keep-alive requests only move the deadline)."""
        self._idle_deadline = deadline
        if deadline < self._timer_at:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = self._loop.call_at(deadline, self._idle_expired)
            self._timer_at = deadline

    def _idle_expired(self) -> None:
        self._idle_timer = None
        self._timer_at = math.inf
        deadline = self._idle_deadline
        if deadline is None:
            return  # not idle now; the next idle wait arms a new timer
        if self._loop.time() >= deadline:
            if self._head_seconds < 0:  # a head that had begun is not idle, only too slow
                self._end_head_wait(ProtocolError(408, "request head not received in time"))
            else:
                self._end_head_wait(Signal.CLOSED)
        else:
            self._idle_timer = self._loop.call_at(deadline, self._idle_expired)
            self._timer_at = deadline

    def next_head(
        self, parser: HeadParser, idle: float, head: float, waiting: set[Cancellable]
    ) -> asyncio.Future[Any]:
        """A future for the parser's next event (a request head, the end of input, or what
        it raises), parsed as the bytes arrive in data_received(), with no read buffer and
        no task wake-up until there is one. Signal.CLOSED when nothing arrived within
        `idle` seconds, when shutdown ended the wait through `waiting` (ctx.fresh or
        ctx.idle), or when the connection was lost; ProtocolError(408) when a head began
        but was not complete `head` seconds after its first bytes. Not a coroutine: the
        caller awaits the future itself, and whatever ends the wait also tidies up after
        it (_take_head_waiter)."""
        loop = self._loop
        waiter = loop.create_future()
        if self._chunks or self._input_ended or self._read_waiter is not None:
            if self._start_unusual_wait(waiter, parser, head):
                return waiter  # already resolved, or a head has begun
        else:
            self._read_waiter = waiter
            self._head_parser = parser
            self._head_seconds = head
        self._arm(loop.time() + idle)
        if self._registered is not waiting:  # once per connection, and after its first request
            if self._registered is not None:
                self._registered.discard(self._idle)
            waiting.add(self._idle)
            self._registered = waiting
        return waiter

    def _start_unusual_wait(
        self, waiter: asyncio.Future[Any], parser: HeadParser, head: float
    ) -> bool:
        """next_head() with bytes that came while a request was served, at the end of the
        input, or after a wait its task gave up: True when `waiter` is resolved already or
        the wait is for the rest of a begun head (its own timeout is armed); False when it
        is an idle wait like any other, set up but for its timer."""
        if self._read_waiter is not None and self._read_waiter.done():
            self._take_head_waiter()  # a head wait its task gave up (cancelled)
        if self._read_waiter is not None:
            raise anyio.BusyResourceError("reading from")
        try:
            if self._chunks:  # parse them first
                data = b"".join(self._chunks)
                self._chunks.clear()
                self._buffered = 0
                if self._reading_paused:
                    self._resume_reading()
                event = parser.feed(data)
                if event is not _NEED_DATA:
                    waiter.set_result(event)
                    return True
                if not self._input_ended:  # a head has begun: its own timeout runs
                    self._read_waiter = waiter
                    self._head_parser = parser
                    self._head_seconds = -1.0
                    self._arm(self._loop.time() + head)
                    return True
            if self._input_ended:
                waiter.set_result(parser.feed(b""))
                return True
        except Exception as exc:  # bad input: the connection answers it
            waiter.set_exception(exc)
            return True
        self._read_waiter = waiter
        self._head_parser = parser
        self._head_seconds = head
        return False

    def _end_head_wait(self, result: Any) -> None:
        """End the head wait, if one is on, with `result`: an event (CLOSED among them)
        or an exception for the waiting task to raise."""
        waiter = self._take_head_waiter()
        if waiter is None:
            return
        if isinstance(result, BaseException):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)

    def _take_head_waiter(self) -> asyncio.Future[Any] | None:
        """Tidy up after the head wait, if one is on (the one place that does), and give
        its future when it is still to be resolved."""
        waiter = self._read_waiter
        if self._head_parser is None or waiter is None:
            return None
        self._head_parser = None
        self._read_waiter = None
        self._idle_deadline = None
        return None if waiter.done() else waiter  # done: cancelled, its task moved on

    def _parse_head(self, parser: HeadParser, data: bytes) -> bool:
        """data_received() while next_head() waits: the bytes go straight to the parser,
        and the wait ends once there is an event (or an error) to hand over. False when
        the wait has already ended: the bytes are then buffered like any others."""
        waiter = self._read_waiter
        if waiter is None or waiter.done():
            self._take_head_waiter()
            return False
        try:
            event = parser.feed(data)
        except Exception as exc:  # bad input: the connection answers it
            self._end_head_wait(exc)
            return True
        if event is not _NEED_DATA:
            # _take_head_waiter() inline: the wait was on and its future is not done.
            self._head_parser = None
            self._read_waiter = None
            self._idle_deadline = None
            waiter.set_result(event)
        elif self._head_seconds >= 0:  # the first bytes of a head: its timeout starts now
            self._arm(self._loop.time() + self._head_seconds)
            self._head_seconds = -1.0  # no longer idle: shutdown lets the head finish
        return True

    async def _maybe_yield(self) -> None:
        self._unyielded += 1
        if self._unyielded >= _YIELD_EVERY:
            self._unyielded = 0
            await checkpoint()


class _IdleWait:
    """Where shutdown finds a lean connection: it sits in the set of waits the connection
    last waited in (ctx.fresh for its first request, then ctx.idle), from then until it
    closes, and `cancel()` ends the head wait only while one is on and nothing of a head
    has arrived (a begun head is finished, within its own timeout)."""

    __slots__ = ("stream",)

    def __init__(self, stream: LeanStream) -> None:
        self.stream = stream

    def cancel(self) -> None:
        stream = self.stream
        if stream._head_parser is not None and stream._head_seconds >= 0:
            stream._end_head_wait(Signal.CLOSED)
