"""What one WebSocket session holds: its phase, its state, and how the connection concludes."""

from __future__ import annotations

import enum
from typing import Protocol

import anyio
import anyio.abc
from wsproto.connection import Connection
from wsproto.events import Event

from ..asgi.context import ServerContext
from ..net.streams import hooks_data, writes
from ..net.wakeup import Wakeup
from ..types import Headers
from .frames import LARGEST
from .handshake import Offer
from .inbox import Inbox
from .messages import Reassembler
from .writer_lock import WriterLock

READ_SIZE = 64 * 1024
STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
ABNORMAL = 1006  # RFC 6455 §7.1.5: closed without a close frame
GOING_AWAY = 1001  # RFC 6455 §7.4.1: the server is going down (shutdown)


class Phase(enum.Enum):
    HANDSHAKE = "handshake"  # waiting for the app's accept, close or HTTP response
    RESPONSE = "response"  # the app's HTTP (denial) response is being sent
    OPEN = "open"
    CLOSING = "closing"  # our close frame is out; waiting for the peer's
    CLOSED = "closed"


class Framing(Protocol):
    """The HTTP beneath a session, for the handshake's answers: the connection's H1Codec
    over HTTP/1.1 (the bytes it returns are written), the stream itself over HTTP/2 (it
    sends HEADERS at once and returns the body bytes, for DATA frames)."""

    keep_alive: bool

    @property
    def trailing_data(self) -> bytes: ...

    def send_informational(self, status: int, headers: Headers) -> bytes: ...

    def send_response(self, status: int, headers: Headers, defaults: Headers = ...) -> bytes: ...

    def send_body(self, data: bytes) -> bytes: ...

    def send_end(self, trailers: Headers = ...) -> bytes: ...


class SessionState:
    """The state the session's parts share (session.py, writing.py, reading.py), set up
    once per WebSocket, and the one way the connection ends (_conclude)."""

    def __init__(self, stream: anyio.abc.ByteStream, codec: Framing, ctx: ServerContext) -> None:
        self._stream = stream
        self.status = 0  # the handshake's answer once sent: 101 (200 on HTTP/2), or a refusal's
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

    def _conclude(self, code: int, reason: str) -> None:
        """The connection is over: record what the app will see, wake its receive(), stop
        the background tasks. Only the first call decides the code."""
        if self._disconnect is None:
            self._disconnect = (code, reason)
        self._phase = Phase.CLOSED
        self._inbox.close()
        self._services.cancel()
