"""A raw HTTP/2 client's pieces, for tests that craft frames with hyperframe and hpack or
drive h2's client by hand over a real socket: the connection's first bytes, a HEADERS
frame, the frames parsed from what the server sent, a read until the server closes, and
a connection opened with one GET on stream 1."""

from __future__ import annotations

import anyio
import anyio.abc
import h2.connection
from hyperframe.frame import Frame, HeadersFrame, SettingsFrame

from duoserve.http2.preface import PREFACE
from tests.conftest import RunningServer

# A GET / as HPACK fields, and the client's first bytes: the preface and empty SETTINGS.
REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/")]
START = PREFACE + SettingsFrame(0).serialize()
# What a raw read ends at: the server closed (or reset) the connection.
CLOSED = (anyio.EndOfStream, anyio.BrokenResourceError, OSError)


def headers_frame(sid: int, block: bytes, end: bool = True) -> bytes:
    """One HEADERS frame carrying the whole encoded `block` (END_HEADERS; END_STREAM when
    `end`)."""
    frame = HeadersFrame(sid)
    frame.data = block
    frame.flags.add("END_HEADERS")
    if end:
        frame.flags.add("END_STREAM")
    return frame.serialize()


def next_frame(data: bytes) -> tuple[Frame | None, bytes]:
    """The first frame of `data` (None until all of it has arrived) and the bytes after."""
    if len(data) < 9:
        return None, data
    frame, length = Frame.parse_frame_header(memoryview(data[:9]))
    if len(data) < 9 + length:
        return None, data
    frame.parse_body(memoryview(data[9 : 9 + length]))
    return frame, data[9 + length :]


def parse(data: bytes) -> list[Frame]:
    """The whole frames in `data` (an unfinished last one left out)."""
    found = []
    frame, data = next_frame(data)
    while frame is not None:
        found.append(frame)
        frame, data = next_frame(data)
    return found


async def read_until_closed(stream: anyio.abc.ByteReceiveStream, timeout: float = 5) -> bytes:
    """What the server sends until it closes (or resets) the connection, or `timeout` ends
    the wait."""
    data = b""
    with anyio.move_on_after(timeout):
        try:
            while True:
                data += await stream.receive()
        except CLOSED:
            pass
    return data


async def open_with_get(
    srv: RunningServer,
) -> tuple[h2.connection.H2Connection, anyio.abc.SocketStream]:
    """A connection to `srv` on which an h2 client has sent its preface and GET / on
    stream 1; the caller closes the stream."""
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    conn.send_headers(1, REQUEST, end_stream=True)
    stream = await srv.connect()
    await stream.send(conn.data_to_send())
    return conn, stream
