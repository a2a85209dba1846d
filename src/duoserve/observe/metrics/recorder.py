"""A worker's side of the metrics: HTTP requests noted in a batch, folded into the slot.

Each request appends five values to one list (one C call, nothing allocated that lives);
a sampler task folds the batch into the shared slot a few times a second, together with
the gauges and the event loop's lag."""

from __future__ import annotations

import itertools
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any, NamedTuple, Protocol

import anyio
import anyio.lowlevel

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


class Observed(Protocol):
    """Where a Recorder is installed (asgi.context.ServerContext): metrics sit below the
    layers they observe and never import them."""

    metrics: Recorder | None


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
# One noted request: _NOTE values in a row of the batch: seconds, status, response body
# bytes, Content-Length, method.
_NOTE = 5


class RequestPath(NamedTuple):
    """The C callables the connection's metered request path calls, bound once per
    connection: `begun()` when a request starts, `clock()` around it, and
    `note((seconds, status, body bytes sent, Content-Length or None, method))` at its end.

    Two Python calls per request (begin(), end()) cost as much as the rest of metrics
    together; these cost none."""

    begun: Callable[[], object]
    clock: Callable[[], float]
    note: Callable[[tuple[float, int, int, int | None, bytes]], None]


class Recorder:
    """One per worker, writing its Slot. Each HTTP request costs two calls (begin(),
    end()): two clock reads and two appends, and never blocks."""

    __slots__ = (
        "_add_note",
        "_done",
        "_notes",
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
        # The requests noted since the last fold, flat in one list. No container is kept
        # per request (a tuple each filled the GC's generations: -11 % on hello): the row
        # is a float, small ints and a shared bytes object, none of them tracked by the GC.
        self._notes: list[Any] = []
        self._add_note = self._notes.extend
        self._done = 0  # requests folded into the slot
        # Requests begun: each one calls this counter; so does every read (see begun()).
        self._tick = itertools.count().__next__
        self._reads = 0
        base = layout.INTERFACES.index(interface if interface in layout.INTERFACES else "asgi")
        # The offset of requests_total{interface, method, 1xx} for each method.
        names = layout.METHOD_NAMES
        self._rows = {
            names[i].encode(): layout.request_index(base, i, 0) for i in range(len(names) - 1)
        }
        self._other = layout.request_index(base, _OTHER_METHOD, 0)
        self.pool_stats: Callable[[], tuple[int, int]] | None = None  # WSGI threads

    def install(self, ctx: Observed) -> None:
        """Observe `ctx`'s requests: the connection reports each HTTP request (begin(),
        end()), errors, refusals and WebSockets through ctx.metrics."""
        ctx.metrics = self

    def request_path(self) -> RequestPath:
        """What the connection's metered path calls per request (see RequestPath)."""
        return RequestPath(self._tick, perf_counter, self._add_note)

    def begin(self) -> float:
        """An HTTP request begins (the connection calls this and end() around the cycle,
        when metrics are on): counted as begun; its start time."""
        self._tick()
        return perf_counter()

    def end(self, cycle: Any, method: bytes, start: float) -> None:
        """The HTTP request that begin() started is over: note its method, duration, status
        (the error policy's 500 is set by now) and sizes for the next fold."""
        self._add_note(
            (
                perf_counter() - start,
                cycle.status,
                cycle.body_bytes,
                cycle.request.content_length,
                method,
            )
        )

    def begun(self) -> int:
        """HTTP requests begun so far (an itertools.count read by calling it, minus the
        calls made to read it)."""
        calls = self._tick()
        self._reads += 1
        return calls - self._reads + 1

    def fold(self, most: int | None = None) -> bool:
        """Add the noted requests (the first `most` of them) to the slot, in loops that
        run in C (slices, list.count, sort, Counter; 0.05 to 0.2 µs a request); True when some are
        left."""
        noted = len(self._notes) // _NOTE
        if not noted:
            return False
        take = noted if most is None else min(most, noted)
        notes = self._notes[: take * _NOTE]
        del self._notes[: take * _NOTE]
        seconds, statuses, sent, lengths, methods = (notes[i::_NOTE] for i in range(_NOTE))
        values = self._values
        rows, other = self._rows, self._other
        # The usual batches first, with list.count (pointer compares in C): one method, and
        # then one status too.
        method, status = methods[0], statuses[0]
        if methods.count(method) == take:
            row = rows.get(method, other)
            if statuses.count(status) == take:
                values[row + _CLASS_OF[status // 100]] += take
            else:
                for status, count in Counter(statuses).items():
                    values[row + _CLASS_OF[status // 100]] += count
        else:
            for (method, status), count in Counter(zip(methods, statuses, strict=True)).items():
                values[rows.get(method, other) + _CLASS_OF[status // 100]] += count
        # Non-cumulative buckets from the sorted durations: bucket i holds those in
        # (BUCKETS[i-1], BUCKETS[i]], the last one those above BUCKETS[-1].
        if max(seconds) <= BUCKETS[0]:  # all in the first bucket: no sort
            values[DURATION_BUCKETS] += take
        else:
            seconds.sort()
            below = 0
            for bucket, bound in enumerate(BUCKETS):
                upto = bisect_right(seconds, bound)
                values[DURATION_BUCKETS + bucket] += upto - below
                below = upto
            values[DURATION_BUCKETS + len(BUCKETS)] += take - below
        values[DURATION_SUM] += sum(seconds)
        values[DURATION_COUNT] += take
        values[RESPONSE_BODY_BYTES] += sum(sent)
        values[REQUEST_BODY_BYTES] += sum(filter(None, lengths))  # None: no body
        self._done += take
        return take < noted

    # -- rarer events ------------------------------------------------------------------------
    def protocol_error(self, status: int) -> None:
        """The server answered a malformed request (or body) with `status`."""
        names = layout.PROTOCOL_STATUSES
        index = names.index(status) if status in names else len(names)
        self._values[layout.PROTOCOL_ERRORS + index] += 1.0

    def refused(self, limit: str) -> None:
        """A 503 for one of layout.REFUSALS."""
        self._values[layout.REFUSED + layout.REFUSALS.index(limit)] += 1.0

    async def websocket(self, session: Awaitable[int]) -> int:
        """Run a WebSocket upgrade (which returns its handshake status), counted; that status."""
        values = self._values
        values[layout.WEBSOCKET_SESSIONS] += 1.0
        values[WEBSOCKETS_OPEN] += 1.0
        status = 0
        try:
            status = await session
        finally:
            values[WEBSOCKETS_OPEN] -= 1.0
            row = layout.request_index(_WEBSOCKET, 0, 0)  # as a GET (an HTTP/2 CONNECT too)
            values[row + _CLASS_OF[status // 100]] += 1.0
        return status

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
