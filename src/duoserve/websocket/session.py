"""The ASGI websocket session over wsproto: messages, size limits, pings, close handshake."""

from __future__ import annotations

import contextlib
import enum
from typing import Any, cast

import anyio
import anyio.abc
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage

from ..asgi.context import ServerContext
from ..asgi.scope import websocket_scope
from ..errors import ClientDisconnected
from ..http1.codec import H1Codec
from ..http1.events import RequestHead
from ..net.streams import hooks_data, writes
from ..net.transports import LeanStream
from ..net.wakeup import Wakeup
from ..types import ConnInfo, Headers
from ..types import Message as ASGIMessage
from .frames import BINARY, LARGEST, TEXT, data_frame, frame_at, still_fragmented, unmask
from .handshake import Denial, Offer, accept_headers, check_request, negotiate_extensions
from .inbox import Inbox
from .messages import MessageTooBig, Reassembler, allowed, close_code, data_event, response_headers
from .writer_lock import WriterLock

_READ_SIZE = 64 * 1024
_LINGER_BYTES = 1024 * 1024
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
ABNORMAL = 1006  # RFC 6455 §7.1.5: closed without a close frame
GOING_AWAY = 1001  # RFC 6455 §7.4.1: the server is going down (shutdown)


class Phase(enum.Enum):
    HANDSHAKE = "handshake"  # waiting for the app's accept, close or HTTP response
    RESPONSE = "response"  # the app's HTTP (denial) response is being sent
    OPEN = "open"
    CLOSING = "closing"  # our close frame is out; waiting for the peer's
    CLOSED = "closed"


async def serve_websocket(
    stream: anyio.abc.ByteStream,
    codec: H1Codec,
    head: RequestHead,
    info: ConnInfo,
    ctx: ServerContext,
) -> int:
    """Serve one upgrade request until the WebSocket (or the refusal) is over; returns the
    handshake's status (101, or the refusal's; 0 when none was sent). The stream is ours
    until we return; the caller closes it afterwards."""
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


