"""What the layers above do with any stream: writes that push, idle waits, sendfile, closing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, Any, Protocol

import anyio
import anyio.abc

from .head_wait import Cancellable, HeadParser
from .transports import LeanStream

# os.sendfile slices: each is a write that must complete within timeout_io.
_SENDFILE_SLICE = 1024 * 1024


def close_now(stream: anyio.abc.ByteStream) -> bool:
    """Close the lean stream at once, without awaiting (so without a shielded cancel scope,
    once per connection): its buffered response bytes still go out, bounded as aclose()
    bounds them. False for other streams, which must be closed with aclose()."""
    if type(stream) is not LeanStream:
        return False
    if not stream._closed:
        stream._close()
    return True


async def send_within(stream: anyio.abc.ByteStream, data: bytes, seconds: float) -> None:
    """stream.send(data), raising TimeoutError when the client takes longer than `seconds`
    to accept it. On the lean stream the timeout scope is only set up when it must wait."""
    if type(stream) is LeanStream:
        await stream.send_within(data, seconds)
        return
    with anyio.fail_after(seconds):
        await stream.send(data)


async def send_parts_within(
    stream: anyio.abc.ByteStream, parts: Sequence[bytes | memoryview], seconds: float
) -> None:
    """send_within() of several buffers in order: on the lean stream without joining them."""
    if type(stream) is LeanStream:
        if stream.push_parts(parts):
            await stream.drain(seconds)
        return
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    with anyio.fail_after(seconds):
        await stream.send(data)  # type: ignore[arg-type]  # a memoryview is bytes-like


class Writes(Protocol):
    """How one connection writes: `push(data)` hands the bytes over without waiting and
    says whether `drain(seconds)` must then be awaited (the client is slow to take them,
    it is time to yield, or the stream can only send by awaiting)."""

    def push(self, data: bytes) -> bool: ...

    def drain(self, seconds: float) -> Awaitable[None]: ...


def writes(stream: anyio.abc.ByteStream) -> Writes:
    """The push/drain pair for this stream, resolved once per connection: the lean
    stream's own (a response that fits the transport's buffer is written without a
    coroutine), a holder that sends on drain for the others."""
    if type(stream) is LeanStream:
        return stream
    return _SendOnDrain(stream)


class _SendOnDrain:
    """push/drain over a stream that can only send by awaiting: push keeps the bytes,
    drain sends them within the time given."""

    __slots__ = ("_pending", "_stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._pending = b""

    def push(self, data: bytes) -> bool:
        self._pending = data
        return True

    async def drain(self, seconds: float) -> None:
        data = self._pending
        self._pending = b""
        await send_within(self._stream, data, seconds)


def hooks_data(stream: anyio.abc.ByteStream) -> bool:
    """Whether the stream takes a data hook (set_data_hook): the lean stream only."""
    return type(stream) is LeanStream


def head_reader(
    stream: anyio.abc.ByteStream,
) -> Callable[[HeadParser, float, float, set[Cancellable]], Awaitable[Any]] | None:
    """The lean stream's next_head() (request heads parsed in data_received), or None
    for streams that are read with receive()."""
    return stream.next_head if type(stream) is LeanStream else None


def can_sendfile(stream: anyio.abc.ByteStream) -> bool:
    """Whether send_file() can use os.sendfile here: the lean stream on asyncio's own loop
    (uvloop has no loop.sendfile; TLS streams wrap another stream and need the bytes)."""
    return (
        type(stream) is LeanStream
        and isinstance(stream._loop, asyncio.BaseEventLoop)
        and not (stream._lost or stream._closed)
    )


async def send_file(
    stream: anyio.abc.ByteStream, file: IO[bytes], offset: int, count: int, seconds: float
) -> None:
    """Send `count` bytes of a regular file from `offset` with os.sendfile (the kernel
    copies; no bytes pass through Python), leaving the file positioned after them. Each
    slice must go out within `seconds`, like any write (TimeoutError otherwise)."""
    assert type(stream) is LeanStream
    sent = 0
    while sent < count:
        size = min(_SENDFILE_SLICE, count - sent)
        transport = stream._transport
        if stream._lost or transport is None or transport.is_closing():
            raise anyio.BrokenResourceError from stream._error
        with anyio.fail_after(seconds):
            done = await stream._loop.sendfile(transport, file, offset + sent, size)
        if not done:
            raise anyio.BrokenResourceError("the file ended before the bytes promised")
        sent += done


def receive_idle(
    stream: anyio.abc.ByteStream, max_bytes: int, seconds: float, waiting: set[Cancellable]
) -> Awaitable[bytes | None]:
    """stream.receive(max_bytes), or None when `seconds` pass first or the wait, which
    sits in `waiting` meanwhile, is cancelled. For streams read with receive(); the lean
    stream waits for heads with next_head() instead."""
    return _receive_in_scope(stream, max_bytes, seconds, waiting)


async def _receive_in_scope(
    stream: anyio.abc.ByteStream, max_bytes: int, seconds: float, waiting: set[Cancellable]
) -> bytes | None:
    with anyio.move_on_after(seconds) as scope:
        waiting.add(scope)
        try:
            return await stream.receive(max_bytes)
        finally:
            waiting.discard(scope)
    return None
