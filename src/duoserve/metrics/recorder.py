"""A worker's side of the metrics: the app wrapped to note each HTTP request in a batch
(a tuple appended, nothing more), folded into the shared slot by a sampler task a few
times a second together with the gauges and the event loop's lag."""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable
from itertools import repeat
from operator import floordiv, itemgetter
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from ..errors import ClientDisconnected
from . import layout
from .block import Slot
from .layout import (
    BUCKETS,
    CONNECTIONS,
    DURATION_BUCKETS,
    DURATION_COUNT,
    DURATION_SUM,
    IN_FLIGHT,
    LOOP_LAG,
    REQUEST_BODY_BYTES,
    RESPONSE_BODY_BYTES,
    THREADS_BUSY,
    THREADS_QUEUED,
    WEBSOCKETS_OPEN,
)

if TYPE_CHECKING:
    from ..context import ServerContext
    from ..types import ASGIApp, Receive, Scope, Send

# status // 100 -> status class index; 0 (no response: the client left first) is a 4xx,
# as nginx's 499 is.
_CLASS_OF = (3, 0, 1, 2, 3, 4, 4, 4, 4, 4)
_OTHER_METHOD = len(layout.METHODS)
_WEBSOCKET = layout.INTERFACES.index("websocket")
# How often the sampler folds the batch and copies the gauges into the slot, and measures
# the loop's lag; the lag gauge is the worst of the last _LAG_WINDOW samples (a second).
SAMPLE_INTERVAL = 0.25
_LAG_WINDOW = 4
# Notes folded between two checkpoints (about 0.3 ms of the loop's time).
_FOLD_CHUNK = 1024
# One noted request: (method, status, seconds, response body bytes, Content-Length).
Note = tuple[str, int, float, int, "int | None"]
_FIELDS = [itemgetter(i) for i in range(5)]


