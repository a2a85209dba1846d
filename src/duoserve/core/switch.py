"""Switching an HTTP/1.1 connection to another protocol: WebSocket, h2c upgrade, h2 preface.

Kept apart from the request loop, which calls in here only for a request that asks to
upgrade or for a first request line that reads as HTTP/2.0."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import anyio.abc

from ..asgi.context import ServerContext
from ..http1.codec import H1Codec
from ..http1.events import RequestHead
from ..types import ConnInfo

if TYPE_CHECKING:
    from ..websocket.state import Framing

# Fields of an h2c upgrade request that end with its HTTP/1.1 form (RFC 7540 §3.2).
_H2C_ONLY = frozenset({b"connection", b"upgrade", b"http2-settings", b"te", b"keep-alive"})


class Switchable(Protocol):
    """The HTTP/1.1 connection as a switch sees it (core.connection.HTTPConnection)."""

    stream: anyio.abc.ByteStream
    codec: H1Codec
    ctx: ServerContext
    info: ConnInfo
    write_failed: bool

    async def write(self, data: bytes) -> None: ...


async def upgrade(conn: Switchable, head: RequestHead, info: ConnInfo) -> bool:
    """A request with `Connection: upgrade`: True when it switched the connection to
    WebSocket or HTTP/2 (`Upgrade: h2c`, RFC 7540 §3.2) and was served that way; False
    when it is an ordinary request (an upgrade not offered is ignored, RFC 9110 §7.8)."""
    ctx = conn.ctx
    codec = conn.codec
    if head.upgrade == b"websocket" and ctx.websocket_enabled:
        await serve_ws(conn.stream, codec, head, info, ctx)
        return True
    if head.upgrade != b"h2c" or ctx.h2 is None or info.scheme != "http":
        return False
    from ..http2.preface import H2C_SWITCHING, h2c_upgrade_settings

    settings = h2c_upgrade_settings(head.headers)
    if settings is None:
        return False
    from .h2connection import serve_h2  # imports h2: only when HTTP/2 is served

    await conn.write(H2C_SWITCHING)
    kept = [(n, v) for n, v in head.headers if n not in _H2C_ONLY]
    stream1 = head._replace(headers=kept, http_version="2", keep_alive=True, upgrade=None)
    await serve_h2(conn.stream, info, ctx, codec.trailing_data, (stream1, settings))
    conn.write_failed = True  # the connection is HTTP/2's now: never reused
    return True


async def serve_ws(
    stream: anyio.abc.ByteStream,
    framing: Framing,
    head: RequestHead,
    info: ConnInfo,
    ctx: ServerContext,
) -> None:
    """One WebSocket request, over HTTP/1.1 or an HTTP/2 stream (`framing`: the codec or
    the stream), counted when metrics are on, and in the access log once it is over
    (status 101, 200 over HTTP/2, or the refusal's; no body bytes; the session's time)."""
    from ..websocket.session import serve_websocket

    access = ctx.access
    if access is not None and not access.enabled():
        access = None
    start = time.perf_counter() if access is not None else 0.0
    session = serve_websocket(stream, framing, head, info, ctx)
    status = await (session if ctx.metrics is None else ctx.metrics.websocket(session))
    if access is not None:
        access.log(head, info.client, status, 0, time.perf_counter() - start, None)


async def serve_h2_preface(conn: Switchable) -> bool:
    """The first request line was HTTP/2.0: when its bytes are the prior-knowledge
    preface (RFC 9113 §3.3), serve the connection as HTTP/2; True then."""
    from ..http2.preface import match_preface

    received = conn.codec.trailing_data
    if match_preface(received) == "no":
        return False
    from .h2connection import serve_h2

    await serve_h2(conn.stream, conn.info, conn.ctx, received)
    conn.write_failed = True
    return True
