"""HTTP/2 CONNECT streams: a WebSocket over one stream (RFC 8441), the rest refused.

The WebSocket session is the HTTP/1.1 one: it reads and writes a byte stream and answers
the handshake through a codec. `H2Tunnel` is both for one stream, so RFC 6455 frames
travel in DATA frames and no WebSocket rule is written twice; only the handshake's
answer differs (RFC 8441 §5: a 200, no Upgrade or accept token), which the session
decides (`Offer.key` is None over HTTP/2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

import anyio

from ..http1.events import Body, RequestHead
from ..types import ConnInfo, Headers
from .h2stream import H2Stream
from .switch import serve_ws

if TYPE_CHECKING:
    from .h2connection import H2Driver

Fields: TypeAlias = Sequence[tuple[bytes, bytes]]


class H2Tunnel(H2Stream):
    """One CONNECT stream as the session's byte stream and its Framing.

    Bytes received return their flow-control credit only as the session reads them: a
    session that stops reading (its inbox full) stops the client once the stream's
    window (`--h2-stream-buffer`) is spent. Bytes sent go out as far as the windows
    allow, then wait for WINDOW_UPDATE within timeout_io, as a response's body does (the
    reader and a writer may wait at once: H2Stream wakes every waiter)."""

    trailing_data = b""  # nothing arrives ahead of the handshake: DATA is read as it comes

    def __init__(self, driver: H2Driver, stream_id: int, request: RequestHead) -> None:
        super().__init__(driver, stream_id, request)
        self._ending = False  # send_end() was called: the next send() ends the stream
        self._eof_sent = False  # END_STREAM queued: nothing more is read

    # -- the byte stream ---------------------------------------------------------------
    async def receive(self, max_bytes: int = 65_536) -> bytes:
        """The next DATA bytes (their credit goes back now); EndOfStream after the client's
        END_STREAM, or once ours is sent: after the close handshake there is nothing to
        linger for, unlike TCP, since no unread input can destroy our last frames.
        BrokenResourceError once the client reset the stream or the connection is gone."""
        inbox = self.inbox
        while not inbox:
            if self.peer_gone:
                raise anyio.BrokenResourceError
            if self._eof_sent:
                raise anyio.EndOfStream
            await self._wait()
        event = inbox[0]
        if type(event) is not Body:
            raise anyio.EndOfStream  # left queued: every later call ends the same way
        data = event.data
        if len(data) > max_bytes:
            inbox[0] = Body(data[max_bytes:])
            data = data[:max_bytes]
        else:
            inbox.popleft()
        self.h2.acknowledge(self.stream_id, len(data))
        self.driver.queue_out()
        return data

    async def send(self, item: bytes) -> None:
        """DATA frames, waiting within timeout_io for the windows and the writer; they end
        the stream when send_end() came first. ClientDisconnected when they cannot go."""
        if self._ending:
            self._ending = False
            self._eof_sent = True
            self.finish(item)
            await self.drain()
        elif self.push(item):
            await self.drain()

    async def send_eof(self) -> None:
        """END_STREAM: our side of the tunnel is done (the close handshake is over)."""
        if not self.closed:
            self._eof_sent = True
            self.finish(b"")
            await self.drain()

    async def aclose(self) -> None:
        """Nothing here: the driver ends the stream when the task is over (RST_STREAM when
        either side is still open)."""

    # -- the Framing: the handshake's answers ------------------------------------------
    def send_response(self, status: int, headers: Headers, defaults: Fields = ()) -> bytes:
        """The response HEADERS, sent now (without END_STREAM); no bytes to write."""
        names = {name.lower() for name, _ in headers}
        fields = [*headers, *(pair for pair in defaults if pair[0] not in names)]
        self.send_head(status, fields, False)
        return b""

    def send_body(self, data: bytes) -> bytes:
        return data

    def send_end(self, trailers: Fields = ()) -> bytes:
        self._ending = True
        return b""


async def serve_connect(port: H2Tunnel, info: ConnInfo) -> None:
    """A CONNECT stream. `:protocol websocket` reaches here only when WebSockets are served
    (otherwise the connection did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and reset
    the stream); it is served by the WebSocket session. A plain CONNECT (a proxy tunnel,
    RFC 9113 §8.5) or another protocol gets 501: duoserve is no proxy."""
    head = port.request
    ctx = port.ctx
    if head.upgrade == b"websocket" and ctx.websocket_enabled:
        await serve_ws(port.stream, port, head, info, ctx)
        return
    if head.upgrade is None:
        detail = "CONNECT tunnels are not served"
    else:
        detail = f"CONNECT :protocol {head.upgrade.decode('latin-1')!r} is not served"
    ctx.error_log.info("%s: 501 %s", port.peer, detail)
    await port.send_error(501, detail)
