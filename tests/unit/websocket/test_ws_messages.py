"""Pure ASGI ⇄ wsproto message conversion: reassembly under the size limit, outgoing events."""

from __future__ import annotations

from typing import Any

import pytest
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from duoserve.websocket.messages import (
    MessageTooBig,
    Reassembler,
    allowed,
    close_code,
    data_event,
)


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        ([TextMessage("hello")], {"text": "hello", "bytes": None}),
        ([TextMessage("")], {"text": "", "bytes": None}),
        (
            [TextMessage("a", message_finished=False), TextMessage("é")],
            {"text": "aé", "bytes": None},
        ),
        ([BytesMessage(bytearray(b"\x00"))], {"text": None, "bytes": b"\x00"}),
        (
            [BytesMessage(b"a", frame_finished=False, message_finished=False), BytesMessage(b"b")],
            {"text": None, "bytes": b"ab"},
        ),
    ],
)
def test_reassembly(fragments: list[Any], expected: dict[str, Any]) -> None:
    reassembler = Reassembler(10)
    results = [reassembler.feed(f) for f in fragments]
    assert results[:-1] == [None] * (len(fragments) - 1)
    assert results[-1] == {"type": "websocket.receive", **expected}


@pytest.mark.parametrize(
    "fragments",
    [
        [TextMessage("x" * 11)],
        [BytesMessage(b"x" * 6, message_finished=False), BytesMessage(b"x" * 5)],
        [TextMessage("é" * 6)],  # 6 characters, 12 UTF-8 bytes
    ],
)
def test_over_size_counts_bytes_as_they_arrive(fragments: list[Any]) -> None:
    reassembler = Reassembler(10)
    with pytest.raises(MessageTooBig):
        for fragment in fragments:
            reassembler.feed(fragment)
    assert reassembler.feed(TextMessage("fresh")) is not None  # the count starts over


def test_size_limit_is_per_message() -> None:
    reassembler = Reassembler(10)
    for _ in range(5):
        assert reassembler.feed(BytesMessage(b"x" * 10)) is not None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "websocket.send", "text": "a"}, TextMessage("a")),
        ({"type": "websocket.send", "text": "a", "bytes": None}, TextMessage("a")),
        ({"type": "websocket.send", "bytes": b"a", "text": None}, BytesMessage(b"a")),
    ],
)
def test_data_event(message: dict[str, Any], expected: Any) -> None:
    assert data_event(message) == expected


@pytest.mark.parametrize(
    "message", [{}, {"text": None, "bytes": None}, {"text": "a", "bytes": b""}]
)
def test_data_event_needs_exactly_one_payload(message: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError):
        data_event(message)


@pytest.mark.parametrize(
    ("message", "code"),
    [({}, 1000), ({"code": None}, 1000), ({"code": 4000}, 4000), ({"code": 1001}, 1001)],
)
def test_close_code(message: dict[str, Any], code: int) -> None:
    assert close_code(message) == code


@pytest.mark.parametrize("code", [999, 5000, "1000", 1000.0])
def test_invalid_close_code(code: Any) -> None:
    with pytest.raises(ValueError):
        close_code({"code": code})


@pytest.mark.parametrize(
    ("event", "state", "ok"),
    [
        (TextMessage("a"), ConnectionState.OPEN, True),
        (TextMessage("a"), ConnectionState.REMOTE_CLOSING, False),
        (Ping(), ConnectionState.LOCAL_CLOSING, False),
        (CloseConnection(1000), ConnectionState.REMOTE_CLOSING, True),
        (CloseConnection(1000), ConnectionState.LOCAL_CLOSING, False),
        (CloseConnection(1000), ConnectionState.CLOSED, False),
    ],
)
def test_allowed(event: Any, state: ConnectionState, ok: bool) -> None:
    assert allowed(event, state) is ok
