"""ServerH2: h2's H2Connection with a server's stream admission, error codes and field rules."""

from __future__ import annotations

import sys
from typing import Any, cast

import h2.connection
import h2.events
import h2.stream
from h2.errors import ErrorCodes
from h2.stream import StreamClosedBy
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hyperframe.frame import RstStreamFrame, WindowUpdateFrame

from .decoder import ServerDecoder
from .events import ErrorCode, RequestHead, StreamReset
from .inbound import Malformed, inbound_trailers, request_head
from .lifecycle import StreamMaker
from .tables import bound_decoder

_RECEIVING = {h2.stream.StreamState.OPEN, h2.stream.StreamState.HALF_CLOSED_LOCAL}


class ServerH2(h2.connection.H2Connection):
    """h2 with the stream admission decided here: past `cap` busy streams, or above the
    last stream id of our GOAWAY, a new stream is refused (REFUSED_STREAM, a stream error
    the client may retry) after its header block is decoded, keeping HPACK in step. A
    request's fields are checked and split here (`inbound`), so h2's RequestReceived
    becomes our RequestHead, and a malformed block resets its stream before h2 reads
    any later frame of it."""

    busy: set[int]
    refuse_above: int
    failure: ErrorCode | None
    connect_protocol: bool  # SETTINGS_ENABLE_CONNECT_PROTOCOL advertised
    # Read per stream, kept here while the settings they come from stay (h2's Settings
    # look each one up by an enum hashed in Python): the streams we admit at once, and
    # the maker of new streams (None until the next is needed).
    decoder: ServerDecoder
    cap: int
    maker: StreamMaker | None = None
    # The last request stream the express lane opened: (header block, the decoder's
    # table changes, END_STREAM, its remembered head and length).
    last_open: tuple[bytes, int, bool, tuple[RequestHead, int | None]] | None = None

    def _receive_headers_frame(self, frame: Any) -> Any:
        sid = frame.stream_id
        if (
            sid not in self.streams
            and sid & 1
            and sid > self.highest_inbound_stream_id
            and (len(self.busy) >= self.cap or sid > self.refuse_above)
        ):
            h2.connection._decode_headers(self.decoder, frame.data)
            self.highest_inbound_stream_id = sid
            self._closed_streams[sid] = StreamClosedBy.SEND_RST_STREAM
            reset = RstStreamFrame(sid)
            reset.error_code = ErrorCodes.REFUSED_STREAM
            return [reset], []
        frames, events = super()._receive_headers_frame(frame)
        found: list[Any] = events
        for i, event in enumerate(found):
            if isinstance(event, h2.events.RequestReceived):
                ended = event.stream_ended is not None
                try:
                    found[i] = request_head(sid, event.headers, ended, self.connect_protocol)
                except Malformed:
                    return frames + self._malformed(sid), []  # no cycle to tell
                self.busy.add(sid)  # here, not per batch: one read may open many streams
            elif isinstance(event, h2.events.TrailersReceived):
                try:
                    event.headers = list(inbound_trailers(cast("Any", event.headers)))
                except Malformed:
                    return frames + self._malformed(sid), [
                        StreamReset(sid, ErrorCode.PROTOCOL_ERROR, by_peer=False)
                    ]
        return frames, found  # a RequestHead's StreamEnded stays: H2ServerConnection skips it

    def _malformed(self, stream_id: int) -> list[Any]:
        """RST_STREAM(PROTOCOL_ERROR) for a malformed block (RFC 9113 §8.1.1); later frames
        on the stream are h2's to refuse as on any stream we reset."""
        stream = self.streams[stream_id]
        frames = [] if stream.closed else stream.reset_stream(ErrorCodes.PROTOCOL_ERROR)
        if stream_id not in self.busy:  # no cycle will release it
            self.forget(stream_id)
        return frames

    def _local_settings_acked(self) -> Any:
        changes = super()._local_settings_acked()
        bound_decoder(self.decoder, self.local_settings.header_table_size, acked=True)
        self.settings_changed()
        return changes

    def _acknowledge_settings(self) -> Any:
        frames = super()._acknowledge_settings()
        self.settings_changed()
        return frames

    def settings_changed(self) -> None:
        """Either side's settings may have changed: what is kept of them is read again."""
        self.cap = self.local_settings.max_concurrent_streams
        self.maker = None

    def new_stream(self, stream_id: int) -> h2.stream.H2Stream:
        """h2's `_begin_new_stream` for a client stream the caller has admitted, without
        its checks (the caller's) and its debug log calls."""
        maker = self.maker
        if maker is None:
            maker = self.maker = StreamMaker(
                self.config,
                self.local_settings.initial_window_size,
                self.remote_settings.initial_window_size,
                self.max_outbound_frame_size,
            )
        stream = self.streams[stream_id] = maker.make(stream_id)
        self.highest_inbound_stream_id = stream_id
        return stream

    @property
    def open_inbound_streams(self) -> int:
        # h2 walks every stream for this count at each new one (and drops the closed ones
        # as it goes): admission is decided above, on `busy`, which covers every open
        # stream, and `forget` drops a stream once its cycle is released.
        return len(self.busy)

    def forget(self, stream_id: int) -> None:
        """A closed stream out of h2's table (as h2's walk would drop it)."""
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _terminate_connection(self, error_code: ErrorCodes) -> None:
        # h2 reports every HPACK failure as PROTOCOL_ERROR; RFC 7541 §2.3.3 and RFC 9113
        # §4.3 want COMPRESSION_ERROR, and an oversized list is a bomb (ENHANCE_YOUR_CALM).
        cause = getattr(sys.exc_info()[1], "__cause__", None)
        if isinstance(cause, OversizedHeaderListError):
            error_code = ErrorCodes.ENHANCE_YOUR_CALM
        elif isinstance(cause, HPACKError | IndexError | UnicodeDecodeError):
            error_code = ErrorCodes.COMPRESSION_ERROR
        self.failure = ErrorCode(error_code)
        super()._terminate_connection(error_code)

    def credit_connection(self, count: int) -> None:
        """Connection-level credit for `count` received bytes, whatever their stream does
        with them (its own window bounds what it may hold)."""
        increment = self._inbound_flow_control_window_manager.process_bytes(count)
        if increment:
            frame = WindowUpdateFrame(0)
            frame.window_increment = increment
            self._prepare_for_sending([frame])

    def credit_stream(self, stream_id: int, count: int, extra: int) -> bool:
        """Stream-level credit for `count` bytes the consumer took, and the window made
        `extra` bytes larger for good; False (nothing sent) when the client can no longer
        send on the stream."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.state_machine.state not in _RECEIVING:
            return False
        manager = stream._inbound_window_manager
        manager.max_window_size += extra  # h2's own growth would forget unreturned credit
        manager.current_window_size += extra
        increment = extra + (manager.process_bytes(count) or 0)
        if increment:
            frame = WindowUpdateFrame(stream_id)
            frame.window_increment = increment
            self._prepare_for_sending([frame])
        return True
