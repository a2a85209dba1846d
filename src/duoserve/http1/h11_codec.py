"""H1Codec over h11: our head pre-scan and RFC 9112 checks first, h11 for the parsing.

A head pre-scan enforcing our limits and RFC 9112 rules where h11 is lax, h11 for parsing,
and the shared ResponseWriter for the way out."""

from __future__ import annotations

import h11

from ..config.settings import Config
from ..errors import ProtocolError
from .events import Body, CodecEvent, EndOfRequest, Signal
from .framing import ResponseSide
from .head import HeadLimits, build_head, find_head

_MIGHT_SWITCH = h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]  # exported at runtime


class H11Codec(ResponseSide):
    """One instance per connection. A fresh h11.Connection parses each request, so the bytes
    that follow a request (pipelined requests, WebSocket frames) are always ours to hand on."""

    __slots__ = (
        "_body_limit",
        "_body_seen",
        "_buf",
        "_eof",
        "_h11",
        "_limits",
        "_max_incomplete",
    )

    def __init__(self, config: Config, limits: HeadLimits | None = None) -> None:
        super().__init__()
        self._limits = limits or HeadLimits(config)
        self._body_limit = config.limit_request_body
        self._max_incomplete = max(config.limit_request_head, 16 * 1024)
        self._buf = bytearray()
        self._eof = False
        self._h11: h11.Connection | None = None
        self._body_seen = 0

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._h11 is None:
            if data:
                self._buf += data
            else:
                self._eof = True
        else:
            self._h11.receive_data(data)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        if self._h11 is None:
            return len(self._buf)
        return len(self._h11.trailing_data[0])

    @property
    def trailing_data(self) -> bytes:
        """Bytes after the current request (after a 101: the new protocol's first bytes)."""
        if self._h11 is None:
            return bytes(self._buf)
        return self._h11.trailing_data[0]

    def feed(self, data: bytes) -> CodecEvent:
        """receive_data(data), then next_event()."""
        self.receive_data(data)
        return self.next_event()

    def next_event(self) -> CodecEvent:
        conn = self._h11
        if conn is None:
            return self._scan_head()
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            self.keep_alive = False
            raise ProtocolError(exc.error_status_hint, str(exc)) from None
        if type(event) is h11.Data:
            self._body_seen += len(event.data)
            if self._body_limit and self._body_seen > self._body_limit:
                self.keep_alive = False
                raise ProtocolError(413, "request body larger than the server accepts")
            return Body(bytes(event.data))
        if type(event) is h11.EndOfMessage:
            return EndOfRequest()
        if event is h11.NEED_DATA:
            return Signal.NEED_DATA
        if event is h11.PAUSED:
            return Signal.PAUSED
        return Signal.CLOSED  # h11.ConnectionClosed after a complete request

    def whole_body(self) -> None:
        """Never: h11 hands the body over as events (see the httptools codec)."""
        return None

    def _scan_head(self) -> CodecEvent:
        """Find one complete request head in our buffer and check it before h11 sees it."""
        buf = self._buf
        try:
            end = find_head(buf, self._eof, self._limits)
        except ProtocolError:
            self.keep_alive = False
            raise
        if isinstance(end, Signal):
            return end
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_incomplete)
        conn.receive_data(bytes(buf))
        buf.clear()
        if self._eof:
            conn.receive_data(b"")
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._fail(exc.error_status_hint, str(exc)) from None
        if not isinstance(event, h11.Request):  # pragma: no cover - head is complete
            raise self._fail(400, "malformed request")
        self._h11 = conn
        self._body_seen = 0
        http_version = "1.0" if event.http_version == b"1.0" else "1.1"
        try:
            head = build_head(
                bytes(event.method),
                bytes(event.target),
                http_version,
                list(event.headers),
                self._limits,
            )
        except ProtocolError:
            self.keep_alive = False
            raise
        self.keep_alive = head.keep_alive
        self._method = head.method
        self._version = http_version
        return head

    def request_complete(self) -> bool:
        """True once the whole current request, body included, has been parsed."""
        conn = self._h11
        return conn is not None and conn.their_state in (h11.DONE, h11.MUST_CLOSE, _MIGHT_SWITCH)

    def start_next_cycle(self) -> int:
        """Carry the bytes after this request over to the next one; how many there are."""
        conn = self._h11
        if conn is not None:
            data, closed = conn.trailing_data
            self._buf = bytearray(data)
            self._eof = self._eof or closed
        self._h11 = None
        self.writer = None
        self.keep_alive = True
        return len(self._buf)
