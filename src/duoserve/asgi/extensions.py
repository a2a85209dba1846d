"""The cycle's response extensions: files (pathsend, zerocopysend), trailers, early hints.

Files go out with sendfile where the transport allows it. A base of `HTTPCycle`, kept
apart so the cycle's module holds the receive/send state machine and the error policy."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

import anyio

from ..http1.events import RequestHead
from ..http1.framing import ResponseWriter
from ..http1.headers import Framing, ResponseError
from ..net.streams import can_sendfile
from ..types import Headers, Message

if TYPE_CHECKING:
    from .cycle import Driver, RequestSource

_FILE_CHUNK = 256 * 1024
# Bounds on what one response may send besides its body.
MAX_TRAILER_FIELDS = 100
MAX_EARLY_HINTS = 8


class ResponseExtensions(ResponseWriter):
    """File responses, trailers and early hints, over the cycle's state (declared here,
    set by HTTPCycle) and its writer methods (HTTP/1.1's, or H2Framing's)."""

    conn: Driver
    codec: RequestSource
    request: RequestHead
    started: bool
    response_complete: bool
    body_bytes: int
    _head_bytes: bytes | None
    _trailers: Headers | None
    _body_ended: bool
    _early_hints: int

    if TYPE_CHECKING:

        async def send(self, message: Message) -> None: ...
        def _stop_disconnect_wait(self) -> None: ...

    async def _send_body(self, body: bytes, more_body: bool) -> None:
        """A body part from the server's own file streaming, through send()'s checks."""
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def _send_path(self, path: str | os.PathLike[str]) -> None:
        """http.response.pathsend: the whole file, then the end of the response."""
        if not self.started:
            raise RuntimeError("http.response.pathsend sent before http.response.start")
        async with await anyio.open_file(path, "rb") as file:
            await self._stream_file(file.wrapped, None, None)
        await self._send_body(b"", False)

    async def _send_file(self, message: Message) -> None:
        """http.response.zerocopysend: `count` bytes (default: to the end) of an open file
        from `offset` (default: its current position)."""
        if not self.started:
            raise RuntimeError("http.response.zerocopysend sent before http.response.start")
        await self._stream_file(message["file"], message.get("offset"), message.get("count"))
        if not message.get("more_body", False):
            await self._send_body(b"", False)

    async def _stream_file(self, file: Any, offset: int | None, count: int | None) -> None:
        """Send file bytes: by sendfile where the transport allows it (plain sockets on
        asyncio), else read off the event loop in bounded chunks, each written before the
        next is read. A body that is dropped anyway (HEAD, 304) is not read at all."""
        if self.framing is Framing.NONE:
            return
        if can_sendfile(self.conn.stream):
            span = await anyio.to_thread.run_sync(_file_span, file, offset, count)
            if span is not None:
                start, length = span
                before, after = self.raw_span(length)
                head = self._head_bytes
                if head is not None:
                    self._head_bytes = None
                    before = head + before
                if before:
                    await self.conn.write(before)
                if length:
                    await self.conn.write_file(file, start, length)
                    file.seek(start + length)  # as a read would leave it (a cheap lseek)
                if after:
                    await self.conn.write(after)
                self.body_bytes += length
                return
        if offset is not None:
            await anyio.to_thread.run_sync(file.seek, offset)
        remaining = count
        while remaining is None or remaining > 0:
            size = _FILE_CHUNK if remaining is None else min(_FILE_CHUNK, remaining)
            chunk = await anyio.to_thread.run_sync(file.read, size)
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            await self._send_body(chunk, True)

    # -- extensions: trailers and early hints -----------------------------------------------
    def _client_takes_trailers(self) -> bool:
        """RFC 9110 §10.1.4: trailers only to a client that sent `TE: trailers`."""
        for name, value in self.request.headers:
            if name == b"te" and b"trailers" in value.lower():
                return self.http_version != "1.0"  # HTTP/1.1 chunked, or HTTP/2
        return False

    async def _send_trailers(self, message: Message) -> None:
        """http.response.trailers: collected until `more_trailers` is false, then sent as
        the chunked body's trailer section (or dropped when the framing cannot carry it)."""
        trailers = self._trailers
        if not self.started or trailers is None:
            raise RuntimeError("http.response.trailers without 'trailers': True in the start")
        if not self._body_ended:
            raise RuntimeError("http.response.trailers sent before the body ended")
        if self.response_complete:
            raise RuntimeError("http.response.trailers sent after the response completed")
        trailers.extend(message.get("headers", []))
        if len(trailers) > MAX_TRAILER_FIELDS:
            raise ResponseError(f"more than {MAX_TRAILER_FIELDS} trailer fields")
        if message.get("more_trailers", False):
            return
        if self.framing is not Framing.CHUNKED or not self._client_takes_trailers():
            trailers = []  # dropped: nothing to carry them, or the client did not ask
        try:
            data = self.end(trailers)
        except (TypeError, AttributeError):
            raise ResponseError(f"trailers must be byte pairs: {trailers!r}") from None
        head = self._head_bytes
        if head is not None:
            self._head_bytes = None
            data = head + data
        if data:
            await self.conn.write(data)
        self.response_complete = True
        self._stop_disconnect_wait()

    async def _send_early_hint(self, message: Message) -> None:
        """http.response.early_hint: a 103 with the `links` as Link headers (and any
        `headers`, duoserve's addition for WSGI), before the final response. Ignored for
        HTTP/1.0 clients, once the response has started, and past MAX_EARLY_HINTS."""
        if (
            self.started
            or self.http_version == "1.0"
            or self.conn.peer_gone
            or self._early_hints >= MAX_EARLY_HINTS
        ):
            return
        headers: Headers = [(b"link", link) for link in message.get("links", ())]
        headers.extend(message.get("headers", ()))
        if not headers:
            return
        for name, value in headers:
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise ResponseError(f"early hint headers must be bytes: {(name, value)!r}")
        self._early_hints += 1
        await self.conn.write(self.codec.send_informational(103, headers))


def _file_span(file: Any, offset: int | None, count: int | None) -> tuple[int, int] | None:
    """(start, length) of what to sendfile from a regular file: from `offset` or the current
    position, `count` bytes or to the end (never past it). None when it is not a regular
    file with a descriptor, so the bytes must be read instead."""
    try:
        info = os.fstat(file.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
        start = file.tell() if offset is None else offset
    except (AttributeError, OSError, ValueError):
        return None
    if size is None:
        return None
    length = max(0, size - start)
    return start, length if count is None else min(length, count)