class Recorder:
    """One per worker, writing its Slot. install() wraps the context's app; the wrapper
    costs each HTTP request two clock reads and one tuple, and never blocks."""

    __slots__ = (
        "_batch",
        "_ctx",
        "_done",
        "_other",
        "_reads",
        "_rows",
        "_tick",
        "_values",
        "pool_stats",
        "slot",
    )

    def __init__(self, slot: Slot, interface: str) -> None:
        self.slot = slot
        self._values = slot.values
        self._batch: list[Note] = []
        self._done = 0  # requests folded into the slot
        # Requests begun: each one calls this counter; so does every read (see begun()).
        self._tick = itertools.count().__next__
        self._reads = 0
        self._ctx: ServerContext | None = None
        base = layout.INTERFACES.index(interface if interface in layout.INTERFACES else "asgi")
        # The offset of requests_total{interface, method, 1xx} for each method.
        names = layout.METHOD_NAMES
        self._rows = {names[i]: layout.request_index(base, i, 0) for i in range(len(names) - 1)}
        self._other = layout.request_index(base, _OTHER_METHOD, 0)
        self.pool_stats: Callable[[], tuple[int, int]] | None = None  # WSGI threads

    def install(self, ctx: ServerContext) -> None:
        """Observe `ctx`'s requests: its app is wrapped, and the connection reports
        errors, refusals and WebSockets through ctx.metrics."""
        ctx.metrics = self
        ctx.app = self.wrap(ctx.app)
        self._ctx = ctx

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """`app`, noting each HTTP request's method, status, duration and sizes. The
        server calls it with the request's HTTPCycle.send, whose cycle holds them."""
        append = self._batch.append
        tick = self._tick  # counts requests begun (in flight: begun - folded - batched)
        failed = self._failed
        clock = time.perf_counter

        async def metered(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)  # WebSocket: counted by websocket()
            tick()
            start = clock()
            try:
                await app(scope, receive, send)
            except BaseException as exc:
                failed(scope, send, start, exc)
                raise
            cycle: Any = send.__self__  # type: ignore[attr-defined]
            append(
                (
                    scope["method"],
                    cycle.status,
                    clock() - start,
                    cycle.body_bytes,
                    cycle.head.content_length,
                )
            )

        return metered

    def _failed(self, scope: Scope, send: Send, start: float, exc: BaseException) -> None:
        """Note a request whose app raised: the cycle answers 500 when nothing was sent
        yet (the error policy); a client that left keeps the status it got, if any."""
        cycle: Any = getattr(send, "__self__", None)
        if cycle is None:
            return
        status = cycle.status
        unsent = cycle.writer is None or cycle._head_bytes is not None
        if not isinstance(exc, ClientDisconnected | anyio.get_cancelled_exc_class()) and unsent:
            status = 500
        seconds = time.perf_counter() - start
        self._batch.append((scope["method"], status, seconds, cycle.body_bytes, None))

    def begun(self) -> int:
        """HTTP requests begun so far (an itertools.count read by calling it, minus the
        calls made to read it)."""
        calls = self._tick()
        self._reads += 1
        return calls - self._reads + 1

    def fold(self, most: int | None = None) -> bool:
        """Add the noted requests (the first `most` of them) to the slot, in loops that
        run in C (map, zip, Counter; about 0.3 µs a request); True when some are left."""
        batch = self._batch
        if not batch:
            return False
        notes = batch[:most]
        del batch[:most]
        values = self._values
        methods, statuses, seconds, sent, lengths = (list(map(f, notes)) for f in _FIELDS)
        rows, other = self._rows, self._other
        for (method, kind), count in Counter(
            zip(methods, map(floordiv, statuses, repeat(100)), strict=True)
        ).items():
            values[rows.get(method, other) + _CLASS_OF[kind]] += count
        for bucket, count in Counter(map(bisect_left, repeat(BUCKETS), seconds)).items():
            values[DURATION_BUCKETS + bucket] += count
        values[DURATION_SUM] += sum(seconds)
        values[DURATION_COUNT] += len(notes)
        values[RESPONSE_BODY_BYTES] += sum(sent)
        values[REQUEST_BODY_BYTES] += sum(filter(None, lengths))
        self._done += len(notes)
        return bool(batch)

    # -- rarer events ------------------------------------------------------------------------
    def protocol_error(self, status: int) -> None:
        """The server answered a malformed request (or body) with `status`."""
        names = layout.PROTOCOL_STATUSES
        index = names.index(status) if status in names else len(names)
        self._values[layout.PROTOCOL_ERRORS + index] += 1.0

    def refused(self, limit: str) -> None:
        """A 503 for one of layout.REFUSALS."""
        self._values[layout.REFUSED + layout.REFUSALS.index(limit)] += 1.0

    async def websocket(self, session: Awaitable[int]) -> None:
        """Run a WebSocket upgrade (which returns its handshake status), counted."""
        values = self._values
        values[layout.WEBSOCKET_SESSIONS] += 1.0
        values[WEBSOCKETS_OPEN] += 1.0
        status = 0
        try:
            status = await session
        finally:
            values[WEBSOCKETS_OPEN] -= 1.0
            row = layout.request_index(_WEBSOCKET, 0, 0)  # always a GET
            values[row + _CLASS_OF[status // 100]] += 1.0

    # -- the sampler -----------------------------------------------------------------------
    async def sample(self, open_connections: Callable[[], int]) -> None:
        """Until cancelled: fold the batch, copy the gauges into the slot and measure the
        loop's lag (how much later than asked a timer ran), SAMPLE_INTERVAL apart; a last
        fold at the end, so a worker that stops loses no count."""
        values = self._values
        lags = [0.0] * _LAG_WINDOW
        turn = 0
        try:
            while True:
                before = time.monotonic()
                await anyio.sleep(SAMPLE_INTERVAL)
                lags[turn % _LAG_WINDOW] = max(0.0, time.monotonic() - before - SAMPLE_INTERVAL)
                turn += 1
                values[LOOP_LAG] = max(lags)
                while self.fold(_FOLD_CHUNK):  # a long batch in steps: no long pause
                    await anyio.lowlevel.checkpoint()
                values[IN_FLIGHT] = self.begun() - self._done
                values[CONNECTIONS] = open_connections()
                if self.pool_stats is not None:
                    busy, queued = self.pool_stats()
                    values[THREADS_BUSY], values[THREADS_QUEUED] = busy, queued
        finally:
            self.fold()


def make_recorder(slot: Slot, interface: str, app: object) -> Recorder:
    """A Recorder for a worker serving `app` (its interface as loading found it); a WSGI
    app's thread pool, when the app has one, feeds the thread gauges."""
    recorder = Recorder(slot, "wsgi" if interface == "wsgi" else "asgi")
    pool = getattr(app, "thread_pool", None)
    stats = getattr(pool, "stats", None)
    if callable(stats):
        recorder.pool_stats = stats
    return recorder
