"""WebSocket echo load: several connections, each sending a message and awaiting its echo.

    python benchmarks/wsload.py --port 8000 --size 64 --connections 16 --duration 5

Prints one line of JSON: {"rate": messages echoed per second, "p99_ms": round-trip p99}.
A raw asyncio client (fixed frames, a minimal frame reader) so the client stays cheap next
to the servers it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import struct
import sys
import time

MASK = b"\x01\x02\x03\x04"


def frame(payload: bytes, first: int = 0x82) -> bytes:
    """One masked frame (binary unless told), as a client must send it."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    mask = (MASK * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")
    return head + MASK + masked


class Reader:
    """Splits unmasked server frames out of a byte stream; counts data frames."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> int:
        self.buffer += data
        messages = 0
        while len(self.buffer) >= 2:
            fin, opcode = self.buffer[0] & 0x80, self.buffer[0] & 0x0F
            length = self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                start, length = 4, int.from_bytes(self.buffer[2:4], "big")
            elif length == 127:
                start, length = 10, int.from_bytes(self.buffer[2:10], "big")
            if len(self.buffer) < start + length:
                break
            del self.buffer[: start + length]
            messages += bool(fin) and opcode in (0x0, 0x1, 0x2)  # pings and pongs skipped
        return messages


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:40]!r}")
    return reader, writer


async def client(port: int, message: bytes, stop: float, rtts: list[float]) -> int:
    reader, writer = await connect(port)
    frames = Reader()
    sent = 0
    while time.perf_counter() < stop:
        started = time.perf_counter()
        writer.write(message)
        sent += 1
        while not frames.feed(await reader.read(1 << 20)):
            pass
        rtts.append(time.perf_counter() - started)
    writer.write(frame(b"\x03\xe8", first=0x88))  # close, 1000
    with contextlib.suppress(OSError):
        await writer.drain()
    writer.close()
    return sent


async def run(port: int, size: int, connections: int, duration: float) -> dict[str, float]:
    message = frame(b"m" * size)
    rtts: list[float] = []
    started = time.perf_counter()
    stop = started + duration
    counts = await asyncio.gather(*(client(port, message, stop, rtts) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    rtts.sort()
    p99 = rtts[int(len(rtts) * 0.99)] * 1000 if rtts else 0.0
    return {"rate": sum(counts) / elapsed, "p99_ms": p99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=64, help="message bytes")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args()
    try:
        import uvloop  # the client should be the cheaper side

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args.port, args.size, args.connections, args.duration))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
