"""The connection core: read loop → codec → HTTP cycle or WebSocket session, one writer,
timeouts for idle, slow-header and stalled clients."""

from __future__ import annotations

import contextlib
import time

import anyio
import anyio.abc

from .asgi import http_scope
from .context import FRESH_GRACE, ConnInfo, ServerContext
from .errors import ClientDisconnected, ProtocolError
from .http.codec import H1Codec
from .http.cycle import HTTPCycle
from .http.events import CodecEvent, EndOfRequest, RequestHead, Signal
from .http.framing import error_response
from .transports import receive_idle, send_within

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
        "peer",
        "peer_gone",
        "stream",
        "write_failed",
    )

    def __init__(self, stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
        self.stream = stream
        self.info = info
        self.ctx = ctx
        self.config = ctx.config
        self.codec: H1Codec = ctx.codec_factory(ctx.config)
        self.peer = f"{info.client[0]}:{info.client[1]}" if info.client else "unix"
        self.peer_gone = False  # the client closed its side, or stalled
        self.write_failed = False
        self.error_sent = False  # close with a lingering read so the client sees the error

    async def run(self) -> None:
        first = True
        ctx = self.ctx
        while True:
            head = await self._read_head(first)
            first = False
            if head is None:
                return
            if head.upgrade == b"websocket" and ctx.websocket_enabled:
                from .websocket.session import serve_websocket

                await serve_websocket(self.stream, self.codec, head, self.info, ctx)
                return
            if not await self._serve(head) or ctx.shutting_down.is_set():
                return
            self.codec.start_next_cycle()

    # -- reading -------------------------------------------------------------------------
    async def recv(self) -> bytes:
        """Next bytes from the client; b"" once it has closed or the stream broke."""
        try:
            return await self.stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, *_STREAM_ERRORS):
            self.peer_gone = True
            return b""

    async def _read_head(self, first: bool) -> RequestHead | None:
        try:
            event = self.codec.next_event()
            if event is Signal.NEED_DATA:
                event = await self._wait_for_head(first)
        except ProtocolError as exc:
            self.log_bad_request(exc)
            await self.send_error(exc.status, exc.detail)
            return None
        return event if isinstance(event, RequestHead) else None

    async def _wait_for_head(self, first: bool) -> CodecEvent:
        """Idle until a request starts (keep-alive timeout, or the head timeout on a new
        connection), then the whole head within timeout_request_head."""
        codec = self.codec
        config = self.config
        if codec.buffered == 0:
            ctx = self.ctx
            if ctx.shutting_down.is_set() and not first:
                return Signal.CLOSED
            if first:
                timeout = config.timeout_request_head
                if ctx.shutting_down.is_set():
                    timeout = min(timeout, FRESH_GRACE)
                with anyio.move_on_after(timeout) as scope:
                    ctx.fresh.add(scope)
                    try:
                        data = await self.recv()
                    finally:
                        ctx.fresh.discard(scope)
                if scope.cancelled_caught:
                    return Signal.CLOSED
            else:
                try:
                    idle_data = await receive_idle(
                        self.stream, _READ_SIZE, config.timeout_keep_alive, ctx.idle
                    )
                except (anyio.EndOfStream, *_STREAM_ERRORS):
                    idle_data = b""
                    self.peer_gone = True
                if idle_data is None:
                    return Signal.CLOSED  # idle timeout, or shutdown closing idle connections
                data = idle_data
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
    async def _serve(self, head: RequestHead) -> bool:
        """Run the app for one request; True when the connection may carry another."""
        ctx = self.ctx
        config = self.config
        if config.limit_concurrency and ctx.in_flight >= config.limit_concurrency:
            await self.send_error(503, "too many requests in progress")
            return False
        cycle = HTTPCycle(self, head)
        start = time.perf_counter() if config.access_log else 0.0
        ctx.in_flight += 1
        try:
            await cycle.run(ctx.app, http_scope(head, self.info, config, ctx.lifespan_state))
        finally:
            ctx.in_flight -= 1
        if config.access_log:
            self._log_access(head, cycle, start)
        writer = cycle.writer
        return (
            writer is not None
            and writer.keep_alive
            and cycle.response_complete
            and not self.peer_gone
            and not self.write_failed
            and self._drain_buffered_body(cycle)
        )

    def _drain_buffered_body(self, cycle: HTTPCycle) -> bool:
        """A body the app did not read can be skipped if it is already buffered; anything
        more would mean reading an unbounded amount for nobody, so the connection closes."""
        if cycle.body_complete:
            return True
        try:
            while True:
                event = self.codec.next_event()
                if type(event) is EndOfRequest or event is Signal.PAUSED:
                    return True
                if event is Signal.NEED_DATA or event is Signal.CLOSED:
                    return False
        except ProtocolError:
            return False

    # -- writing -------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """The only way bytes reach the client during a request; bounded by timeout_io."""
        if self.write_failed:
            raise ClientDisconnected("the client has disconnected")
        try:
            await send_within(self.stream, data, self.config.timeout_io)
        except TimeoutError:
            self.write_failed = True
            raise ClientDisconnected("the client stopped reading the response") from None
        except _STREAM_ERRORS:
            self.write_failed = True
            raise ClientDisconnected("the client has disconnected") from None

    async def send_error(self, status: int, detail: str = "") -> None:
        """Answer with a short error response; the connection closes afterwards."""
        self.codec.keep_alive = False
        self.error_sent = True
        with contextlib.suppress(ClientDisconnected):
            await self.write(error_response(status, self.ctx.default_headers(), detail))

    def abort(self) -> None:
        """The response cannot be completed: make sure the connection is not reused."""
        self.write_failed = True

    async def close(self) -> None:
        """Close the stream. After an error response to a client that may still be sending,
        first stop writing and read a little: closing with unread input makes the kernel
        send a reset, which can destroy the error response before the client reads it."""
        try:
            if self.error_sent and not self.write_failed and not self.peer_gone:
                await self._linger()
            await self.stream.aclose()
        except _STREAM_ERRORS:
            pass

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
    def _log_access(self, head: RequestHead, cycle: HTTPCycle, start: float) -> None:
        log = self.ctx.access_log
        if log.isEnabledFor(20):
            target = head.target.decode("ascii", "replace")
            log.info(
                '%s - "%s %s HTTP/%s" %d %d %.1fms',
                self.peer,
                head.method.decode("ascii", "replace"),
                target,
                head.http_version,
                cycle.status,
                cycle.body_bytes,
                (time.perf_counter() - start) * 1000,
            )

    def log_bad_request(self, exc: ProtocolError) -> None:
        self.ctx.error_log.info("%s: %d %s", self.peer, exc.status, exc.detail)
