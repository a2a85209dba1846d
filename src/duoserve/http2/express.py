"""The express lane: a HEADERS frame that opens a request stream, taken without hyperframe.

Most of what a client sends is one HEADERS frame per request (END_HEADERS set, no
padding, no priority). Through h2 each costs a copy into its frame buffer, a hyperframe
object, a trace log of its repr, the dispatch, a stream event and a pass over the fields
to check content-length. Here the 9-byte head is read in place and the stream is opened
with h2's own calls (its connection and stream state machines, its stream objects, its
content-length rule, our `ServerDecoder`), so h2's state is what its own path would leave.
Every other frame, and a HEADERS frame in any other situation (a refusal, a header block
in progress, a partial frame held by h2, a connection not open), goes to h2 in order,
whole frames batched per call.
"""

from __future__ import annotations

from typing import Any

import h2.connection
import h2.exceptions
import h2.frame_buffer
import h2.stream

from .engine import ServerH2
from .inbound import Malformed, request_head

_HEADERS = 0x1
_END_STREAM, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x4, 0x8, 0x20
_PLAIN = _END_HEADERS | _PADDED | _PRIORITY  # of these flags, only END_HEADERS
_OPEN = h2.connection.ConnectionState.SERVER_OPEN
_READY = {h2.connection.ConnectionState.IDLE, _OPEN}  # where RECV_HEADERS opens a stream
_RECV = h2.connection.ConnectionInputs.RECV_HEADERS
_RECV_HEADERS = h2.stream.StreamInputs.RECV_HEADERS
_RECV_END_STREAM = h2.stream.StreamInputs.RECV_END_STREAM
# The bytes h2's frame buffer holds: `_data` since h2 4.2, `data` before.
_PENDING = "_data" if hasattr(h2.frame_buffer.FrameBuffer(), "_data") else "data"


def receive(conn: ServerH2, data: bytes) -> list[Any]:
    """What `conn.receive_data(data)` returns (h2's events, our RequestHead in place of
    RequestReceived), with new request streams opened here; ProtocolError as h2 raises."""
    buffer: Any = conn.incoming_buffer
    if getattr(buffer, _PENDING) or buffer._preamble_len:  # h2 holds part of a frame
        return conn.receive_data(data)  # all of it to h2
    events: list[Any] = []
    end = len(data)
    start = pos = 0  # data[start:pos] is whole frames not yet given to h2
    while end - pos >= 9:
        length = int.from_bytes(data[pos : pos + 3], "big")
        stop = pos + 9 + length
        if stop > end:
            break
        if data[pos + 3] == _HEADERS and data[pos + 4] & _PLAIN == _END_HEADERS:
            sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFF_FFFF
            if start < pos:
                events += conn.receive_data(data[start:pos])
            if _can_open(conn, sid, length):
                events += _open(conn, sid, data[pos + 9 : stop], bool(data[pos + 4] & _END_STREAM))
            else:
                events += conn.receive_data(data[pos:stop])
            start = stop
        pos = stop
    if start < end:
        events += conn.receive_data(data[start:] if start else data)
    return events


def _can_open(conn: ServerH2, sid: int, length: int) -> bool:
    """A new client stream h2 would open, that we admit, with nothing unusual about it."""
    return (
        sid & 1 == 1
        and sid > conn.highest_inbound_stream_id
        and conn.state_machine.state in _READY
        and not conn.incoming_buffer._headers_buffer
        and length <= conn.max_inbound_frame_size
        and len(conn.busy) < conn.local_settings.max_concurrent_streams
        and sid <= conn.refuse_above
    )


def _new_stream(conn: ServerH2, sid: int) -> h2.stream.H2Stream:
    """h2's `_begin_new_stream` for a client stream `_can_open` has checked, without its
    checks and its three debug log calls."""
    stream = h2.stream.H2Stream(
        sid,
        config=conn.config,
        inbound_window_size=conn.local_settings.initial_window_size,
        outbound_window_size=conn.remote_settings.initial_window_size,
    )
    stream.max_outbound_frame_size = conn.max_outbound_frame_size
    conn.streams[sid] = stream
    conn.highest_inbound_stream_id = sid
    return stream


def _open(conn: ServerH2, sid: int, block: bytes, ended: bool) -> list[Any]:
    """h2's `_receive_headers_frame` for a new stream, then ours: the stream's RequestHead,
    or nothing and a reset when the block is malformed."""
    try:
        headers = h2.connection._decode_headers(conn.decoder, block)
        if conn.state_machine.state is not _OPEN:
            conn.state_machine.process_input(_RECV)
        stream = _new_stream(conn, sid)
        stream.state_machine.process_input(_RECV_HEADERS)
        if ended:
            stream.state_machine.process_input(_RECV_END_STREAM)
        stream._initialize_content_length(headers)
    except h2.exceptions.ProtocolError as exc:  # as h2's receive_data: GOAWAY, then raise
        conn._terminate_connection(exc.error_code)
        raise
    try:
        head = request_head(sid, headers, ended, conn.connect_protocol)
    except Malformed:
        conn._prepare_for_sending(conn._malformed(sid))
        return []
    conn.busy.add(sid)
    return [head]
