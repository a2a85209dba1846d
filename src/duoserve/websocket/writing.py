"""A WebSocket session's writes: one writer at a time, frames in wsproto's order, the close."""

from __future__ import annotations

import contextlib

import anyio
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Event

from ..errors import ClientDisconnected
from ..types import Headers
from ..types import Message as ASGIMessage
from .frames import BINARY, TEXT, data_frame
from .messages import allowed
from .state import ABNORMAL, STREAM_ERRORS, Phase, SessionState


class SessionWriter(SessionState):
    """The session's output: plain HTTP for a refusal, frames on the open connection (the
    writer lock held), a failed write concluding the connection, the close handshake begun."""

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
        if isinstance(exc, STREAM_ERRORS):
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
