"""H2ServerConnection: one server-side HTTP/2 connection, sans-IO, with the flood guard in front.

Bytes in, typed events out (`http2.events`); calls in, frames out (`output()`, pieces to
write together, or `data_to_send()` joined). h2 does the protocol, though DATA and response
HEADERS frames are built in `sending` (cheaper than h2's frame objects, h2's state kept)
and request fields are checked in `inbound` (cheaper than h2's validators); this class
and `engine.ServerH2` add what h2 lacks or gets wrong for a server: the guard's rate
limits, refusing streams beyond the advertised limit with REFUSED_STREAM (h2 would end
the whole connection), the right GOAWAY code for HPACK errors, flow control that bounds
what is buffered per stream without one stream's unread body stalling the others (see
`FlowBudget`), and a graceful GOAWAY after which in-flight streams still get their frames
(h2 sends nothing after a GOAWAY of its own).
"""

from __future__ import annotations

import contextlib
import time
from base64 import urlsafe_b64encode
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
from hyperframe.frame import GoAwayFrame, PingFrame

from . import express
from .decoder import ServerDecoder
from .engine import ServerH2
from .events import (
    BodyData,
    ConnectionFailed,
    ErrorCode,
    Event,
    GoAwayReceived,
    Headers,
    RequestHead,
    StreamEnded,
    StreamGone,
    StreamReset,
    WindowOpened,
    error_code,
)
from .flow import FlowBudget
from .guard import FrameGuard
from .headers import response_fields, trailer_fields
from .limits import DEFAULT_WINDOW, H2Limits
from .sending import data_frames, head_frames, response_frames
from .tables import ServerEncoder, bound_decoder

LAST_STREAM_ID = 2**31 - 1
_CLOSED = h2.stream.StreamState.CLOSED
_SHUTDOWN_PING = b"duo-stop"


