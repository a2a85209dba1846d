"""A worker's side of the metrics: the request observer the connection calls after each
request (in place of the access log, which it then calls itself), the error and refusal
counts, and a sampler task for the gauges and the event loop's lag."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

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
    from ..access_log import RequestObserver
    from ..context import ServerContext
    from ..http.events import RequestHead

# status // 100 -> status class index; 0 (no response: the client left first) is a 4xx,
# as nginx's 499 is.
_CLASS_OF = (3, 0, 1, 2, 3, 4, 4, 4, 4, 4)
_METHOD_OF = {method: i for i, method in enumerate(layout.METHODS)}
_OTHER_METHOD = len(layout.METHODS)
_WEBSOCKET = layout.INTERFACES.index("websocket")
# How often the sampler copies the gauges into the slot and measures the loop's lag; the
# lag gauge is the worst of the last _LAG_WINDOW samples (one second).
SAMPLE_INTERVAL = 0.25
_LAG_WINDOW = 4


class Recorder:
    """One per worker, writing its Slot. `log()` has the access log's signature: the
    server calls it where it would call the access log, only when metrics are on."""

    __slots__ = ("_access", "_ctx", "_other", "_rows", "_values", "pool_stats", "slot")

    def __init__(self, slot: Slot, interface: str) -> None:
        self.slot = slot
        self._values = slot.values
        self._access: RequestObserver | None = None
        self._ctx: ServerContext | None = None
        base = layout.INTERFACES.index(interface if interface in layout.INTERFACES else "asgi")
        # The offset of requests_total{interface, method, 1xx} for each method.
        rows = {m: layout.request_index(base, i, 0) for m, i in _METHOD_OF.items()}
        self._rows = rows
        self._other = layout.request_index(base, _OTHER_METHOD, 0)
        self.pool_stats: Callable[[], tuple[int, int]] | None = None  # WSGI threads

    def install(self, ctx: ServerContext) -> None:
        """Observe `ctx`'s requests: take the access log's place, and call it from log()."""
        self._access = ctx.access
        self._ctx = ctx
        ctx.access = self
        ctx.metrics = self

    # -- per request (the access log's interface) ----------------------------------------
    def enabled(self) -> bool:
        return True

    def log(
        self,
        head: RequestHead,
        client: tuple[str, int] | None,
        status: int,
        sent: int,
        duration: float,
        request_id: bytes | None,
    ) -> None:
        values = self._values
        row = self._rows.get(head.method)
        if row is None:
            row = self._other
        values[row + _CLASS_OF[status // 100]] += 1.0
        values[DURATION_BUCKETS + bisect_left(BUCKETS, duration)] += 1.0
        values[DURATION_SUM] += duration
        values[DURATION_COUNT] += 1.0
        values[RESPONSE_BODY_BYTES] += sent
        if head.content_length:
            values[REQUEST_BODY_BYTES] += head.content_length
        access = self._access
        if access is not None and access.enabled():
            access.log(head, client, status, sent, duration, request_id)

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

    # -- gauges --------------------------------------------------------------------------
    async def sample(self, open_connections: Callable[[], int]) -> None:
        """Forever: copy the gauges into the slot and measure the loop's lag (how much
        later than asked a timer ran), SAMPLE_INTERVAL apart."""
        values = self._values
        lags = [0.0] * _LAG_WINDOW
        turn = 0
        while True:
            before = time.monotonic()
            await anyio.sleep(SAMPLE_INTERVAL)
            lags[turn % _LAG_WINDOW] = max(0.0, time.monotonic() - before - SAMPLE_INTERVAL)
            turn += 1
            values[LOOP_LAG] = max(lags)
            ctx = self._ctx
            values[IN_FLIGHT] = ctx.in_flight if ctx is not None else 0
            values[CONNECTIONS] = open_connections()
            if self.pool_stats is not None:
                busy, queued = self.pool_stats()
                values[THREADS_BUSY], values[THREADS_QUEUED] = busy, queued


def make_recorder(slot: Slot, interface: str, app: object) -> Recorder:
    """A Recorder for a worker serving `app` (its interface as loading found it); a WSGI
    app's thread pool, when the app has one, feeds the thread gauges."""
    recorder = Recorder(slot, "wsgi" if interface == "wsgi" else "asgi")
    pool = getattr(app, "thread_pool", None)
    stats = getattr(pool, "stats", None)
    if callable(stats):
        recorder.pool_stats = stats
    return recorder