class WebSocketSession:
    """One WebSocket for one app call. The app task writes through send(); a reader task
    parses frames into a bounded inbox (when it is full the socket is not read: that is
    the back-pressure), a keep-alive task pings, and a watcher reacts to shutdown. Every
    wait is bounded: writes by timeout_io, the close handshake by ws_close_timeout."""

    def __init__(self, stream: anyio.abc.ByteStream, codec: H1Codec, ctx: ServerContext) -> None:
        self._stream = stream
        self.status = 0  # the handshake's answer once sent: 101, or a refusal's status
        self._writes = writes(stream)
        self._codec = codec
        self._ctx = ctx
        self._config = ctx.config
        self._phase = Phase.HANDSHAKE
        self._offer: Offer | None = None
        self._ws: Connection | None = None
        # One writer at a time, frames leave in wsproto's order; uncontended, taking it
        # does not yield to the event loop.
        self._lock = WriterLock()
        self._inbox = Inbox(ctx.config.ws_max_queue)
        self._connect_sent = False
        self._disconnect: tuple[int, str] | None = None  # set once the connection is over
        self._disconnect_sent = False
        self._accepted = anyio.Event()
        self._services = anyio.CancelScope()  # reader, keep-alive, shutdown watcher
        self._read_scope = anyio.CancelScope()  # gets a deadline when our close frame leaves
        self._delivery: anyio.CancelScope | None = None  # the reader, waiting for inbox room
        self._eof = False
        self._pong: anyio.Event | None = None
        self._reassembler = Reassembler(ctx.config.ws_max_size)
        # The lean read path (set_data_hook): events the read callback left to the reader
        # task, and the reader's wake-up while it waits for them.
        self._hooked = hooks_data(stream)
        self._stash: list[Event] = []
        self._work: Wakeup | None = None
        self._hook_on = False
        # With no extension, plain frames skip wsproto (frames.py): received in the read
        # callback (`_pending` holds a frame not complete yet: a header, or at most one
        # LARGEST frame), and sent from send(). `_fragmented`: wsproto is inside a
        # fragmented message, so every frame goes to it until the message ends. `_owed`:
        # the bytes of a longer frame that are still to come, for wsproto as they arrive.
        self._plain_in = False
        self._plain_out = False
        self._pending = b""
        self._owed = 0
        self._fragmented = False
        self._plain_size = min(ctx.config.ws_max_size, LARGEST)

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
            with contextlib.suppress(*ignored, *_STREAM_ERRORS):
                await stream.send_eof()
                budget = _LINGER_BYTES
                while budget > 0:
                    budget -= len(await stream.receive(_READ_SIZE))
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await stream.aclose()

    def _conclude(self, code: int, reason: str) -> None:
        """The connection is over: record what the app will see, wake its receive(), stop
        the background tasks. Only the first call decides the code."""
        if self._disconnect is None:
            self._disconnect = (code, reason)
        self._phase = Phase.CLOSED
        self._inbox.close()
        self._services.cancel()

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
        data = self._codec.send_informational(101, headers)
        async with self._lock:
            if self._phase is not Phase.HANDSHAKE:  # two tasks raced to accept
                raise RuntimeError("websocket.accept sent twice")
            early = self._codec.trailing_data  # frames sent before our 101: wsproto's
            self._ws = Connection(ConnectionType.SERVER, extensions, early)
            self._plain_out = not extensions
            self._plain_in = not extensions and not early and self._hooked
            self._phase = Phase.OPEN
            self._accepted.set()
            self.status = 101
            await self._write(data)

    # -- writing ------------------------------------------------------------------------------
    async def _respond(self, status: int, headers: Headers, body: bytes) -> None:
        """A complete plain HTTP response (the handshake did not happen)."""
        codec = self._codec
        codec.keep_alive = False
        self.status = status
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            *headers,
        ]
        data = codec.send_response(status, headers, self._ctx.defaults)
        await self._locked_write(data + codec.send_body(body) + codec.send_end())

    async def _send_event(self, event: Event) -> bool:
        """Frame and write one event; False when the connection's state no longer allows it."""
        async with self._lock:
            data = self._frame(event)
            if data is None:
                return False
            await self._write(data)
            return True

    def _plain_frame(self, message: ASGIMessage) -> bytes | None:
        """_frame() for a websocket.send message on a connection with no extension,
        without a wsproto event."""
        text = message.get("text")
        data = message.get("bytes")
        if (text is None) == (data is None):
            raise RuntimeError("websocket.send needs exactly one of 'bytes' and 'text'")
        ws = self._ws
        if ws is None or self._disconnect is not None or ws.state is not ConnectionState.OPEN:
            return None
        if data is None:
            return data_frame(TEXT, str(text).encode("utf-8"))
        return data_frame(BINARY, bytes(data))

    def _frame(self, event: Event) -> bytes | None:
        """The bytes of `event` (with the lock held); None when the connection's state no
        longer allows sending it."""
        ws = self._ws
        if ws is None or self._disconnect is not None or not allowed(event, ws.state):
            return None
        return ws.send(event)

    async def _locked_write(self, data: bytes) -> None:
        async with self._lock:
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        """Write with the lock held. Any failure, or being cancelled halfway through a frame,
        leaves the stream unusable, so the connection is concluded."""
        if self._push(data):
            await self._drain()

    def _push(self, data: bytes) -> bool:
        """Hand bytes over without waiting (the lock held); True when _drain() must follow."""
        try:
            return self._writes.push(data)
        except BaseException as exc:
            raise self._write_failed(exc) from None

    async def _drain(self) -> None:
        """The client takes what was pushed within timeout_io (the lock held)."""
        try:
            await self._writes.drain(self._config.timeout_io)
        except BaseException as exc:
            raise self._write_failed(exc) from None

    def _write_failed(self, exc: BaseException) -> BaseException:
        """A failed write concludes the connection; what to raise instead of `exc` (a
        ClientDisconnected for the stream's own errors, else `exc` itself)."""
        self._conclude(ABNORMAL, "")
        if isinstance(exc, TimeoutError):
            return ClientDisconnected("the client stopped reading")
        if isinstance(exc, _STREAM_ERRORS):
            return ClientDisconnected("the client has disconnected")
        return exc

    async def _start_close(self, code: int, reason: str) -> None:
        """Begin the close handshake; the reader waits for the peer's close frame until
        ws_close_timeout, discarding any data that still arrives."""
        if self._phase is not Phase.OPEN:
            return
        self._phase = Phase.CLOSING
        self._read_scope.deadline = anyio.current_time() + self._config.ws_close_timeout
        if self._delivery is not None:
            self._delivery.cancel()
        self._reassembler.reset()
        with contextlib.suppress(ClientDisconnected):
            await self._send_event(CloseConnection(code, reason))

    async def _fail(self, code: int, reason: str, *, report: int) -> None:
        """RFC 6455 §7.1.7: send a close frame if we still may, and drop the connection
        without waiting for an answer."""
        with contextlib.suppress(ClientDisconnected):
            await self._send_event(CloseConnection(code, reason))
        self._conclude(report, reason)

    # -- background tasks -------------------------------------------------------------------
    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            with self._read_scope:
                while True:
                    stash = self._stash
                    if stash:
                        self._stash = []
                        for event in stash:
                            await self._on_event(event)
                            if self._phase is Phase.CLOSED:
                                return
                    for event in ws.events():
                        await self._on_event(event)
                        if self._phase is Phase.CLOSED:
                            return
                    if self._hooked and self._phase is Phase.OPEN and not self._eof:
                        await self._hooked_wait()
                        continue
                    if self._plain_in:  # read without the hook from now on: all to wsproto
                        self._to_wsproto()
                        continue
                    data = await self._recv()
                    self._eof = not data
                    ws.receive_data(data or None)  # None: wsproto reports 1006
        except ClientDisconnected:
            return
        # The read deadline passed: the peer never answered our close frame.
        self._conclude(ABNORMAL, "close handshake timed out")

    async def _hooked_wait(self) -> None:
        """Wait while the read callback (_on_bytes) parses frames and queues whole
        messages for the app by itself; it wakes this task for anything else."""
        self._work = work = Wakeup()
        stream = cast(LeanStream, self._stream)
        self._hook_on = True
        stream.set_data_hook(self._on_bytes)  # what is buffered comes first
        if self._hook_on and self._pending:  # and complete frames left from the last time
            pending, self._pending = self._pending, b""
            self._take_frames(pending)
        try:
            await work.wait()
        finally:
            self._hook_on = False
            stream.set_data_hook(None)
            self._work = None

    def _on_bytes(self, data: bytes) -> None:
        """In the event loop's read callback: parse frames and hand whole messages to the
        inbox while it has room. The first event that needs more (a fragment, a control
        frame, a full inbox, the end of the input) is left for the reader task, which is
        woken; the hook is unset meanwhile, so what follows is buffered and bounded."""
        ws = self._ws
        assert ws is not None
        if not data:
            self._eof = True
            if self._pending:
                self._to_wsproto()
            ws.receive_data(None)  # wsproto reports 1006
            self._take_events(eof=True)
        elif self._plain_in:
            if self._owed:
                owed = self._owed
                ws.receive_data(data[:owed])
                self._owed = max(0, owed - len(data))
                data = data[owed:]
                if not self._take_events():
                    self._pending = data
                    return
                if not data:
                    return
            elif self._pending:
                data = self._pending + data
                self._pending = b""
            self._take_frames(data)
        else:
            ws.receive_data(data)
            self._take_events()

    def _take_frames(self, data: bytes) -> None:
        """_on_bytes() with no extension: a plain frame (frames.py) becomes a message here;
        any other frame goes to wsproto whole, and its events are taken as _take_events()
        takes them. A frame not complete yet waits in `_pending`, up to one of LARGEST; a
        longer one goes to wsproto as it arrives (`_owed`), and the next frame is ours."""
        ws = self._ws
        assert ws is not None
        inbox = self._inbox
        plain_size = self._plain_size
        pos = 0
        size = len(data)
        while pos < size:
            frame = frame_at(data, pos, plain_size)
            if frame is None or frame.end > size:
                if frame is not None and frame.end - pos > LARGEST + 14:
                    self._fragmented = still_fragmented(frame.first, self._fragmented)
                    ws.receive_data(data[pos:])
                    self._owed = frame.end - size
                    self._take_events()
                else:
                    self._pending = data[pos:]
                return
            first, plain, start, end = frame
            if plain and not self._fragmented and self._phase is Phase.OPEN:
                payload = unmask(data, start, end)
                text: str | None = None
                if first == BINARY:
                    message: ASGIMessage = {
                        "type": "websocket.receive",
                        "bytes": payload,
                        "text": None,
                    }
                else:
                    try:
                        text = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        message = {}  # wsproto fails the connection with 1007
                    else:
                        message = {"type": "websocket.receive", "bytes": None, "text": text}
                if message:
                    pos = end
                    if not inbox.closed and inbox.put_nowait(message):
                        continue
                    # The reader task waits for room to deliver it.
                    event = BytesMessage(payload) if text is None else TextMessage(text)
                    self._stash.append(event)
                    self._pending = data[pos:]
                    self._stop_hook()
                    return
            self._fragmented = still_fragmented(first, self._fragmented)
            ws.receive_data(data[pos:end])
            pos = end
            if not self._take_events():
                self._pending = data[pos:]
                return

    def _take_events(self, eof: bool = False) -> bool:
        """Hand wsproto's whole messages to the inbox while it has room; True when all
        were taken (and it is not the end of the input). Otherwise the event that needs
        more is stashed for the reader task, which is woken (_stop_hook)."""
        ws = self._ws
        assert ws is not None
        inbox = self._inbox
        whole = self._reassembler.whole
        for event in ws.events():
            kind = type(event)
            if (kind is BytesMessage or kind is TextMessage) and self._phase is Phase.OPEN:
                message = whole(event)  # type: ignore[arg-type]
                if message is not None and not inbox.closed and inbox.put_nowait(message):
                    continue
            self._stash.append(event)
            break
        else:
            if not eof:
                return True
        self._stop_hook()
        return False

    def _stop_hook(self) -> None:
        """Reading in the callback stops: the reader task takes over (woken)."""
        self._hook_on = False
        cast(LeanStream, self._stream).set_data_hook(None)
        if self._work is not None:
            self._work.set()

    def _to_wsproto(self) -> None:
        """What waits in `_pending` goes to wsproto, and so does all input from now on
        (wsproto may now hold part of a frame)."""
        ws = self._ws
        assert ws is not None
        self._plain_in = False
        pending, self._pending = self._pending, b""
        if pending:
            ws.receive_data(pending)

    async def _recv(self) -> bytes:
        try:
            return await self._stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, *_STREAM_ERRORS):
            return b""

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, (TextMessage, BytesMessage)):
            await self._on_data(event)
        elif isinstance(event, Ping):
            await self._send_event(event.response())
        elif isinstance(event, Pong):
            if self._pong is not None:
                self._pong.set()
        elif isinstance(event, CloseConnection):
            await self._on_close(event)

    async def _on_close(self, event: CloseConnection) -> None:
        ws = self._ws
        assert ws is not None
        reason = event.reason or ""
        if self._eof:
            self._conclude(ABNORMAL, "")
        elif ws.state is ConnectionState.REMOTE_CLOSING:  # the peer starts the handshake
            self._phase = Phase.CLOSING
            await self._send_event(event.response())
            self._conclude(event.code, reason)
        elif ws.state is ConnectionState.CLOSED:  # the peer answers our close frame
            self._conclude(event.code, reason)
        else:  # wsproto could not parse the input: 1002, 1007, or 1009 from deflate
            await self._fail(event.code, reason, report=event.code)

    async def _on_data(self, event: Message[Any]) -> None:
        if self._phase is not Phase.OPEN:
            return  # closing: no more messages for the app
        try:
            message = self._reassembler.feed(event)
        except MessageTooBig:
            # Fail rather than close: the client may be inside a huge frame and could not
            # answer with a close frame before finishing it.
            await self._fail(1009, "message too big", report=1009)
            return
        if message is not None:
            await self._deliver(message)

    async def _deliver(self, message: ASGIMessage) -> None:
        try:
            if self._inbox.put_nowait(message):
                return
        except anyio.ClosedResourceError:
            return
        with anyio.CancelScope() as scope:
            self._delivery = scope  # cancelled when we start closing: the app may not read
            try:
                await self._inbox.put(message)
            except anyio.ClosedResourceError:
                pass
            finally:
                self._delivery = None

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
