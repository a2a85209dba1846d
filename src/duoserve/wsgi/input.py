"""wsgi.input: the request body as a blocking file for the app thread, read on demand."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from ..errors import ClientDisconnected
from ..types import Message

Pull = Callable[[], bytes]  # next body bytes from the event loop; b"" at the end


class InputStream:
    """Reads the body from the socket only as the app asks for it, so a slow app holds the
    client back instead of the server buffering the body. Its own buffer holds at most one
    received chunk beyond what the app asked for (the codec's read size)."""

    def __init__(self, pull: Pull) -> None:
        self._pull = pull
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._pull()
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                end += 1
                return self._take(end if limit < 0 else min(end, limit))
            if 0 <= limit <= len(self._buffer):
                return self._take(limit)
            start = len(self._buffer)
            if not self._fill():
                return self._take(len(self._buffer) if limit < 0 else limit)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        """Apps may close wsgi.input; the rest of the body is left to the connection."""


def spool_body(pull: Pull, memory_limit: int) -> tuple[IO[bytes], int]:
    """Read a whole (chunked) body into memory, then a temporary file past `memory_limit`,
    for apps that trust CONTENT_LENGTH. The total is bounded by limit_request_body, which
    the connection enforces while the body arrives."""
    spool = tempfile.SpooledTemporaryFile(max_size=memory_limit)  # noqa: SIM115
    total = 0
    try:
        while chunk := pull():
            spool.write(chunk)
            total += len(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, total


def make_pull(receive_sync: Callable[[], Message], has_body: bool) -> Pull:
    """A Pull over ASGI receive called from the app thread. It never calls receive after
    the last body message (that would wait for the client to disconnect)."""
    done = not has_body

    def pull() -> bytes:
        nonlocal done
        while not done:
            message = receive_sync()
            if message["type"] == "http.disconnect":
                done = True
                raise ClientDisconnected("the client disconnected before sending the whole body")
            done = not message.get("more_body", False)
            body = message.get("body", b"")
            assert isinstance(body, bytes)
            if body:
                return body
        return b""

    return pull
