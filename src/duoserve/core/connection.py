"""The connection core: the request loop, timeouts, the one writer, the upgrade switch.

Read loop → codec → HTTP cycle or WebSocket session, one writer, timeouts for idle, slow-
header and stalled clients."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import IO

import anyio
import anyio.abc

from ..asgi.context import FRESH_GRACE, ServerContext
from ..asgi.cycle import HTTPCycle
from ..asgi.scope import http_scope
from ..edge.proxy import resolve_proxy
from ..errors import ClientDisconnected, ProtocolError
from ..http1.codec import H1Codec
from ..http1.events import CodecEvent, EndOfRequest, RequestHead, Signal
from ..http1.framing import error_response
from ..net.streams import close_now, head_reader, receive_idle, send_file, writes
from ..types import ConnInfo
from .featured import serve_featured
from .switch import serve_h2_preface, upgrade

_READ_SIZE = 64 * 1024
# Lingering close after an error response: at most this long and this much discarded input.
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1024 * 1024
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def handle_connection(
    stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext
) -> None:
    """Serve requests on one connection until either side ends it; always closes it."""
    conn = HTTPConnection(stream, info, ctx)
    try:
        await conn.run()
    finally:
        if not conn.close_at_once():
            with anyio.CancelScope(shield=True):
                await conn.close()


class HTTPConnection:
    """One client connection. Reads happen in this task, or inside the app's receive()."""

    __slots__ = (
        "codec",
        "config",
        "ctx",
        "error_sent",
        "info",
        "next_head",
        "peer_gone",
        "stream",
        "unread_input",
        "write_failed",
        "writes",
    )

    def __init__(self, stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
        self.stream = stream
        self.info = info
        self.ctx = ctx
        self.config = ctx.config
        self.codec: H1Codec = ctx.codec_factory(ctx.config)
        self.peer_gone = False  # the client closed its side, or stalled
        self.write_failed = False
        self.error_sent = False  # close with a lingering read so the client sees the error
        self.unread_input = False  # the app answered before the body arrived: linger too
        self.next_head = head_reader(stream)  # parses heads as they arrive, where it can
        self.writes = writes(stream)

    @property
    def peer(self) -> str:
        """The client's address for log lines (worked out only when one is written)."""
        client = self.info.client
        return f"{client[0]}:{client[1]}" if client else "unix"

    async def run(self) -> None:
        ctx = self.ctx
        codec = self.codec
        # Proxy headers are read only from a trusted peer: decided once per connection.
        trusted = ctx.trusted if self.config.proxy_headers else None
        if trusted is not None and not trusted.trusts(self.info.client):
            trusted = None
        # Assembled once: the plain path when no per-request feature is on (the metered
        # one when only metrics are).
        config = self.config
        featureless = not (config.limit_concurrency or config.request_id or ctx.access is not None)
        plain = featureless and ctx.metrics is None
        metered = ctx.metrics.request_path() if featureless and ctx.metrics else None
        if metered is not None:  # as locals: a NamedTuple's attribute read is not free
            begun, clock, note = metered
        app = ctx.app
        state = ctx.lifespan_state
        next_head = self.next_head
        head_timeout = config.timeout_request_head
        # The wait for the first request, then for each next one (parsed as the bytes
        # arrive on the lean stream): how long, and where shutdown finds it.
        first = True
        idle, waiting = head_timeout, ctx.fresh
        buffered = codec.buffered
        while True:
            try:
                if buffered or next_head is None or ctx.stopping:
                    event = codec.next_event()
                    if event is Signal.NEED_DATA:
                        event = await self._wait_for_head(first)
                else:
                    event = await next_head(codec, idle, head_timeout, waiting)
            except ProtocolError as exc:
                if (
                    exc.status == 505
                    and first
                    and ctx.h2 is not None
                    and await serve_h2_preface(self)
                ):
                    return
                self.log_bad_request(exc)
                await self.send_error(exc.status, exc.detail)
                return
            if type(event) is not RequestHead:
                return
            if first:
                first = False
                idle, waiting = config.timeout_keep_alive, ctx.idle
            info = (
                self.info if trusted is None else resolve_proxy(self.info, event.headers, trusted)
            )
            if event.upgrade is not None and await upgrade(self, event, info):
                return
            if plain:
                # _serve() with none of its per-request features, inline: the usual request.
                # cycle.run() inline, without its coroutine.
                cycle = HTTPCycle(self, event)
                try:
                    await app(http_scope(event, info, config, state), cycle.receive, cycle.send)
                except Exception as exc:
                    reusable = await cycle.failed(exc)
                else:
                    reusable = (
                        cycle.finished() if cycle.response_complete else await cycle.unfinished()
                    )
            elif metered:
                # The same with metrics on: each request counted and noted, no other feature
                # (the recorder's C callables, no Python call of its own).
                cycle = HTTPCycle(self, event)
                begun()
                start = clock()
                try:
                    await app(http_scope(event, info, config, state), cycle.receive, cycle.send)
                except Exception as exc:
                    reusable = await cycle.failed(exc)
                else:
                    reusable = (
                        cycle.finished() if cycle.response_complete else await cycle.unfinished()
                    )
                finally:
                    note(
                        (
                            clock() - start,
                            cycle.status,
                            cycle.body_bytes,
                            event.content_length,
                            event.method,
                        )
                    )
            else:
                if not await self._serve(event, info) or ctx.stopping:
                    return
                buffered = codec.start_next_cycle()
                continue
            # The plain and metered paths: a body the app left unread is skipped, if it can be.
            if (
                not reusable
                or ctx.stopping
                or not (
                    cycle.bodyless or cycle.body_complete or await self._skip_unread_body(cycle)
                )
            ):
                return
            buffered = codec.start_next_cycle()

    # -- reading -------------------------------------------------------------------------
    async def recv(self) -> bytes:
        """Next bytes from the client; b"" once it has closed or the stream broke."""
        try:
            return await self.stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, *_STREAM_ERRORS):
            self.peer_gone = True
            return b""

    async def _wait_for_head(self, first: bool) -> CodecEvent:
        """Idle until a request starts (keep-alive timeout, or the head timeout on a new
        connection), then the whole head within timeout_request_head."""
        codec = self.codec
        config = self.config
        if codec.buffered == 0:
            ctx = self.ctx
            if ctx.stopping and not first:
                return Signal.CLOSED
            if first:  # a new connection; during a shutdown it gets FRESH_GRACE at most
                timeout = config.timeout_request_head
                if ctx.stopping:
                    timeout = min(timeout, FRESH_GRACE)
                waiting = ctx.fresh
            else:
                timeout = config.timeout_keep_alive
                waiting = ctx.idle
            next_head = self.next_head
            if next_head is not None:
                # CLOSED at the idle timeout, on shutdown or at EOF; 408 raised when slow.
                return await next_head(codec, timeout, config.timeout_request_head, waiting)  # type: ignore[no-any-return]
            try:
                data = await receive_idle(self.stream, _READ_SIZE, timeout, waiting)
            except (anyio.EndOfStream, *_STREAM_ERRORS):
                data = b""
                self.peer_gone = True
            if data is None:
                return Signal.CLOSED  # timed out, or shutdown closing idle connections
            codec.receive_data(data)
            event = codec.next_event()
            if event is not Signal.NEED_DATA:
                return event
        with anyio.move_on_after(config.timeout_request_head):
            while True:
                codec.receive_data(await self.recv())
                event = codec.next_event()
                if event is not Signal.NEED_DATA:
                    return event
        raise ProtocolError(408, "request head not received in time")

    # -- one request -------------------------------------------------------------------------
    async def _serve(self, head: RequestHead, info: ConnInfo) -> bool:
        """Run the app for one request; True when the connection may carry another."""
        served = await serve_featured(self.ctx, head, info, HTTPCycle, self, self.send_error)
        if served is None:
            return False
        cycle, reusable = served
        return reusable and (
            cycle.bodyless or cycle.body_complete or await self._skip_unread_body(cycle)
        )

    async def _skip_unread_body(self, cycle: HTTPCycle) -> bool:
        """Skip a body the app did not read, so the connection can carry another request:
        what is buffered plus at most _LINGER_BYTES more arriving within _LINGER_SECONDS
        (a client that sent it just after the head; closing instead would race with the
        client reusing the connection). A client still waiting for 100 Continue, or a
        larger or slower body, gets the connection closed (with a lingering read)."""
        if cycle.request.expect_continue and not cycle.sent_100:
            self.unread_input = True
            return False
        budget = _LINGER_BYTES
        try:
            # What is already buffered (always so for a body-less request): no timer needed.
            event = self._next_body_event()
            if event is not Signal.NEED_DATA:
                return event is not Signal.CLOSED
            with anyio.move_on_after(_LINGER_SECONDS):
                while event is Signal.NEED_DATA and budget > 0:
                    data = await self.recv()
                    if not data:
                        return False
                    budget -= len(data)
                    self.codec.receive_data(data)
                    event = self._next_body_event()
                if event is not Signal.NEED_DATA:
                    return event is not Signal.CLOSED
        except ProtocolError:
            return False
        self.unread_input = True
        return False

    def _next_body_event(self) -> EndOfRequest | Signal:
        """Skip buffered body bytes: the end of the request (EndOfRequest or PAUSED),
        NEED_DATA, or CLOSED."""
        while True:
            event = self.codec.next_event()
            if type(event) is EndOfRequest or isinstance(event, Signal):
                return event

    # -- writing -------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """The only way bytes reach the client during a request; bounded by timeout_io."""
        if self.push(data):
            await self.drain()

    def push(self, data: bytes) -> bool:
        """write() without waiting: True when drain() must be awaited next (a response
        that fits the transport's buffer needs no coroutine at all)."""
        if self.write_failed:
            raise ClientDisconnected("the client has disconnected")
        try:
            return self.writes.push(data)
        except _STREAM_ERRORS:
            self.write_failed = True
            raise ClientDisconnected("the client has disconnected") from None

    async def drain(self) -> None:
        """The rest of write(): the client takes the bytes within timeout_io."""
        try:
            await self.writes.drain(self.config.timeout_io)
        except TimeoutError:
            self.write_failed = True
            raise ClientDisconnected("the client stopped reading the response") from None
        except _STREAM_ERRORS:
            self.write_failed = True
            raise ClientDisconnected("the client has disconnected") from None

    async def write_file(self, file: IO[bytes], offset: int, count: int) -> None:
        """Like write(), for `count` bytes of a regular file sent by the kernel (sendfile);
        only where transports.can_sendfile() says so."""
        if self.write_failed:
            raise ClientDisconnected("the client has disconnected")
        try:
            await send_file(self.stream, file, offset, count, self.config.timeout_io)
        except TimeoutError:
            self.write_failed = True
            raise ClientDisconnected("the client stopped reading the response") from None
        except _STREAM_ERRORS:
            self.write_failed = True
            raise ClientDisconnected("the client has disconnected") from None

    async def send_error(
        self, status: int, detail: str = "", headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """Answer with a short error response; the connection closes afterwards."""
        self.codec.keep_alive = False
        self.error_sent = True
        defaults = [*self.ctx.defaults, *headers]
        with contextlib.suppress(ClientDisconnected):
            await self.write(error_response(status, defaults, detail))

    def abort(self) -> None:
        """The response cannot be completed: make sure the connection is not reused."""
        self.write_failed = True

    def lingering(self) -> bool:
        """Whether closing should first read what the client may still be sending."""
        return (self.error_sent or self.unread_input) and not (self.write_failed or self.peer_gone)

    def close_at_once(self) -> bool:
        """Close now when no lingering read is due and the stream allows it; False when
        close() must be awaited instead."""
        return not self.lingering() and close_now(self.stream)

    async def close(self) -> None:
        """Close the stream. After an error response, or a response given before the
        request body arrived, to a client that may still be sending, first stop writing
        and read a little: closing with unread input makes the kernel send a reset, which
        can destroy the response before the client reads it."""
        try:
            if self.lingering():
                await self._linger()
        except _STREAM_ERRORS:
            pass
        finally:
            with contextlib.suppress(*_STREAM_ERRORS):
                await self.stream.aclose()

    async def _linger(self) -> None:
        send_eof = getattr(self.stream, "send_eof", None)
        if send_eof is None:
            return
        await send_eof()
        budget = _LINGER_BYTES
        with anyio.move_on_after(_LINGER_SECONDS):
            while budget > 0:
                data = await self.recv()
                if not data:
                    break
                budget -= len(data)

    # -- logging ---------------------------------------------------------------------------------
    def log_bad_request(self, exc: ProtocolError) -> None:
        self.ctx.error_log.info("%s: %d %s", self.peer, exc.status, exc.detail)
        if self.ctx.metrics is not None:
            self.ctx.metrics.protocol_error(exc.status)
