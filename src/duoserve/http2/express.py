"""The express lane: a HEADERS frame that opens a request stream, taken without hyperframe.

Most of what a client sends is one HEADERS frame per request (END_HEADERS set, no
padding, no priority). Through h2 each costs a copy into its frame buffer, a hyperframe
object, a trace log of its repr, the dispatch, a stream event and a pass over the fields
to check content-length. Here the 9-byte head is read in place and the stream is opened
as h2 opens it (its connection state machine, its stream objects moved as its own
transitions move them (`lifecycle`), its content-length rule (`inbound.remembered`), our
`ServerDecoder`), so h2's state is what its own path would leave.
Every other frame, and a HEADERS frame in any other situation (a refusal, a header block
in progress, a partial frame held by h2, a connection not open), goes to h2 in order,
whole frames batched per call.
"""

from __future__ import annotations

import struct
from typing import Any

import h2.connection
import h2.errors
import h2.exceptions
import h2.frame_buffer
from hpack.exceptions import HPACKError

from .engine import ServerH2
from .inbound import BadLength, Malformed, fresh, remembered
from .lifecycle import opened

_HEADERS = 0x1
_END_STREAM, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x4, 0x8, 0x20
_PLAIN = _END_HEADERS | _PADDED | _PRIORITY  # of these flags, only END_HEADERS
_OPEN = h2.connection.ConnectionState.SERVER_OPEN
_READY = {h2.connection.ConnectionState.IDLE, _OPEN}  # where RECV_HEADERS opens a stream
_RECV = h2.connection.ConnectionInputs.RECV_HEADERS
_FRAME_HEAD = struct.Struct(">BHBBL").unpack_from  # length (8 + 16 bits), type, flags, id
_decode_headers = h2.connection._decode_headers
_LAST_BLOCK = 1_024  # the longest header block remembered as the last one opened
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
        high, low, kind, flags, sid = _FRAME_HEAD(data, pos)
        length = high << 16 | low
        stop = pos + 9 + length
        if stop > end:
            break
        if kind == _HEADERS and flags & _PLAIN == _END_HEADERS:
            sid &= 0x7FFF_FFFF
            if start < pos:
                events += conn.receive_data(data[start:pos])
            # A new client stream h2 would open, that we admit, with nothing unusual.
            if (
                sid & 1
                and sid > conn.highest_inbound_stream_id
                and len(conn.busy) < conn.cap
                and sid <= conn.refuse_above
                and length <= conn.max_inbound_frame_size
                and conn.state_machine.state in _READY
                and not conn.incoming_buffer._headers_buffer
            ):
                events += _open(conn, sid, data[pos + 9 : stop], bool(flags & _END_STREAM))
            else:
                events += conn.receive_data(data[pos:stop])
            start = stop
        pos = stop
    if start < end:
        events += conn.receive_data(data[start:] if start else data)
    return events


def _open(conn: ServerH2, sid: int, block: bytes, ended: bool) -> list[Any]:
    """h2's `_receive_headers_frame` for a new stream, then ours: the stream's RequestHead,
    or nothing and a reset when the block is malformed. A block the same as the last one
    opened, whose decoding changed nothing in the table that has not changed since, means
    the same request: it is not decoded or checked again (hpack's table-size rule is)."""
    decoder = conn.decoder
    table = decoder.header_table
    last = conn.last_open
    try:
        if last is not None and last[1] == table.changes and last[2] is ended and last[0] == block:
            try:
                decoder._assert_valid_table_size()
            except HPACKError as exc:  # as h2's _decode_headers raises it
                raise h2.exceptions.ProtocolError(f"Error decoding header block: {exc}") from exc
            found = last[3]
        else:
            changes = table.changes
            headers = _decode_headers(decoder, block)
            last = None
        if conn.state_machine.state is not _OPEN:
            conn.state_machine.process_input(_RECV)
        stream = conn.new_stream(sid)
        opened(stream.state_machine, ended)
        if last is None:  # h2's content-length rule (a connection error), then the fields'
            found = remembered(headers, ended, conn.connect_protocol)
            # Kept with the count from before decoding: a block that added to the
            # table never matches again (the count has moved on).
            if len(block) <= _LAST_BLOCK:
                conn.last_open = (block, changes, ended, found)
    except BadLength as exc:  # as h2's receive_data: GOAWAY, then raise
        conn._terminate_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)
        raise h2.exceptions.ProtocolError(str(exc)) from None
    except h2.exceptions.ProtocolError as exc:
        conn._terminate_connection(exc.error_code)
        raise
    except Malformed:
        conn._prepare_for_sending(conn._malformed(sid))
        return []
    stream._expected_content_length = found[1]
    conn.busy.add(sid)
    return [fresh(found[0], sid)]
