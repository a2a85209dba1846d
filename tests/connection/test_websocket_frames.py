"""The WebSocket session against hand-built frames: fragments, size limits, bad UTF-8,
protocol errors, pings, close codes, abrupt disconnects and back-pressure both ways."""

from __future__ import annotations

import zlib
from typing import Any

import anyio
import pytest

from duoserve.errors import ClientDisconnected
from tests.connection.test_websocket_session import Recorder, echo
from tests.connection.ws_client import (
    BINARY,
    CLOSE,
    CONTINUATION,
    HANDSHAKE,
    PING,
    PONG,
    TEXT,
    close_payload,
    frame,
    raw_client,
    ws_server,
)

pytestmark = pytest.mark.anyio


async def test_fragments_are_reassembled_around_a_ping() -> None:
    app = Recorder()
    async with ws_server(app) as srv, raw_client(srv) as client:
        await client.send(frame(TEXT, "hé".encode()[:2], fin=False))  # splits the é
        await client.send(frame(PING, b"are you there"))
        await client.send(frame(CONTINUATION, "hé".encode()[2:] + b"llo", fin=False))
        await client.send(frame(CONTINUATION, b"!"))
        await client.send(frame(BINARY, b"\x00" * 70_000))  # 8-byte length form
        assert await client.read_frame() == (PONG, b"are you there")
        await client.send(frame(CLOSE, close_payload(1000)))
        assert await client.read_close() == (1000, "")
        assert await client.at_eof()
        disconnect = await app.finished()
    assert [m.get("text") or len(m["bytes"]) for m in app.messages[:2]] == ["héllo!", 70_000]
    assert disconnect == {"type": "websocket.disconnect", "code": 1000, "reason": ""}


async def test_close_without_code_is_1005() -> None:
    app = Recorder()
    async with ws_server(app) as srv, raw_client(srv) as client:
        await client.send(frame(CLOSE))
        assert await client.read_frame() == (CLOSE, b"")
        assert await client.at_eof()
        assert (await app.finished())["code"] == 1005


@pytest.mark.parametrize(
    "frames",
    [
        # Fragments: refused once the total passes the limit, before the message ends.
        [frame(TEXT, b"a" * 600, fin=False), frame(CONTINUATION, b"a" * 600, fin=False)],
        # One frame claiming 10 MB: refused after ws_max_size bytes of it have arrived.
        [frame(BINARY, b"b" * 1500, length=10_000_000)],
    ],
)
async def test_oversize_message_is_refused_with_1009_as_it_arrives(frames: list[bytes]) -> None:
    app = Recorder()
    async with ws_server(app, ws_max_size=1000) as srv, raw_client(srv) as client:
        await client.send(frame(TEXT, b"x" * 1000))  # exactly the limit is fine
        for data in frames:
            await client.send(data)
        assert await client.read_close() == (1009, "message too big")
        assert (await app.finished())["code"] == 1009
    assert app.messages[0] == {"type": "websocket.receive", "text": "x" * 1000, "bytes": None}


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([frame(TEXT, b"\xff\xfe")], 1007),
        ([frame(TEXT, b"\xe2\x82", fin=False), frame(CONTINUATION, b"\x28")], 1007),
        ([frame(CLOSE, close_payload(1000) + b"\xff")], 1007),
        ([frame(TEXT, b"unmasked", mask=None)], 1002),
        ([frame(0x3, b"reserved opcode")], 1002),
        ([frame(CONTINUATION, b"nothing to continue")], 1002),
        ([frame(TEXT, b"a", fin=False), frame(TEXT, b"b")], 1002),
        ([frame(PING, b"fragmented", fin=False)], 1002),
        ([frame(PING, b"p" * 126)], 1002),
        ([frame(TEXT, b"rsv1 without deflate", rsv=0x40)], 1002),
        ([frame(CLOSE, b"\x03")], 1002),
        ([frame(CLOSE, close_payload(999))], 1002),
        ([frame(CLOSE, close_payload(1006))], 1002),
    ],
)
async def test_bad_input_fails_the_connection(frames: list[bytes], code: int) -> None:
    app = Recorder()
    async with ws_server(app) as srv, raw_client(srv) as client:
        await client.send(b"".join(frames))
        assert (await client.read_close())[0] == code
        assert await client.at_eof()  # failed: no waiting for the client's close frame
        assert (await app.finished())["code"] == code


