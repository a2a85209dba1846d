"""Pure ASGI ⇄ wsproto message conversion: reassembly under the size limit, outgoing events."""

from __future__ import annotations

from typing import Any

from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Event, Message, TextMessage

from ..types import Headers
from ..types import Message as ASGIMessage


class MessageTooBig(Exception):
    """A message grew past ws_max_size (close code 1009)."""


class Reassembler:
    """Joins a message's fragments into one websocket.receive message. Bytes are counted
    as fragments arrive, so an over-size message is refused before it is held in memory."""

    __slots__ = ("_max_size", "_parts", "_size")

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._parts: list[Any] = []
        self._size = 0

    def feed(self, event: Message[Any]) -> ASGIMessage | None:
        """The complete message once its last fragment is in; raises MessageTooBig."""
        data = event.data
        if isinstance(data, str):
            self._size += len(data) if data.isascii() else len(data.encode("utf-8"))
        else:
            self._size += len(data)
        if self._size > self._max_size:
            self.reset()
            raise MessageTooBig
        if not event.message_finished:
            self._parts.append(data)
            return None
        if self._parts:
            self._parts.append(data)
            data = "".join(self._parts) if isinstance(data, str) else b"".join(self._parts)
        self.reset()
        if isinstance(data, str):
            return {"type": "websocket.receive", "bytes": None, "text": data}
        return {"type": "websocket.receive", "bytes": bytes(data), "text": None}

    def whole(self, event: Message[Any]) -> ASGIMessage | None:
        """The message of an event that is one whole message within the size limit, when
        no other message is being reassembled; None otherwise (then feed() decides)."""
        if self._parts or not event.message_finished:
            return None
        data = event.data
        if isinstance(data, str):
            size = len(data) if data.isascii() else len(data.encode("utf-8"))
            if size > self._max_size:
                return None
            return {"type": "websocket.receive", "bytes": None, "text": data}
        if len(data) > self._max_size:
            return None
        return {"type": "websocket.receive", "bytes": bytes(data), "text": None}

    def reset(self) -> None:
        self._parts = []
        self._size = 0


def allowed(event: Event, state: ConnectionState) -> bool:
    """Whether wsproto accepts sending `event` in `state` (it raises otherwise)."""
    if isinstance(event, CloseConnection):
        return state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
    return state is ConnectionState.OPEN


def data_event(message: ASGIMessage) -> Message[Any]:
    """The wsproto event for a websocket.send message."""
    text = message.get("text")
    data = message.get("bytes")
    if (text is None) == (data is None):
        raise RuntimeError("websocket.send needs exactly one of 'bytes' and 'text'")
    return TextMessage(str(text)) if data is None else BytesMessage(bytes(data))


def close_code(message: ASGIMessage) -> int:
    """The code of a websocket.close message (1000 when absent)."""
    code = message.get("code")
    code = 1000 if code is None else code
    if not isinstance(code, int) or not 1000 <= code <= 4999:
        raise ValueError(f"invalid WebSocket close code {code!r}")
    return code


def response_headers(message: ASGIMessage) -> Headers:
    """Headers of a websocket.http.response.start message."""
    return [(bytes(name), bytes(value)) for name, value in message.get("headers") or ()]
