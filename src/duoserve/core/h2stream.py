"""One HTTP/2 stream as the HTTP cycle's driver: the request body in, DATA frames out.

The cycle (`asgi.cycle.HTTPCycle`) is the same class HTTP/1.1 uses; only its writer half
differs (`h2framing`). `H2Stream` is what the cycle sees as its connection and its codec.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, cast

import anyio
import anyio.abc

from ..errors import ClientDisconnected, ProtocolError
from ..http1.events import Body, EndOfRequest, RequestHead, Signal
from ..http1.framing import reason_phrase
from ..http2.events import ErrorCode, StreamGone
from ..net.wakeup import Wakeup
from ..types import Headers

if TYPE_CHECKING:
    from .h2connection import H2Driver

_END = EndOfRequest()


class H2Stream:
    """The cycle's connection and codec for one stream. Body DATA is queued here as it
    arrives (at most the stream's flow-control window, the client cannot send more) and
    its credit goes back as the cycle takes it; responses are sent as far as the windows
    allow, the rest waits in `drain()` for WINDOW_UPDATE within timeout_io."""

    # Per-stream state starts as these class defaults (a stream is made per request, and
    # only what differs is stored; no __slots__, on purpose).
    peer_gone = False  # reset by the client, or the connection is gone
    write_failed = False
    keep_alive = True  # the codec's verdict: HTTP/2 streams never keep a socket
    buffered = 0
    received = 0  # request-body bytes, for --limit-request-body
    _taken = 0  # the last body part handed to the cycle, not yet credited
    ended = False  # the client's END_STREAM came
    _wake: list[Wakeup] | None = None  # the tasks waiting on the stream
    _out: bytes | memoryview = b""  # response bytes past the window
    _out_end = False  # the stream ends once _out is sent
    _trailers: Headers | None = None
    closed = False  # END_STREAM or RST_STREAM sent

    def __init__(self, driver: H2Driver, stream_id: int, request: RequestHead) -> None:
        self.driver = driver
        self.h2 = driver.h2
        self.stream_id = stream_id
        self.request = request
        self.ctx = ctx = driver.ctx
        self.config = ctx.config
        self.inbox: deque[Body | EndOfRequest] = deque()

    @property
    def stream(self) -> anyio.abc.ByteStream:
        """No sendfile: the cycle's file paths fall back to DATA frames (can_sendfile() is
        false for anything but the lean stream itself)."""
        return cast("anyio.abc.ByteStream", self)

    @property
    def codec(self) -> H2Stream:
        return self

    @property
    def peer(self) -> str:
        return f"{self.driver.peer} stream {self.stream_id}"

    # -- from the driver -----------------------------------------------------------------
    def wake(self) -> None:
        """Wake every task waiting on the stream (the app's sender and a receive() may wait
        at once); each checks again what it waits for."""
        waiters = self._wake
        if waiters is not None:
            self._wake = None
            for waiter in waiters:
                waiter.set()

    def feed(self, data: bytes) -> None:
        self.inbox.append(Body(data))
        self.wake()

    def feed_end(self) -> None:
        self.ended = True
        self.inbox.append(_END)
        self.wake()

    def reset_by_peer(self) -> None:
        self.peer_gone = True
        self.closed = True
        self.wake()

    async def _wait(self) -> None:
        # One each: a cancelled wait cancels its future, which would end a sharer's wait too.
        waiter = Wakeup(self.driver.loop)
        if self._wake is None:
            self._wake = [waiter]
        else:
            self._wake.append(waiter)
        await waiter.wait()

    # -- the codec side: request body events ----------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Nothing to do: the driver queues the body as frames arrive."""

    def whole_body(self) -> None:
        """Never: the body arrives as DATA frames, each credited as the app reads it."""
        return None

    def next_event(self) -> Body | EndOfRequest | Signal:
        # The cycle looks one event ahead: a part's credit goes back at the next call, once
        # the app has it, so the part held back counts against the window too.
        if taken := self._taken:
            self._taken = 0
            self.h2.acknowledge(self.stream_id, taken)
            self.driver.queue_out()
        if not self.inbox:
            return Signal.NEED_DATA
        event = self.inbox.popleft()
        if type(event) is Body:
            size = self._taken = len(event.data)
            limit = self.config.limit_request_body
            self.received += size
            if limit and self.received > limit:
                raise ProtocolError(413, "request body too large")
        return event

    async def recv(self) -> bytes:
        """Wait for more of the body: b"" once the stream or the connection is gone."""
        while not self.inbox:
            if self.peer_gone:
                return b""
            await self._wait()
        return b"+"  # a token: next_event() has the body

    def send_informational(self, status: int, headers: Headers) -> bytes:
        """A 1xx (100 Continue, 103 Early Hints) as its own HEADERS frame."""
        self._call_h2(self.h2.send_head, self.stream_id, status, headers)
        return b""

    # -- the connection side: sending -------------------------------------------------------
    def _call_h2(self, method: object, *args: object) -> None:
        if self.write_failed or self.closed:
            raise ClientDisconnected("the client reset the stream")
        try:
            method(*args)  # type: ignore[operator]
        except StreamGone:
            self.write_failed = True
            raise ClientDisconnected("the client reset the stream") from None
        self.driver.queue_out()

    def send_head(self, status: int, headers: Headers, end_stream: bool) -> None:
        self._call_h2(self.h2.send_head, self.stream_id, status, headers, end_stream)
        if end_stream:
            self.closed = True

    def send_fields(self, fields: Headers, end_stream: bool) -> None:
        """send_head() of what `http2.headers.response_fields` made of the head."""
        self._call_h2(self.h2.send_fields, self.stream_id, fields, end_stream)
        if end_stream:
            self.closed = True

    def respond(self, fields: Headers, data: bytes) -> None:
        """send_fields() and finish() at once: the head (which ends the stream when there
        is no body) and what the windows allow of the body now, the rest at flush()."""
        if self.write_failed or self.closed:
            raise ClientDisconnected("the client reset the stream")
        h2 = self.h2
        try:
            if not data:
                h2.send_fields(self.stream_id, fields, True)
                sent = 0
            else:
                if type(data) is not bytes:  # the frames are views of it until written
                    data = bytes(data)
                sent = h2.send_response(self.stream_id, fields, data)
        except StreamGone:
            self.write_failed = True
            raise ClientDisconnected("the client reset the stream") from None
        if sent < len(data):
            self._out = memoryview(data)[sent:] if sent else data
            self._out_end = True
        else:
            self.closed = True
        self.driver.queue_out()

    def push(self, data: bytes) -> bool:
        """Body bytes: sent as far as the windows allow; True when drain() must follow."""
        self._take(data)
        self._send_some()
        return bool(self._out) or self.driver.must_drain()

    def finish(self, data: bytes, trailers: Headers | None = None) -> None:
        """The last body bytes (and trailers): what the windows allow goes now, the rest
        once the app's task flushes the stream (the cycle does not wait for it)."""
        self._take(data)
        self._out_end = True
        self._trailers = trailers
        self._send_some()

    def _take(self, data: bytes) -> None:
        # The frames are views of these bytes until written: a mutable buffer is copied.
        if type(data) is not bytes:
            data = bytes(data)
        self._out = b"".join((self._out, data)) if self._out else data

    def _send_some(self) -> None:
        if self.closed:
            if self.write_failed or self.peer_gone:
                raise ClientDisconnected("the client reset the stream")
            return
        out = self._out
        last = self._out_end and self._trailers is None
        try:
            sent = self.h2.send_data(self.stream_id, out, end_stream=last)
        except StreamGone:
            self.write_failed = True
            raise ClientDisconnected("the client reset the stream") from None
        self._out = memoryview(out)[sent:] if sent < len(out) else b""
        if not self._out and self._out_end:
            if self._trailers is not None:
                self._call_h2(self.h2.send_trailers, self.stream_id, self._trailers)
            self.closed = True
        self.driver.queue_out()

    async def drain(self) -> None:
        """Until what push() kept is sent and the socket has room: WINDOW_UPDATEs and the
        client's reads must come within timeout_io."""
        if not self._out:  # only room in the writer's queue: its own timeout bounds that
            await self.driver.drain()
            return
        with anyio.move_on_after(self.config.timeout_io):
            while self._out:
                if self.peer_gone:
                    raise ClientDisconnected("the client reset the stream")
                await self._wait()
                self._send_some()
            await self.driver.drain()
            return
        self.write_failed = True
        raise ClientDisconnected("the client stopped reading the response")

    async def flush(self) -> None:
        """After the app: the rest of a finished response, within timeout_io."""
        if (self._out or self._out_end) and not self.closed:
            with contextlib.suppress(ClientDisconnected):
                await self.drain()

    async def write(self, data: bytes) -> None:
        if data:  # the cycle hands over bytes only from HTTP/1.1 framing
            raise RuntimeError("an HTTP/2 stream takes no HTTP/1.1 bytes")

    async def write_file(self, file: IO[bytes], offset: int, count: int) -> None:
        raise RuntimeError("no sendfile on HTTP/2")  # can_sendfile() is false here

    async def send_error(
        self, status: int, detail: str = "", headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """A short plain-text error response on this stream."""
        if self.closed or self.write_failed:
            return
        text = reason_phrase(status).decode() or "Error"
        body = (f"{status} {text}" + (f": {detail}" if detail else "") + "\n").encode()
        fields: Headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            *self.ctx.defaults,
            *headers,
        ]
        with contextlib.suppress(ClientDisconnected):
            self.send_head(status, fields, False)
            self.finish(body)
            await self.flush()

    def abort(self) -> None:
        """The response cannot be completed: reset the stream (INTERNAL_ERROR)."""
        self.write_failed = True
        if not self.closed:
            self.closed = True
            self.h2.reset_stream(self.stream_id, ErrorCode.INTERNAL_ERROR)
            self.driver.queue_out()

    def log_bad_request(self, exc: ProtocolError) -> None:
        self.ctx.error_log.info("%s: %d %s", self.peer, exc.status, exc.detail)
        if self.ctx.metrics is not None:
            self.ctx.metrics.protocol_error(exc.status)
