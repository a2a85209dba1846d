"""The lean stream's head wait: heads parsed in the read callback, the idle and head timer."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..errors import ProtocolError
from ..http1.events import Signal

_NEED_DATA = Signal.NEED_DATA


class Cancellable(Protocol):
    """A wait that shutdown can end early (anyio cancel scopes, lean idle waits)."""

    def cancel(self) -> None: ...


class HeadParser(Protocol):
    """What next_head() feeds: the connection's codec (bytes in, one event out; it raises
    on bad input, and says NEED_DATA until a head or the end of the input is complete)."""

    def feed(self, data: bytes) -> Any: ...  # bytes in (b"": the end), the next event out


class HeadWait:
    """The part of LeanStream (transports.py) that waits for a request head: next_head()
    parses the bytes as they arrive in data_received(), with one timer per connection for
    the idle and head deadlines, and shutdown finds the wait through IdleWait. The state
    is LeanStream's (its __slots__, set in its __init__); what this part uses is declared here."""

    _loop: asyncio.AbstractEventLoop
    _chunks: list[bytes]
    _buffered: int
    _reading_paused: bool
    _input_ended: bool
    _read_waiter: asyncio.Future[Any] | None
    _head_parser: HeadParser | None
    _head_seconds: float
    _idle: IdleWait
    _idle_deadline: float | None
    _idle_timer: asyncio.TimerHandle | None
    _timer_at: float
    _registered: set[Cancellable] | None

    if TYPE_CHECKING:

        def _resume_reading(self) -> None: ...

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


class IdleWait:
    """Where shutdown finds a lean connection: it sits in the set of waits the connection
    last waited in (ctx.fresh for its first request, then ctx.idle), from then until it
    closes, and `cancel()` ends the head wait only while one is on and nothing of a head
    has arrived (a begun head is finished, within its own timeout)."""

    __slots__ = ("stream",)

    def __init__(self, stream: HeadWait) -> None:
        self.stream = stream

    def cancel(self) -> None:
        stream = self.stream
        if stream._head_parser is not None and stream._head_seconds >= 0:
            stream._end_head_wait(Signal.CLOSED)
