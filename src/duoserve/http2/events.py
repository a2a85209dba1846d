"""What the HTTP/2 connection hands its driver: typed events and error codes (no h2 types)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from ..http1.events import RequestHead as View

Headers: TypeAlias = list[tuple[bytes, bytes]]
"""Header fields as ASGI carries them: lower-case names, raw values."""


class ErrorCode(enum.IntEnum):
    """RFC 9113 §7 error codes; a peer may send others, which stay plain ints."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


def error_code(value: int) -> ErrorCode | int:
    """The named code for `value`, or the int itself for a code RFC 9113 does not define."""
    try:
        return ErrorCode(value)
    except ValueError:
        return value


class RequestHead(NamedTuple):
    """A new stream's request, pseudo-headers already checked (RFC 9113 §8.3.1) and taken
    out of `headers`. `authority` is :authority, or Host when the client sent only that.
    CONNECT has neither :scheme nor :path (§8.5); they are then empty. `protocol` is the
    :protocol of an extended CONNECT (RFC 8441 §4), e.g. b"websocket"; else None. `view`
    is the request as the HTTP cycle takes it, made with the head (always, by `inbound`).
    A NamedTuple, unlike the other events: one is made per stream, with tuple.__new__."""

    stream_id: int
    method: bytes
    scheme: bytes
    authority: bytes | None
    path: bytes
    headers: Headers
    end_stream: bool  # no body follows
    protocol: bytes | None = None
    view: View | None = None


@dataclass(frozen=True, slots=True)
class BodyData:
    """Request-body bytes. Their flow-control credit returns only when the consumer calls
    `H2Connection.consume(stream_id, len(data))`: that is the back-pressure."""

    stream_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The client finished its request (END_STREAM), maybe with trailers."""

    stream_id: int
    trailers: Headers


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The stream is gone: the client reset it, or we did for a protocol error. Its cycle
    must stop; sending on it raises `StreamGone`."""

    stream_id: int
    error_code: ErrorCode | int
    by_peer: bool


@dataclass(frozen=True, slots=True)
class WindowOpened:
    """A stream whose last `send_data` returned a remainder may send again."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class GoAwayReceived:
    """The client sent GOAWAY. h2 allows no frame after it, so the connection is over:
    write what `data_to_send()` holds and close."""

    error_code: ErrorCode | int
    last_stream_id: int


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """We ended the connection with GOAWAY(`error_code`): a protocol violation or a flood.
    Write what `data_to_send()` holds, then close; every stream is lost."""

    error_code: ErrorCode
    reason: str


Event: TypeAlias = (
    RequestHead
    | BodyData
    | StreamEnded
    | StreamReset
    | WindowOpened
    | GoAwayReceived
    | ConnectionFailed
)


class StreamGone(Exception):
    """Raised when sending on a stream that was reset or whose connection has ended: the
    HTTP/2 counterpart of a client that disconnected."""
