"""WebSocket test harness: the server fixture, a raw-frame client, and the websockets client
run in a thread (it is asyncio-only; the server under test runs on asyncio or trio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.abc

from duoserve.types import ASGIApp
from tests.conftest import RunningServer, running_server

T = TypeVar("T")

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


@asynccontextmanager
async def ws_server(app: ASGIApp, **settings: Any) -> AsyncIterator[RunningServer]:
    """The one place these tests get a server (the real one, on a free loopback port)."""
    settings.setdefault("lifespan", "off")
    settings.setdefault("access_log", False)
    settings.setdefault("ws_ping_interval", 0)
    async with running_server(app, **settings) as server:
        yield server


def ws_url(server: RunningServer, path: str = "/ws") -> str:
    return f"ws://{server.host}:{server.port}{path}"


async def in_client_thread(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an asyncio client coroutine in a worker thread with its own event loop."""
    return await anyio.to_thread.run_sync(lambda: asyncio.run(fn()))  # type: ignore[arg-type]


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = b"\x37\xfa\x21\x3d",
    length: int | None = None,
) -> bytes:
    """A client frame built by hand. `length` may claim more payload than is attached."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0 if mask is None else 0x80
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    if not data or mask == b"\0\0\0\0":
        return data
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


class RawClient:
    """A WebSocket client speaking hand-built frames over a plain TCP stream."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            try:
                self.buffer += await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return False
        return True

    async def read_head(self, timeout: float = 5) -> bytes:
        """The HTTP response head (the bytes after it stay buffered)."""
        with anyio.fail_after(timeout):
            while b"\r\n\r\n" not in self.buffer:
                if not await self._fill(len(self.buffer) + 1):
                    break
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    async def read_rest(self, timeout: float = 5) -> bytes:
        """Everything until the server closes the connection."""
        with anyio.fail_after(timeout):
            while await self._fill(len(self.buffer) + 1):
                pass
        data, self.buffer = self.buffer, b""
        return data

    async def read_frame(self, timeout: float = 5) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next server frame; None once the server has closed."""
        with anyio.fail_after(timeout):
            if not await self._fill(2):
                return None
            opcode, n = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            assert not self.buffer[1] & 0x80, "server frames are never masked"
            start = 2
            if n == 126:
                start = 4
                await self._fill(4)
                n = int.from_bytes(self.buffer[2:4], "big")
            elif n == 127:
                start = 10
                await self._fill(10)
                n = int.from_bytes(self.buffer[2:10], "big")
            assert await self._fill(start + n), "connection closed inside a frame"
            payload = self.buffer[start : start + n]
            self.buffer = self.buffer[start + n :]
            return opcode, payload

    async def read_close(self, timeout: float = 5) -> tuple[int, str]:
        """Skip data and control frames until the server's close frame; its code and reason."""
        while True:
            got = await self.read_frame(timeout)
            assert got is not None, "connection closed without a close frame"
            if got[0] == CLOSE:
                payload = got[1]
                return int.from_bytes(payload[:2], "big"), payload[2:].decode()

    async def at_eof(self, timeout: float = 5) -> bool:
        """True once the server has closed the TCP connection (data before it is dropped)."""
        with anyio.move_on_after(timeout):
            while await self._fill(len(self.buffer) + 1):
                pass
            return True
        return False


@asynccontextmanager
async def raw_client(
    server: RunningServer, *, request: bytes = HANDSHAKE, expect: bytes = b"101"
) -> AsyncIterator[RawClient]:
    """A connected raw client; the handshake is sent and its response head checked."""
    async with await server.connect() as stream:
        client = RawClient(stream)
        await client.send(request)
        head = await client.read_head()
        assert head.split(b" ", 2)[1] == expect, head
        yield client