async def test_abrupt_disconnect_is_1006() -> None:
    app = Recorder()
    async with ws_server(app) as srv:
        async with raw_client(srv) as client:
            await client.send(frame(TEXT, b"one"))
        assert await app.finished() == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert app.messages[0]["text"] == "one"


async def test_frames_sent_with_the_handshake_are_kept() -> None:
    async def slow_accept(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await anyio.sleep(0.1)  # the frame is already buffered with the request head
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"].upper()})
        await send({"type": "websocket.close"})

    request = HANDSHAKE + frame(TEXT, b"early")
    async with ws_server(slow_accept) as srv, raw_client(srv, request=request) as client:
        assert await client.read_frame() == (TEXT, b"EARLY")
        assert await client.read_close() == (1000, "")


async def test_unanswered_pings_close_the_connection() -> None:
    app = Recorder()
    settings = {"ws_ping_interval": 0.05, "ws_ping_timeout": 0.2}
    async with ws_server(app, **settings) as srv, raw_client(srv) as client:
        opcode, payload = await client.read_frame() or (0, b"")
        assert opcode == PING and len(payload) == 4
        await client.send(frame(PONG, payload))
        assert (await client.read_frame() or (0,))[0] == PING  # the first pong counted
        assert await client.read_close() == (1011, "keepalive ping timeout")
        assert await client.at_eof()
        assert (await app.finished())["code"] == 1006


async def test_close_handshake_is_bounded_by_ws_close_timeout() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1001})
        result.append(await receive())

    result: list[Any] = []
    async with ws_server(app, ws_close_timeout=0.2) as srv, raw_client(srv) as client:
        assert await client.read_close() == (1001, "")
        start = anyio.current_time()
        assert await client.at_eof()  # no reply from us; the server gives up
        assert 0.15 < anyio.current_time() - start < 3
    assert result == [
        {"type": "websocket.disconnect", "code": 1006, "reason": "close handshake timed out"}
    ]


async def test_full_inbox_stops_reading_the_socket() -> None:
    size, total = 512 * 1024, 96  # 48 MiB: more than any socket buffers hold
    release = anyio.Event()
    received: list[int] = []

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while len(received) < total:
            received.append((await receive())["bytes"][0])
        await send({"type": "websocket.close"})

    frames = [frame(BINARY, bytes([i]) * size, mask=b"\0\0\0\0") for i in range(total)]
    settings = {"ws_max_queue": 2, "ws_max_size": size}
    async with ws_server(slow, **settings) as srv, raw_client(srv) as client:
        sent = 0

        async def sender() -> None:
            nonlocal sent
            for data in frames:
                await client.send(data)
                sent += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await anyio.sleep(1)
            assert sent < total  # the server stopped reading
            release.set()
        assert await client.read_close(timeout=20) == (1000, "")
    assert received == list(range(total))


