"""The ASGI websocket session: one upgrade served, the app's receive and send, pings, shutdown."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping

from ..asgi.context import ServerContext
from ..asgi.scope import websocket_scope
from ..errors import ClientDisconnected
from ..http1.events import RequestHead
from ..types import ConnInfo
from ..types import Message as ASGIMessage
from .handshake import Denial, Offer, accept_headers, check_request, negotiate_extensions
from .messages import close_code, data_event, response_headers
from .reading import SessionReader
from .state import ABNORMAL, GOING_AWAY, READ_SIZE, STREAM_ERRORS, Framing, Phase

_LINGER_BYTES = 1024 * 1024


async def serve_websocket(
    stream: anyio.abc.ByteStream,
    codec: Framing,
    head: RequestHead,
    info: ConnInfo,
    ctx: ServerContext,
) -> int:
    """Serve one upgrade request until the WebSocket (or the refusal) is over; returns the
    handshake's status (101, 200 over HTTP/2, or the refusal's; 0 when none was sent). The
    stream is ours until we return; the caller closes it afterwards."""
    session = WebSocketSession(stream, codec, ctx)
    checked = check_request(head)
    if isinstance(checked, Denial):
        reason = checked.body.decode("utf-8", "replace").strip()
        ctx.error_log.info("WebSocket handshake refused: %s", reason)
        await session.refuse(checked)
        return session.status
    scope = websocket_scope(head, info, ctx.config, ctx.lifespan_state, checked.subprotocols)
    if ctx.connections is None:
        await session.run(checked, scope)
        return session.status
    # Not among the connections the graceful deadline cancels at once: the close
    # handshake it starts (bounded by ws_close_timeout) lets the app see the disconnect.
    with ctx.connections.spared():
        await session.run(checked, scope)
    return session.status


class WebSocketSession(SessionReader):
    """One WebSocket for one app call. The app task writes through send(); a reader task
    parses frames into a bounded inbox (when it is full the socket is not read: that is
    the back-pressure), a keep-alive task pings, and a watcher reacts to shutdown. Every
    wait is bounded: writes by timeout_io, the close handshake by ws_close_timeout.

    One class built in layers, a module each: SessionState (state.py) <- SessionWriter
    (writing.py) <- SessionReader (reading.py) <- this, the lifecycle and the app's side."""

    # -- lifecycle ---------------------------------------------------------------------
    async def refuse(self, denial: Denial) -> None:
        """Answer an invalid upgrade request with plain HTTP."""
        headers = list(denial.headers)
        with contextlib.suppress(ClientDisconnected):
            await self._respond(denial.status, headers, denial.body)

    async def run(self, offer: Offer, scope: dict[str, Any]) -> None:
        self._offer = offer
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._run_services)
                failed = await self._run_app(scope)
                await self._after_app(failed)
        finally:
            self._inbox.close()

    async def _run_app(self, scope: dict[str, Any]) -> bool:
        """Run the app; True when it raised. Its traceback is logged here and only here."""
        try:
            await self._ctx.app(scope, self.receive, self.send)
        except ClientDisconnected:
            if self._phase is not Phase.CLOSED:
                self._ctx.error_log.exception("Exception in ASGI application (websocket)")
                return True
            # We raised it because the client left: the spec says not to log it.
        except Exception:
            self._ctx.error_log.exception("Exception in ASGI application (websocket)")
            return True
        return False

    async def _after_app(self, failed: bool) -> None:
        """The app has returned: finish whatever it left open."""
        phase = self._phase
        if phase in (Phase.HANDSHAKE, Phase.RESPONSE):
            if not failed:
                self._ctx.error_log.error(
                    "ASGI app returned without accepting the WebSocket or finishing its response"
                )
            if phase is Phase.HANDSHAKE:
                with contextlib.suppress(ClientDisconnected):
                    await self._respond(500, [], b"500 Internal Server Error\n")
            self._conclude(ABNORMAL, "")
        elif phase is Phase.OPEN:
            await self._start_close(1011, "")  # the reader waits for the reply, bounded

    async def _run_services(self) -> None:
        with self._services:
            await self._accepted.wait()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read_loop)
                if self._config.ws_ping_interval > 0:
                    tg.start_soon(self._keepalive)
                tg.start_soon(self._watch_shutdown)
        if self._ws is not None:
            self._conclude(ABNORMAL, "")
            await self._close_stream()

    async def _close_stream(self) -> None:
        """RFC 6455 §7.1.1: the server closes TCP first, even if the app still runs. Half-close
        and discard what the client still sends (bounded), so that unread input does not make
        the kernel reset the connection and destroy our close frame before it is read."""
        stream = self._stream
        with anyio.move_on_after(self._config.ws_close_timeout):
            ignored = (anyio.EndOfStream, anyio.BusyResourceError, NotImplementedError)
            with contextlib.suppress(*ignored, *STREAM_ERRORS):
                await stream.send_eof()
                budget = _LINGER_BYTES
                while budget > 0:
                    budget -= len(await stream.receive(READ_SIZE))
        with anyio.CancelScope(shield=True), contextlib.suppress(*STREAM_ERRORS):
            await stream.aclose()

    # -- the app's side --------------------------------------------------------------------
    async def receive(self) -> ASGIMessage:
        """ASGI receive: websocket.connect, then websocket.receive messages, then one
        websocket.disconnect. Calling it again after the disconnect raises ClientDisconnected."""
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        if not self._disconnect_sent:
            try:
                return await self._inbox.get()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                pass
        if self._disconnect_sent:
            raise ClientDisconnected("websocket.disconnect has already been received")
        self._disconnect_sent = True
        code, reason = self._disconnect or (ABNORMAL, "")
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def send(self, message: ASGIMessage) -> None:
        """ASGI send. Once the connection is closing or closed (the client left, a close
        frame was sent, the server is shutting down), websocket.send raises
        ClientDisconnected, an OSError as the ASGI spec (2.4) asks; a repeated
        websocket.close is a no-op. Messages out of order raise RuntimeError."""
        kind = message.get("type")
        phase = self._phase
        if phase is Phase.HANDSHAKE:
            if kind == "websocket.accept":
                await self._accept(message)
            elif kind == "websocket.close":
                self._phase = Phase.CLOSED
                try:
                    await self._respond(403, [], b"403 Forbidden\n")
                finally:
                    self._conclude(ABNORMAL, "")
            elif kind == "websocket.http.response.start":
                self._codec.keep_alive = False
                self.status = int(message["status"])
                head = self._codec.send_response(
                    self.status, response_headers(message), self._ctx.defaults
                )
                self._phase = Phase.RESPONSE
                await self._locked_write(head)
            else:
                raise RuntimeError(f"{kind!r} sent before websocket.accept or websocket.close")
        elif phase is Phase.RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"expected websocket.http.response.body, got {kind!r}")
            data = self._codec.send_body(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                data += self._codec.send_end()
                self._conclude(ABNORMAL, "")
            await self._locked_write(data)
        elif phase is Phase.OPEN:
            if kind == "websocket.send":
                lock = self._lock
                if lock.try_acquire():
                    # Uncontended, the usual case: frame and hand over in this coroutine,
                    # awaiting only a slow client (what _send_event does, without the
                    # coroutines of the lock and the write); with no extension, framed
                    # without a wsproto event (frames.py).
                    try:
                        if self._plain_out:
                            frame = self._plain_frame(message)
                        else:
                            frame = self._frame(data_event(message))
                        if frame is None:
                            raise ClientDisconnected("the WebSocket is closing")
                        if self._push(frame):
                            await self._drain()
                    finally:
                        lock.release()
                elif not await self._send_event(data_event(message)):
                    raise ClientDisconnected("the WebSocket is closing")
            elif kind == "websocket.close":
                await self._start_close(close_code(message), message.get("reason") or "")
            else:
                raise RuntimeError(f"{kind!r} is not valid on an open WebSocket")
        elif kind != "websocket.close":
            raise ClientDisconnected("the WebSocket is closed")

    async def _accept(self, message: ASGIMessage) -> None:
        assert self._offer is not None
        extensions, extensions_header = negotiate_extensions(self._offer, self._config)
        headers = accept_headers(
            self._offer, message.get("subprotocol"), message.get("headers") or (), extensions_header
        )
        async with self._lock:
            if self._phase is not Phase.HANDSHAKE:  # two tasks raced to accept
                raise RuntimeError("websocket.accept sent twice")
            if self._offer.key is None:  # HTTP/2 (RFC 8441 §5): a 200 to the CONNECT
                status, data = 200, self._codec.send_response(200, headers, self._ctx.defaults)
            else:
                status, data = 101, self._codec.send_informational(101, headers)
            early = self._codec.trailing_data  # frames sent before our 101: wsproto's
            self._ws = Connection(ConnectionType.SERVER, extensions, early)
            self._plain_out = not extensions
            self._plain_in = not extensions and not early and self._hooked
            self._phase = Phase.OPEN
            self._accepted.set()
            self.status = status
            await self._write(data)

    # -- background tasks -------------------------------------------------------------------
    async def _keepalive(self) -> None:
        """Ping every ws_ping_interval; a peer that does not answer within ws_ping_timeout
        is dead. While the inbox is full we are not reading, so a missing pong proves
        nothing and the check is skipped."""
        interval = self._config.ws_ping_interval
        timeout = self._config.ws_ping_timeout
        count = 0
        while True:
            await anyio.sleep(interval)
            count += 1
            pong = self._pong = anyio.Event()
            try:
                if not await self._send_event(Ping((count & 0xFFFFFFFF).to_bytes(4, "big"))):
                    return
            except ClientDisconnected:
                return
            with anyio.move_on_after(timeout):
                await pong.wait()
            if not pong.is_set() and self._delivery is None and self._phase is Phase.OPEN:
                self._ctx.error_log.info("WebSocket peer missed a pong for %.1fs; closing", timeout)
                await self._fail(1011, "keepalive ping timeout", report=ABNORMAL)
                return

    async def _watch_shutdown(self) -> None:
        ctx = self._ctx
        trigger = ctx.force_close if self._config.ws_shutdown == "graceful" else ctx.shutting_down
        await trigger.wait()
        await self._start_close(GOING_AWAY, "server shutting down")
