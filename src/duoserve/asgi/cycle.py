"""HTTPCycle: one request/response as the ASGI `http` receive/send pair, for H1 and H2.

With 100-continue, disconnect detection, back-pressure and the single error policy for
HTTP apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any, NoReturn, Protocol

import anyio
import anyio.abc

from ..config.settings import Config
from ..errors import ClientDisconnected, ProtocolError
from ..http1.events import Body, CodecEvent, EndOfRequest, RequestHead, Signal
from ..http1.headers import ResponseError
from ..types import ASGIApp, Headers, Message, Scope
from .context import ServerContext
from .extensions import ResponseExtensions

_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
_END = EndOfRequest()
_NEED_DATA = Signal.NEED_DATA
_REQUEST_ID = b"x-request-id"


class RequestSource(Protocol):
    """Where the cycle reads the request body and sends 1xx responses: the HTTP/1.1 codec,
    or an HTTP/2 stream (core.h2stream)."""

    @property
    def keep_alive(self) -> bool: ...
    @property
    def buffered(self) -> int: ...
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> CodecEvent: ...
    def whole_body(self) -> bytes | None: ...
    def send_informational(self, status: int, headers: Headers) -> bytes: ...


class Driver(Protocol):
    """What the cycle needs from the connection that drives it (core.HTTPConnection): the
    cycle sits below the connection core and never imports it."""

    ctx: ServerContext
    config: Config
    peer_gone: bool
    write_failed: bool

    @property
    def stream(self) -> anyio.abc.ByteStream: ...
    @property
    def codec(self) -> RequestSource: ...
    @property
    def peer(self) -> str: ...
    async def recv(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    def push(self, data: bytes) -> bool: ...
    async def drain(self) -> None: ...
    async def write_file(self, file: IO[bytes], offset: int, count: int) -> None: ...
    async def send_error(
        self, status: int, detail: str = "", headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None: ...
    def abort(self) -> None: ...
    def log_bad_request(self, exc: ProtocolError) -> None: ...


class HTTPCycle(ResponseExtensions):
    """Serves one request to an ASGI app. The socket is read only from `receive()`, so an
    app that does not read the body applies back-pressure to the client.

    The cycle is its response's writer (the framing rules stay ResponseWriter's): one
    object per request instead of two, and no hop to reach the framing state."""

    # Per-request state starts as these class defaults: a cycle is made for every request,
    # and only what differs from them is stored (no __slots__, on purpose).
    started = False  # http.response.start accepted: the writer's framing state is set
    # The writer's verdict, set from the request by _start(); a cycle whose body the server
    # rejected before any start (its error response sent) completes with False.
    keep_alive = False
    _head_bytes: bytes | None = None  # held back to go out with the first body part
    _disconnect_scope: anyio.CancelScope | None = None
    body_complete = False
    body_error: ProtocolError | None = None
    response_complete = False
    sent_100 = False
    status = 0
    body_bytes = 0
    request_id: bytes | None = None  # --request-id: echoed in the response
    _trailers: Headers | None = None  # collected when the app announced trailers
    _body_ended = False
    _early_hints = 0
    # The next body event, held over: a body-less request's end is there from the start
    # (the class default; one with a body stores None first).
    _pending: Body | EndOfRequest | None = _END

    def __init__(self, conn: Driver, head: RequestHead) -> None:
        self.conn = conn
        self.codec = conn.codec
        self.request = head
        self.method = head.method
        self.http_version = head.http_version
        # A request whose head promises no body is complete as it is: the codec is not
        # asked for body events (the first receive() gets the empty request message).
        self.bodyless = bodyless = not (head.chunked or head.content_length)
        if not bodyless:
            self._pending = None

    # -- the error policy --------------------------------------------------------------
    async def run(self, app: ASGIApp, scope: Scope) -> bool:
        """Call the app; whatever it does, leave the connection in a known state. True when
        the connection may carry another request once the rest of this one's body, if the
        app left some unread, is skipped (HTTPConnection decides that). The connection's
        plain path makes the same calls itself (one coroutine less per request)."""
        try:
            await app(scope, self.receive, self.send)
        except Exception as exc:
            return await self.failed(exc)
        if self.response_complete:
            return self.finished()
        return await self.unfinished()

    def finished(self) -> bool:
        """run()'s verdict once the app returned with its response complete (a body error
        leaves the peer gone: False)."""
        if self._disconnect_scope is not None:
            self._disconnect_scope.cancel()
        conn = self.conn
        return self.keep_alive and not conn.peer_gone and not conn.write_failed

    async def unfinished(self) -> bool:
        """run()'s verdict once the app returned without completing its response: logged,
        then a 500 when nothing was sent, else the response is cut short. Always False."""
        if self._disconnect_scope is not None:
            self._disconnect_scope.cancel()
        if self.body_error is not None:
            return False  # already answered (or cut short) when the body went wrong
        conn = self.conn
        if not self.started:
            conn.ctx.error_log.error("ASGI app returned without starting a response")
            await self._fail()
        else:
            conn.ctx.error_log.error("ASGI app returned without completing the response")
            conn.abort()
        return False

    async def failed(self, exc: Exception) -> bool:
        """After the app raised `exc`: the error policy (logged once; 500 when nothing was
        sent, else the connection is cut). Always False: the connection ends."""
        if self._disconnect_scope is not None:
            self._disconnect_scope.cancel()
        conn = self.conn
        if isinstance(exc, ClientDisconnected):
            if self.body_error is None:
                conn.ctx.error_log.debug("client %s went away during the response", conn.peer)
            conn.abort()
            return False
        if self.request_id is None:
            conn.ctx.error_log.error("Exception in ASGI application", exc_info=exc)
        else:
            rid = self.request_id.decode("ascii")
            conn.ctx.error_log.error(
                "Exception in ASGI application (request id %s)",
                rid,
                exc_info=exc,
                extra={"request_id": rid},
            )
        await self._fail()
        return False

    async def _fail(self) -> None:
        """500 when nothing was written yet (or the status a body error asked for); else
        the response is cut short by closing the connection."""
        if not self.started or self._head_bytes is not None:
            status = 500
            self.status = status
            self.started = False
            self._head_bytes = None
            extra = [] if self.request_id is None else [(_REQUEST_ID, self.request_id)]
            await self.conn.send_error(status, headers=extra)
            self.response_complete = True
        else:
            self.conn.abort()

    # -- receive -------------------------------------------------------------------------
    async def receive(self) -> Message:
        if self.response_complete or self.conn.peer_gone:
            return dict(_DISCONNECT)
        if self.body_complete:
            return await self._wait_disconnect()
        if self.request.expect_continue and not self.sent_100 and not self.started:
            self.sent_100 = True
            await self.conn.write(self.codec.send_informational(100, []))
        # The next body message; a body already received is handed over without a read
        # and without another coroutine.
        try:
            event: CodecEvent | None = self._pending
            if event is None:
                whole = self.codec.whole_body()
                if whole is not None:
                    self.body_complete = True
                    return {"type": "http.request", "body": whole, "more_body": False}
                event = self.codec.next_event()
                if event is _NEED_DATA:
                    event = await self._read_body_event()
                elif type(event) is not Body and type(event) is not EndOfRequest:
                    event = _END  # PAUSED or CLOSED: the request ended
            else:
                self._pending = None
            if type(event) is Body:
                following = self.codec.next_event()
                if type(following) is EndOfRequest:
                    self.body_complete = True
                    return {"type": "http.request", "body": event.data, "more_body": False}
                if type(following) is Body:
                    self._pending = following
                return {"type": "http.request", "body": event.data, "more_body": True}
        except ProtocolError as exc:
            # Bad chunking or the body limit passed mid-stream: the server answers (if the
            # app has not started a response) and the app learns the client is gone.
            await self._reject_body(exc)
            return dict(_DISCONNECT)
        if event is None:
            return dict(_DISCONNECT)
        self.body_complete = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _reject_body(self, exc: ProtocolError) -> None:
        self.body_error = exc
        conn = self.conn
        conn.peer_gone = True
        conn.log_bad_request(exc)
        if not self.started or self._head_bytes is not None:
            self.started = False
            self._head_bytes = None
            self.status = exc.status
            self.response_complete = True
            await conn.send_error(exc.status, exc.detail)
        conn.abort()

    async def _read_body_event(self) -> Body | EndOfRequest | None:
        """The next body event once the codec needs bytes for it: read until there is
        one. None when the client closed; ProtocolError(408) when it stalled past
        timeout_io."""
        codec = self.codec
        conn = self.conn
        with anyio.move_on_after(conn.config.timeout_io):
            while True:
                data = await conn.recv()
                if not data:
                    return None
                codec.receive_data(data)
                event = codec.next_event()
                if event is not _NEED_DATA:
                    return event if isinstance(event, Body | EndOfRequest) else _END
        # The client's fault, not the app's: answered 408 (RFC 9110 §15.5.9) like a bad
        # body, and the app sees it gone (receive() turns this into http.disconnect).
        raise ProtocolError(408, "client stalled sending the request body")

    async def _wait_disconnect(self) -> Message:
        """The body is read; the next thing the client can tell us is that it left. Bytes
        that arrive meanwhile (a pipelined request) are kept, up to the head limit."""
        conn = self.conn
        with anyio.CancelScope() as scope:
            self._disconnect_scope = scope
            while True:
                if self.codec.buffered > conn.config.limit_request_head:
                    await anyio.sleep_forever()  # ended by the response completing
                data = await conn.recv()
                if not data:
                    break
                self.codec.receive_data(data)
        self._disconnect_scope = None
        return dict(_DISCONNECT)

    def _stop_disconnect_wait(self) -> None:
        if self._disconnect_scope is not None:
            self._disconnect_scope.cancel()

    # -- send ------------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            # _send_body() inline: the body of every response passes here.
            if not self.started or self.response_complete or self._body_ended:
                self._refuse_body()
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = _as_bytes(body)
            self.body_bytes += len(body)
            if message.get("more_body", False):
                data = self.body(body)
                more_body = True
            elif self._trailers is None:
                data = self.last(body)
                more_body = False
            else:
                data = self.body(body)
                self._body_ended = True  # the end goes out with the trailers
                more_body = True
            head = self._head_bytes
            if head is not None:
                self._head_bytes = None
                data = head + data
            if data:
                conn = self.conn
                if conn.push(data):
                    await conn.drain()
            if not more_body:
                self.response_complete = True
                if self._disconnect_scope is not None:
                    self._disconnect_scope.cancel()
        elif kind == "http.response.start":
            self._start(message)
        elif kind == "http.response.pathsend":
            await self._send_path(message["path"])
        elif kind == "http.response.zerocopysend":
            await self._send_file(message)
        elif kind == "http.response.trailers":
            await self._send_trailers(message)
        elif kind == "http.response.early_hint":
            await self._send_early_hint(message)
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r} for an HTTP response")

    def _start(self, message: Message) -> None:
        if self.body_error is not None:
            raise ClientDisconnected("the request body was rejected; the client is answered")
        if self.started:
            raise RuntimeError("http.response.start sent twice")
        status = message["status"]
        headers: Headers = message.get("headers", [])
        if type(status) is not int and (not isinstance(status, int) or isinstance(status, bool)):
            raise ResponseError(f"response status must be an int, got {status!r}")
        ctx = self.conn.ctx
        # What the request allows; during a shutdown the client is told this is the last.
        self.keep_alive = self.codec.keep_alive and not ctx.stopping
        defaults = ctx.defaults
        try:
            if self.request_id is None and "trailers" not in message:
                head = self.cached_head(status, headers, defaults, ctx.header_cache)
            else:
                head = self._uncommon_head(message, status, headers, defaults)
        except (TypeError, ValueError, AttributeError):
            raise ResponseError(f"response headers must be byte pairs: {headers!r}") from None
        self.started = True
        self._head_bytes = head

    def _uncommon_head(
        self, message: Message, status: int, headers: Headers, defaults: Headers
    ) -> bytes:
        """The head of a response with a request id or with trailers announced."""
        rid = self.request_id
        if rid is not None and not any(n.lower() == _REQUEST_ID for n, _ in headers):
            defaults = [*defaults, (_REQUEST_ID, rid)]  # the shared list stays as it is
        # http.response.trailers: chunked framing, when the client said it takes trailers.
        takes_trailers = False
        if message.get("trailers", False):
            self._trailers = []
            takes_trailers = self._client_takes_trailers()
        return self.head(
            status,
            headers,
            defaults,
            chunked=takes_trailers,
            cache=self.conn.ctx.header_cache,
            reuse=rid is None,  # a head with a request id in it never recurs
        )

    def _refuse_body(self) -> NoReturn:
        """A body part that cannot be sent: before the start or after the end (raises)."""
        if not self.started:
            raise RuntimeError("http.response.body sent before http.response.start")
        if self.conn.write_failed:
            raise ClientDisconnected("the client has disconnected")
        raise RuntimeError("http.response.body sent after the response body ended")


def _as_bytes(body: Any) -> bytes:
    """A body part that is not bytes: a copy of a bytes-like one, else ResponseError."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ResponseError(f"response body must be bytes, got {type(body).__name__}")
    return bytes(body)