async def test_a_burst_of_messages_arrives_in_order_past_a_full_inbox() -> None:
    """Messages, a ping and a close in one write: the read callback queues what fits, the
    reader task takes over at the first thing it cannot (a full inbox, the ping), and
    nothing is lost or reordered."""
    total = 300
    release = anyio.Event()
    received: list[str] = []

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["text"])

    burst = [frame(TEXT, str(i).encode()) for i in range(total // 2)]
    burst.append(frame(PING, b"mid"))
    burst += [frame(TEXT, str(i).encode()) for i in range(total // 2, total)]
    burst.append(frame(CLOSE, close_payload(1000)))
    async with ws_server(slow, ws_max_queue=4) as srv, raw_client(srv) as client:
        await client.send(b"".join(burst))
        await anyio.sleep(0.2)
        release.set()
        assert await client.read_frame() == (PONG, b"mid")
        assert await client.read_close(timeout=10) == (1000, "")
    assert received == [str(i) for i in range(total)]


async def test_client_that_never_reads_makes_send_fail_after_timeout_io() -> None:
    outcome: list[Any] = []
    done = anyio.Event()

    async def flood(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        chunk = b"z" * (1024 * 1024)
        sent = 0
        try:
            while sent < 256:
                await send({"type": "websocket.send", "bytes": chunk})
                sent += 1
        except ClientDisconnected:
            outcome.append(sent)
        outcome.append(await receive())
        done.set()

    async with ws_server(flood, timeout_io=0.3) as srv, raw_client(srv):
        with anyio.fail_after(10):
            await done.wait()
    sent, disconnect = outcome
    assert 0 < sent < 256
    assert disconnect["code"] == 1006


async def test_compressed_message_is_limited_after_inflating() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * 5_000_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    request = HANDSHAKE.replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    app = Recorder()
    async with ws_server(app, ws_max_size=100_000) as srv, raw_client(srv, request=request) as c:
        await c.send(frame(BINARY, bomb[:-4], rsv=0x40))  # ~5 kB on the wire
        assert (await c.read_close())[0] == 1009
        assert (await app.finished())["code"] == 1009


async def test_frames_split_anywhere_arrive_whole_and_in_order() -> None:
    """Plain frames (parsed in the read callback), a ping, a fragmented message and a
    frame too long to wait for (wsproto takes it as it arrives), then plain ones again, sent one byte per write and then as one write: the
    echoes come back whole, in order, at the length-encoding boundaries too (the pong
    may come before echoes of earlier messages: the reader answers it, the app echoes)."""
    sizes = [0, 1, 125, 126, 1000, 65535, 65536, 70000, 7]
    frames = [frame(BINARY, bytes([n % 251]) * n) for n in sizes]
    frames.insert(2, frame(PING, b"between"))
    frames.insert(4, frame(TEXT, b"frag", fin=False))
    frames.insert(5, frame(CONTINUATION, "mént".encode()))
    frames.append(frame(TEXT, "é".encode()))
    expected: list[tuple[int, bytes]] = [(BINARY, bytes([n % 251]) * n) for n in sizes]
    expected.insert(3, (TEXT, "fragmént".encode()))
    expected.append((TEXT, "é".encode()))
    async with ws_server(echo, ws_max_size=1 << 20) as srv:
        for one_byte_writes in (True, False):
            async with raw_client(srv) as client:
                data = b"".join(frames)
                if one_byte_writes:
                    head = data[:70]  # the small frames byte by byte; the rest in reads
                    for i in range(len(head)):
                        await client.send(head[i : i + 1])
                        await anyio.sleep(0.001)
                    await client.send(data[70:])
                else:
                    await client.send(data)
                got = [await client.read_frame() for _ in range(len(expected) + 1)]
                assert (PONG, b"between") in got
                got.remove((PONG, b"between"))
                assert got == expected
                await client.send(frame(CLOSE, close_payload(1000)))
                assert await client.read_close() == (1000, "")


@pytest.mark.parametrize(
    "data",
    [
        # A length of 5 in the 16-bit form: RFC 6455 §5.2 asks for the minimal encoding.
        bytes([0x81, 0x80 | 126]) + (5).to_bytes(2, "big") + b"\0\0\0\0" + b"hello",
        # A plain-looking text frame in the middle of a fragmented binary message.
        frame(BINARY, b"a", fin=False) + frame(TEXT, b"b"),
    ],
)
async def test_frames_the_read_callback_must_not_take_fail_the_connection(data: bytes) -> None:
    app = Recorder()
    async with ws_server(app) as srv, raw_client(srv) as client:
        await client.send(data)
        assert (await client.read_close())[0] == 1002
        assert (await app.finished())["code"] == 1002
    assert [m for m in app.messages if m["type"] == "websocket.receive"] == []
