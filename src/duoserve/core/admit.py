"""An accepted connection before HTTP: PROXY header, TLS handshake, per-address limit.

The PROXY protocol header, the TLS handshake and the per-address connection limit, in that
order, all inside the connection's own task."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

import anyio
import anyio.abc

from ..asgi.context import FRESH_GRACE, ServerContext
from ..net.proxy_protocol import ProxyHeaderError, read_header
from ..types import ConnInfo
from .connection import HTTPConnection, handle_connection

_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)
_Serve = Callable[[anyio.abc.ByteStream, ConnInfo, ServerContext], Coroutine[Any, Any, None]]
_REFUSAL_LINGER = 1.0  # seconds to read a refused HTTP/2 client's bytes before closing


async def serve_accepted(stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
    """Serve one accepted connection; always closes it. A bad PROXY header or a failed or
    stalled TLS handshake ends only this connection, logged in one line."""
    config = ctx.config
    serve: _Serve = handle_connection
    try:
        if config.proxy_protocol != "off":
            with _before_first_request(ctx, config.timeout_proxy_protocol):
                stream, info = await _read_proxy_header(stream, info, ctx)
        if ctx.tls is not None:
            with _before_first_request(ctx, config.timeout_tls_handshake):
                tls_stream = await ctx.tls.handshake(stream)
            stream = tls_stream
            info = info._replace(scheme="https", tls=ctx.tls.extension(tls_stream))
            if ctx.h2 is not None and ctx.tls.chose_h2(tls_stream):
                from .h2connection import serve_h2_connection

                refusal = ctx.tls.h2_refusal(tls_stream)
                serve = serve_h2_connection if refusal is None else _refuse_h2(refusal)
    except (ProxyHeaderError, TimeoutError, ssl.SSLError, *_STREAM_ERRORS) as exc:
        ctx.error_log.info("%s: connection closed: %s", _peer(info), _describe(exc))
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await stream.aclose()
        return
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await stream.aclose()
        raise
    limit = config.limit_connections_per_ip
    address = info.client[0] if info.client is not None else None
    if not limit or address is None:
        await serve(stream, info, ctx)
        return
    open_now = ctx.per_ip.get(address, 0)
    if open_now >= limit:
        await _refuse(stream, info, ctx)
        return
    ctx.per_ip[address] = open_now + 1
    try:
        await serve(stream, info, ctx)
    finally:
        remaining = ctx.per_ip[address] - 1
        if remaining:
            ctx.per_ip[address] = remaining
        else:
            del ctx.per_ip[address]


async def _read_proxy_header(
    stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext
) -> tuple[anyio.abc.ByteStream, ConnInfo]:
    """The PROXY header's addresses become the peer; bytes after it are kept for the next
    layer. Only peers in --forwarded-allow-ips may send one."""
    config = ctx.config
    mode = config.proxy_protocol
    assert mode != "off"
    header, rest = await read_header(stream, mode)
    if header.length and (ctx.trusted is None or not ctx.trusted.trusts(info.client)):
        raise ProxyHeaderError("PROXY header from a peer not in --forwarded-allow-ips")
    if header.client is not None:
        info = info._replace(client=header.client, server=header.server)
    if header.ssl:
        info = info._replace(scheme="https")
    if rest:
        stream = PrefixedStream(stream, rest)
    return stream, info


@contextlib.contextmanager
def _before_first_request(ctx: ServerContext, seconds: float) -> Iterator[None]:
    """Bound a wait that comes before the first request; like the wait for that request,
    it is cut to FRESH_GRACE once a graceful shutdown begins. Raises TimeoutError."""
    if ctx.stopping:
        seconds = min(seconds, FRESH_GRACE)
    with anyio.move_on_after(seconds) as scope:
        ctx.fresh.add(scope)
        try:
            yield
        finally:
            ctx.fresh.discard(scope)
    if scope.cancelled_caught:
        raise TimeoutError


async def _refuse(stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
    """503 for one connection too many from one address, then a lingering close."""
    ctx.error_log.info("%s: too many connections from this address", _peer(info))
    if ctx.metrics is not None:
        ctx.metrics.refused("connections_per_ip")
    conn = HTTPConnection(stream, info, ctx)
    try:
        await conn.send_error(503, "too many connections from this address")
    finally:
        with anyio.CancelScope(shield=True):
            await conn.close()


def _refuse_h2(reason: str) -> _Serve:
    """A connection that chose h2 over a TLS HTTP/2 must not run on (RFC 9113 §9.2.2): our
    SETTINGS and GOAWAY(INADEQUATE_SECURITY), what the client sends read and dropped for a
    moment (so the GOAWAY is not lost to a reset), then the close."""

    async def refuse(stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
        from ..http2.refusal import inadequate_security

        ctx.error_log.info("%s: HTTP/2 refused: %s (INADEQUATE_SECURITY)", _peer(info), reason)
        with contextlib.suppress(*_STREAM_ERRORS):
            with anyio.move_on_after(ctx.config.timeout_io):
                await stream.send(inadequate_security(reason))
            with anyio.move_on_after(_REFUSAL_LINGER):
                while await stream.receive():
                    pass
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await stream.aclose()

    return refuse


def _peer(info: ConnInfo) -> str:
    return f"{info.client[0]}:{info.client[1]}" if info.client else "unix"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out before the request could start"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ProxyHeaderError):
        return str(exc)
    return "the client went away"


class PrefixedStream(anyio.abc.ByteStream):
    """A stream that first returns bytes already read from it (what followed a PROXY
    header), then reads on."""

    def __init__(self, stream: anyio.abc.ByteStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:max_bytes], self._prefix[max_bytes:]
            return data
        return await self._stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self._stream.extra_attributes
