"""The ByteStream contract of open_stream() over real socket pairs (the lean asyncio stream,
anyio's stream on trio), and a slow reader cut off through the whole server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from duoserve.errors import ClientDisconnected
from duoserve.net.accept import open_stream
from duoserve.net.transports import LeanStream
from tests.conftest import read_all, read_until, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """The lean stream runs on both asyncio loops (uvloop's transports are its own)."""
    return request.param


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def stream_pair(
    kernel_buffers: int = 0,
) -> AsyncIterator[tuple[anyio.abc.SocketStream, socket.socket]]:
    """(server side through open_stream, non-blocking raw client socket). With
    `kernel_buffers`, the kernel's buffers are that small, so only ours can hold much."""
    listener = socket.create_server(("127.0.0.1", 0))
    if kernel_buffers:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, kernel_buffers)
    client = socket.create_connection(listener.getsockname())
    if kernel_buffers:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, kernel_buffers)
    accepted, _ = listener.accept()
    listener.close()
    accepted.setblocking(False)
    client.setblocking(False)
    stream = await open_stream(accepted, close_timeout=1.0, tcp=True)
    try:
        yield stream, client
    finally:
        await stream.aclose()
        client.close()


async def test_lean_stream_is_used_on_asyncio(anyio_backend: Any) -> None:
    async with stream_pair() as (stream, _):
        assert isinstance(stream, LeanStream) == (anyio_backend != "trio")


async def test_receive_respects_max_bytes_and_keeps_the_rest() -> None:
    async with stream_pair() as (stream, client):
        client.sendall(b"abcdef")
        data = await stream.receive(4)
        with anyio.fail_after(5):
            while len(data) < 6:
                data += await stream.receive(4)
        assert data == b"abcdef"


async def test_end_of_stream_after_peer_closes() -> None:
    async with stream_pair() as (stream, client):
        client.sendall(b"last")
        client.shutdown(socket.SHUT_WR)
        data = b""
        with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
            while True:
                data += await stream.receive()
        assert data == b"last"
        await stream.send(b"still writable")  # half-close: the answer can still go out
        await anyio.wait_readable(client)
        assert client.recv(100) == b"still writable"


async def test_receive_wait_is_cancellable() -> None:
    async with stream_pair() as (stream, client):
        with anyio.move_on_after(0.1) as scope:
            await stream.receive()
        assert scope.cancelled_caught
        client.sendall(b"after")  # the stream is still usable after a cancelled wait
        with anyio.fail_after(5):
            assert await stream.receive() == b"after"


async def test_closed_stream_refuses_use() -> None:
    async with stream_pair() as (stream, _):
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")


async def test_addresses_are_exposed() -> None:
    async with stream_pair() as (stream, client):
        assert stream.extra(SocketAttribute.remote_address) == client.getsockname()
        assert stream.extra(SocketAttribute.local_address) == client.getpeername()
        assert stream.extra(SocketAttribute.raw_socket).fileno() >= 0


async def test_send_waits_while_the_peer_does_not_read() -> None:
    async with stream_pair() as (stream, client):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        chunk = b"x" * 65536
        sent = 0
        with anyio.move_on_after(0.5) as scope:
            while True:
                await stream.send(chunk)
                sent += len(chunk)
        assert scope.cancelled_caught, "send() never waited for the reader"
        assert sent < 64 * 1024 * 1024


async def test_reading_pauses_when_the_app_does_not_read() -> None:
    """The stream buffers about READ_HIGH_WATER (anyio's reads only on demand), then the
    kernel buffers fill and the client's sends stop: input per connection is bounded."""
    async with stream_pair(kernel_buffers=65536) as (stream, client):
        sent = 0
        with anyio.move_on_after(1.0):
            while True:
                await anyio.wait_writable(client)
                sent += client.send(b"y" * 65536)
        assert sent < 2 * 1024 * 1024
        received = 0
        with anyio.fail_after(10):
            while received < sent:
                received += len(await stream.receive())
        assert received == sent  # nothing lost while reading was paused


async def test_client_that_never_reads_is_cut_after_timeout_io() -> None:
    failures: list[BaseException] = []
    cut_off = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] != "/big":
            await send({"type": "http.response.body", "body": b"ok"})
            return
        try:
            for _ in range(4096):
                await send({"type": "http.response.body", "body": b"z" * 65536, "more_body": True})
        except ClientDisconnected as exc:
            failures.append(exc)
            cut_off.set()
            raise

    async with running_server(app, timeout_io=0.5) as srv:
        stream = await srv.connect()
        raw: socket.socket = stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await stream.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(10):
            await cut_off.wait()
        # The server is still answering others.
        async with await srv.connect() as other:
            await other.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b"200 OK" in await read_until(other, b"200 OK")
        await stream.aclose()


async def test_pipelined_requests_and_keep_alive_timeout() -> None:
    async with running_server(hello, timeout_keep_alive=0.3) as srv:
        async with await srv.connect() as stream:
            await stream.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
            data = b""
            with anyio.fail_after(5):
                while data.count(b"200 OK") < 50:
                    data += await stream.receive()
            await stream.send(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in await read_until(stream, b"ok")
            # Then idle: closed quietly after timeout_keep_alive.
            with anyio.fail_after(3):
                assert await read_all(stream, timeout=3) == b""


async def test_shutdown_closes_idle_connections_at_once() -> None:
    async with running_server(hello, timeout_keep_alive=30) as srv:
        async with await srv.connect() as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await read_until(stream, b"ok")
            srv.server.shutdown()
            with anyio.fail_after(3):
                assert await read_all(stream, timeout=3) == b""