class H2ServerConnection:
    """The server side of one HTTP/2 connection. Call `initiate()` first."""

    def __init__(self, limits: H2Limits, now: float | None = None) -> None:
        self.limits = limits
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            validate_inbound_headers=False,  # `inbound` checks them, in one pass
            normalize_inbound_headers=False,
        )
        conn = ServerH2(config)
        conn.busy = set()
        conn.refuse_above = LAST_STREAM_ID
        conn.failure = None
        conn.connect_protocol = limits.websocket
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
                h2.settings.SettingCodes.HEADER_TABLE_SIZE: limits.header_table_size,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: limits.max_frame_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: DEFAULT_WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: int(limits.websocket),
            },
        )
        conn.settings_changed()
        # HPACK counts the list size while decoding: a bomb stops at the limit.
        conn.decoder = ServerDecoder(limits.max_header_list_size)
        conn.encoder = ServerEncoder(limits.header_table_size)
        bound_decoder(conn.decoder, limits.header_table_size, acked=False)
        self._h2 = conn
        self._guard = FrameGuard(limits, time.monotonic() if now is None else now)
        self._flow = FlowBudget(limits)
        self._trailers: dict[int, Headers] = {}
        self._pieces: list[bytes | memoryview] = []  # frames to send: h2's, then ours
        self.ended = False  # GOAWAY sent or received: no more reading
        self.stopping = False  # graceful GOAWAY sent

    # -- set-up --------------------------------------------------------------------------
    def initiate(self, upgrade_settings: bytes | None = None) -> None:
        """Queue our SETTINGS and open the connection window to its bound. With the
        decoded HTTP2-Settings of an `Upgrade: h2c` request, stream 1 is that request
        (half-closed; `upgrade_head()` gives its head)."""
        conn = self._h2
        if upgrade_settings is None:
            conn.initiate_connection()
        else:
            conn.initiate_upgrade_connection(urlsafe_b64encode(upgrade_settings))
            conn.settings_changed()
            conn.busy.add(1)
        extra = self.limits.connection_receive_buffer - DEFAULT_WINDOW
        if extra:
            conn.increment_flow_control_window(extra)

    # -- input -----------------------------------------------------------------------------
    def receive_data(self, data: bytes, now: float | None = None) -> list[Event]:
        """Feed bytes from the client; the events they complete. After a ConnectionFailed or
        a GoAwayReceived, write `data_to_send()` and close: later input is ignored."""
        if self.ended or not data:
            return []
        violation = self._guard.scan(data, time.monotonic() if now is None else now)
        if violation is not None:
            return [self._fail(violation.error_code, violation.reason)]
        conn = self._h2
        try:
            h2_events = express.receive(conn, data)
        except h2.exceptions.ProtocolError as exc:
            self.ended = True
            code = conn.failure or ErrorCode(exc.error_code)
            return [ConnectionFailed(code, str(exc) or type(exc).__name__)]
        events: list[Event] = []
        whole: set[int] = set()  # requests without a body: their end is in the head
        for ev in h2_events:
            if isinstance(ev, RequestHead):  # ServerH2's, checked
                if ev.end_stream:
                    whole.add(ev.stream_id)
                events.append(ev)
            elif isinstance(ev, h2.events.DataReceived):
                sid = ev.stream_id
                body = ev.data or b""
                counted = ev.flow_controlled_length or 0
                conn.credit_connection(counted)  # the stream's window bounds it
                if counted > len(body):  # the stream's credit for padding goes back at once
                    conn.credit_stream(sid, counted - len(body), 0)
                if body:
                    events.append(BodyData(sid, body))
            elif isinstance(ev, h2.events.TrailersReceived):
                self._trailers[ev.stream_id] = list(ev.headers or [])
            elif isinstance(ev, h2.events.StreamEnded):
                sid = ev.stream_id
                if sid not in whole:
                    events.append(StreamEnded(sid, self._trailers.pop(sid, [])))
            elif isinstance(ev, h2.events.StreamReset):
                events.append(StreamReset(ev.stream_id, error_code(ev.error_code), True))
            elif isinstance(ev, StreamReset):  # ServerH2's, for malformed trailers
                self._trailers.pop(ev.stream_id, None)
                events.append(ev)
            elif isinstance(ev, h2.events.WindowUpdated):
                events.append(WindowOpened(ev.stream_id or 0))
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
                    events.append(WindowOpened(0))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.ended = True
                events.append(
                    GoAwayReceived(error_code(int(ev.error_code or 0)), ev.last_stream_id or 0)
                )
            elif (
                isinstance(ev, h2.events.PingAckReceived)
                and ev.ping_data == _SHUTDOWN_PING
                and self.stopping
            ):
                self._final_goaway()
        return events

    def _fail(self, code: ErrorCode, reason: str) -> ConnectionFailed:
        self.ended = True
        self._goaway(code, self._h2.highest_inbound_stream_id)
        return ConnectionFailed(code, reason)

    # -- output ----------------------------------------------------------------------------
    def output(self) -> list[bytes | memoryview]:
        """The frames to write to the client now, in order, as pieces to write together
        (DATA payloads are views of the app's bytes, not copies)."""
        pieces = self._pieces
        data = self._h2.data_to_send() if self._h2._data_to_send else b""
        if not pieces:
            return [data] if data else []
        if data:
            pieces.append(data)
        self._pieces = []
        return pieces

    def data_to_send(self) -> bytes:
        """The bytes to write to the client now, joined."""
        return b"".join(self.output())

    def _write(self, *pieces: bytes | memoryview) -> None:
        """Frames built here, after what h2 has queued."""
        out = self._pieces
        if self._h2._data_to_send:  # h2's frames first (h2 copies even when it has none)
            out.append(self._h2.data_to_send())
        out.extend(pieces)

    def send_head(
        self, stream_id: int, status: int, headers: Headers, end_stream: bool = False
    ) -> None:
        """A response head (or a 1xx). ValueError for fields HTTP/2 cannot carry; StreamGone
        when the stream is reset or the connection over."""
        self.send_fields(stream_id, response_fields(status, headers), end_stream)

    def send_fields(self, stream_id: int, fields: Headers, end_stream: bool = False) -> None:
        """send_head() of what `headers.response_fields` made of it."""
        self._write(*head_frames(self._h2, stream_id, fields, end_stream))

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> int:
        """As much of `data` as the stream's and the connection's windows allow, in frames
        of the client's maximum size; how many bytes went. END_STREAM only with the last.
        StreamGone when the stream cannot send. The frames are views of `data` until
        written: it must not change."""
        sent, pieces = data_frames(self._h2, stream_id, data, end_stream)
        if pieces:
            self._write(*pieces)
            self._guard.credit_sent_data(len(pieces) // 2)
        return sent

    def send_response(self, stream_id: int, fields: Headers, data: bytes) -> int:
        """send_fields() and send_data(end_stream=True) at once, for a response whose body
        (not empty) is all there: how many of its bytes went (the rest is send_data()'s,
        when the windows open)."""
        sent, pieces = response_frames(self._h2, stream_id, fields, data)
        self._write(*pieces)
        if sent:  # a control frame earned per DATA frame (see send_data)
            self._guard.credit_sent_data(-(-sent // self._h2.max_outbound_frame_size))
        return sent

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        """The trailer section, which ends the stream."""
        self._call(self._h2.send_headers, stream_id, trailer_fields(headers), end_stream=True)

    def end_stream(self, stream_id: int) -> None:
        self._call(self._h2.end_stream, stream_id)

    def reset_stream(self, stream_id: int, code: ErrorCode = ErrorCode.INTERNAL_ERROR) -> None:
        """RST_STREAM, unless the stream is closed already (then nothing is sent)."""
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.reset_stream(stream_id, code)

    def window(self, stream_id: int) -> int:
        """Body bytes the stream may send now: the smaller of its window and the
        connection's. StreamGone when it cannot send at all."""
        try:
            return self._h2.local_flow_control_window(stream_id)
        except h2.exceptions.ProtocolError:
            raise StreamGone(f"stream {stream_id} is closed") from None

    def acknowledge(self, stream_id: int, count: int) -> None:
        """The consumer has taken `count` body bytes: the stream gets that credit back, and
        a larger window while the connection's budget has room (`FlowBudget`)."""
        if count and not self.ended:
            flow = self._flow
            extra = flow.growth(stream_id)
            if not self._h2.credit_stream(stream_id, count, extra):
                flow.give_back(stream_id, extra)

    def release(self, stream_id: int) -> None:
        """The stream's cycle is over: its slot counts no more against the stream limit
        (a reset stream keeps its slot until then, so resets free no work). A stream
        still open is reset (CANCEL): h2 counts it against the limit as long as it is."""
        conn = self._h2
        stream = conn.streams.get(stream_id)
        conn.busy.discard(stream_id)
        if stream is not None:
            machine = stream.state_machine
            if machine.state is not _CLOSED:
                # A complete response to a request still being sent: NO_ERROR (§8.1).
                done = machine.state is h2.stream.StreamState.HALF_CLOSED_LOCAL
                self.reset_stream(stream_id, ErrorCode.NO_ERROR if done else ErrorCode.CANCEL)
            if machine.state is _CLOSED:  # out of h2's table, as its own walk would drop it
                del conn.streams[stream_id]
                conn._closed_streams[stream_id] = machine.stream_closed_by
        if self._trailers:
            self._trailers.pop(stream_id, None)
        self._flow.release(stream_id)

    @property
    def busy(self) -> int:
        """Streams whose cycles have not been released."""
        return len(self._h2.busy)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> None:
        if self.ended and self._h2.state_machine.state is h2.connection.ConnectionState.CLOSED:
            raise StreamGone("the connection is closed")
        try:
            method(*args, **kwargs)
        except h2.exceptions.ProtocolError as exc:
            raise StreamGone(str(exc)) from None

    # -- shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Graceful GOAWAY (RFC 9113 §6.8): last-stream-id 2^31-1 and a PING; the final
        GOAWAY, naming the last stream we take, follows the PING's ACK (or `close()`).
        In-flight streams go on; newer ones are refused."""
        if self.stopping or self.ended:
            return
        self.stopping = True
        self._goaway(ErrorCode.NO_ERROR, LAST_STREAM_ID)
        ping = PingFrame(0)
        ping.opaque_data = _SHUTDOWN_PING
        self._write(ping.serialize())

    def close(self, code: ErrorCode = ErrorCode.NO_ERROR) -> None:
        """The last GOAWAY before the connection is closed (none when one was sent)."""
        if not self.ended:
            self.ended = True
            self._goaway(code, self._h2.highest_inbound_stream_id)

    def _final_goaway(self) -> None:
        last = self._h2.highest_inbound_stream_id
        self._h2.refuse_above = last
        self._goaway(ErrorCode.NO_ERROR, last)

    def _goaway(self, code: ErrorCode, last_stream_id: int) -> None:
        # Written by hand: after h2's own GOAWAY its state machine refuses every frame,
        # DATA of the streams still in flight included.
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = code
        self._write(frame.serialize())
