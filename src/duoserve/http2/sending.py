"""DATA and HEADERS frames built by hand, h2's state machines and windows moved as h2 moves them.

h2 builds a frame object per frame and copies every payload twice on the way out; here a
frame is a 9-byte head and the payload a view of the caller's bytes, which the driver
writes with one writev. The state transitions are h2's (`lifecycle` makes the usual
ones by assignment) and so is the window accounting, in the order its send_data and
send_headers make them (state first, then HPACK, so a refused transition never leaves
the client's decoder out of step). A whole response (head and body in one call, as most
are) is one pass: `response_frames`.
"""

from __future__ import annotations

import struct

import h2.connection
import h2.exceptions
import h2.stream

from .events import StreamGone
from .lifecycle import data_sent, head_sent, responded

Piece = bytes | memoryview

_HEAD = struct.Struct(">LBL").pack  # (length << 8 | type), flags, stream id
_DATA, _HEADERS, _CONTINUATION = 0x0, 0x1, 0x9
_END_STREAM, _END_HEADERS = 0x1, 0x4
_Conn = h2.connection.ConnectionInputs
_Stream = h2.stream.StreamInputs
_Error = h2.exceptions.ProtocolError
# Sending HEADERS or DATA on an open connection leaves its state machine as it is: only
# another state needs h2's transition (or its refusal).
_OPEN = h2.connection.ConnectionState.SERVER_OPEN


def _stream(conn: h2.connection.H2Connection, stream_id: int) -> h2.stream.H2Stream:
    stream = conn.streams.get(stream_id)
    if stream is None:
        raise StreamGone(f"stream {stream_id} is closed")
    return stream


def data_frames(
    conn: h2.connection.H2Connection, stream_id: int, data: Piece, end_stream: bool
) -> tuple[int, list[Piece]]:
    """DATA frames for as much of `data` as the windows allow, in frames of the client's
    maximum size: (bytes taken, the frames' pieces). END_STREAM only with the last byte.
    StreamGone when the stream cannot send."""
    stream = _stream(conn, stream_id)
    total = len(data)
    # A window is negative when the client shrank SETTINGS_INITIAL_WINDOW_SIZE under it.
    window = min(conn.outbound_flow_control_window, stream.outbound_flow_control_window)
    allowed = min(total, max(window, 0))
    last = end_stream and allowed == total
    if not allowed and not last:
        return 0, []
    try:
        if conn.state_machine.state is not _OPEN:
            conn.state_machine.process_input(_Conn.SEND_DATA)
        data_sent(stream.state_machine, last)
    except _Error as exc:
        raise StreamGone(str(exc)) from None
    conn.outbound_flow_control_window -= allowed
    stream.outbound_flow_control_window -= allowed
    size = conn.max_outbound_frame_size
    flags = _END_STREAM if last else 0
    if allowed <= size:
        part = data if allowed == total else memoryview(data)[:allowed]
        return allowed, [_HEAD(allowed << 8 | _DATA, flags, stream_id), part]
    view = memoryview(data)
    pieces: list[Piece] = []
    start, end = 0, allowed - size
    while start < end:
        pieces += (_HEAD(size << 8 | _DATA, 0, stream_id), view[start : start + size])
        start += size
    pieces += (_HEAD((allowed - start) << 8 | _DATA, flags, stream_id), view[start:allowed])
    return allowed, pieces


def head_frames(
    conn: h2.connection.H2Connection,
    stream_id: int,
    fields: list[tuple[bytes, bytes]],
    end_stream: bool,
) -> list[Piece]:
    """A response head (`headers.response_fields`: :status first, lower-cased, checked) as
    HEADERS and, past the client's frame size, CONTINUATION frames. StreamGone when the
    stream cannot send it."""
    stream = _stream(conn, stream_id)
    informational = fields[0][1][:1] == b"1"
    try:
        if conn.state_machine.state is not _OPEN:
            conn.state_machine.process_input(_Conn.SEND_HEADERS)
        if not informational:
            head_sent(stream.state_machine, end_stream)
        elif end_stream:
            raise _Error("END_STREAM on an informational response")
        else:
            stream.state_machine.process_input(_Stream.SEND_INFORMATIONAL_HEADERS)
    except _Error as exc:
        raise StreamGone(str(exc)) from None
    block = conn.encoder.encode(fields)
    size = conn.max_outbound_frame_size
    flags = _END_STREAM if end_stream else 0
    if len(block) <= size:
        return [_HEAD(len(block) << 8 | _HEADERS, flags | _END_HEADERS, stream_id), block]
    return _continued(block, size, flags, stream_id)


def _continued(block: bytes, size: int, flags: int, stream_id: int) -> list[Piece]:
    """A header block past one frame: HEADERS, then CONTINUATION frames, the last with
    END_HEADERS."""
    pieces: list[Piece] = [_HEAD(size << 8 | _HEADERS, flags, stream_id), block[:size]]
    start = size
    while start < len(block):
        part = block[start : start + size]
        start += size
        done = _END_HEADERS if start >= len(block) else 0
        pieces += (_HEAD(len(part) << 8 | _CONTINUATION, done, stream_id), part)
    return pieces


def response_frames(
    conn: h2.connection.H2Connection,
    stream_id: int,
    fields: list[tuple[bytes, bytes]],
    data: bytes,
) -> tuple[int, list[Piece]]:
    """head_frames() and data_frames() of a whole response (`data` not empty, END_STREAM
    with its last byte): (body bytes taken, the pieces). In one pass when the head fits a
    frame and the windows take the whole body in one, else as the two calls."""
    stream = conn.streams.get(stream_id)
    total = len(data)
    if (
        stream is None
        or conn.state_machine.state is not _OPEN
        or total > conn.max_outbound_frame_size
        or total > conn.outbound_flow_control_window
        or total > stream.outbound_flow_control_window
    ):
        pieces = head_frames(conn, stream_id, fields, False)
        sent, more = data_frames(conn, stream_id, data, True)
        return sent, pieces + more
    try:
        responded(stream.state_machine)
    except _Error as exc:
        raise StreamGone(str(exc)) from None
    block = conn.encoder.encode(fields)
    conn.outbound_flow_control_window -= total
    stream.outbound_flow_control_window -= total
    data_head = _HEAD(total << 8 | _DATA, _END_STREAM, stream_id)
    if len(block) > conn.max_outbound_frame_size:  # the head in CONTINUATION frames
        pieces = _continued(block, conn.max_outbound_frame_size, 0, stream_id)
        pieces += (data_head, data)
        return total, pieces
    return total, [
        _HEAD(len(block) << 8 | _HEADERS, _END_HEADERS, stream_id),
        block,
        data_head,
        data,
    ]
