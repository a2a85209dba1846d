"""One request with per-request features on: the concurrency limit, request ids, access log.

Shared by the HTTP/1.1 connection and the HTTP/2 driver (metrics as well when another
feature is on), so both protocols apply the features the same way. The plain and metered
HTTP/1.1 paths inline what they need instead (they run for every request)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..asgi.context import ServerContext
from ..asgi.cycle import HTTPCycle
from ..asgi.scope import http_scope
from ..http1.events import RequestHead
from ..observe.request_id import request_id
from ..types import ConnInfo

D = TypeVar("D")
C = TypeVar("C", bound=HTTPCycle)


async def serve_featured(
    ctx: ServerContext,
    head: RequestHead,
    info: ConnInfo,
    new_cycle: Callable[[D, RequestHead], C],
    driver: D,
    refuse: Callable[[int, str], Awaitable[None]],
) -> tuple[C, bool] | None:
    """Run the app for one request through `new_cycle(driver, head)`: the cycle and
    whether it left the connection reusable; None when the request was refused (503)."""
    config = ctx.config
    if config.limit_concurrency and ctx.in_flight >= config.limit_concurrency:
        if ctx.metrics is not None:
            ctx.metrics.refused("concurrency")
        await refuse(503, "too many requests in progress")
        return None
    rid = None
    if config.request_id:
        rid, replaced = request_id(head.headers)
        if replaced is not None:
            head = head._replace(headers=replaced)
    cycle = new_cycle(driver, head)
    cycle.request_id = rid
    access = ctx.access
    logging_access = access is not None and access.enabled()
    start = time.perf_counter() if logging_access else 0.0
    scope = http_scope(head, info, config, ctx.lifespan_state)
    ctx.in_flight += 1
    metrics = ctx.metrics
    start_metrics = 0.0 if metrics is None else metrics.begin()
    try:
        reusable = await cycle.run(ctx.app, scope)
    finally:
        ctx.in_flight -= 1
        if metrics is not None:
            metrics.end(cycle, head.method, start_metrics)
    if logging_access:
        assert access is not None
        duration = time.perf_counter() - start
        access.log(head, scope["client"], cycle.status, cycle.body_bytes, duration, rid)
    return cycle, reusable
