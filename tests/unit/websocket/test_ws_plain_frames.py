"""frames.py, the frames duoserve parses and builds without wsproto, checked against
wsproto itself: what a wsproto client sends is read back the same, what we build a
wsproto client reads as the same message, and anything unusual is left to wsproto."""

from __future__ import annotations

import random

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, Message, TextMessage

from duoserve.websocket.frames import BINARY, LARGEST, TEXT, data_frame, frame_at, unmask


def _client() -> Connection:
    return Connection(ConnectionType.CLIENT)


@pytest.mark.parametrize(
    "size", [0, 1, 3, 4, 5, 125, 126, 127, 1000, 2047, 2048, LARGEST, LARGEST + 1]
)
def test_client_frames_read_back_as_wsproto_sent_them(size: int) -> None:
    rng = random.Random(size)
    payload = bytes(rng.randrange(256) for _ in range(size))
    data = b"junk" + _client().send(BytesMessage(payload))
    frame = frame_at(data, 4, LARGEST)
    assert frame is not None
    assert frame.end == len(data)
    assert frame.plain is (size <= LARGEST)
    assert frame.first == BINARY
    assert unmask(data, frame.start, frame.end) == payload


def test_a_header_not_complete_yet_is_none_and_limits_make_frames_not_plain() -> None:
    data = _client().send(TextMessage("x" * 300))
    for cut in range(8):  # 2 bytes, the 16-bit length, the mask key
        assert frame_at(data[:cut], 0, LARGEST) is None
    frame = frame_at(data[:8], 0, LARGEST)
    assert frame is not None and frame.end == len(data)  # the payload may still come
    assert frame_at(data, 0, 299) == frame._replace(plain=False)  # past max_size


@pytest.mark.parametrize(
    "message",
    [
        TextMessage("hé" * 40),
        TextMessage(""),
        BytesMessage(b"\0" * 126),
        BytesMessage(b"z" * 70000),
    ],
)
def test_server_frames_are_what_wsproto_reads(message: Message[object]) -> None:
    server = Connection(ConnectionType.SERVER)
    client = _client()
    if isinstance(message, TextMessage):
        data = data_frame(TEXT, message.data.encode())
    else:
        data = data_frame(BINARY, bytes(message.data))
    assert data == server.send(message)
    client.receive_data(data)
    [event] = client.events()
    assert type(event) is type(message)
    assert event.data == message.data and event.message_finished
