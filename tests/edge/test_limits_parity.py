"""Each limit answers an ASGI app and a WSGI app the same way (status, then close): request
body size, request head timeout, connections per address, concurrency, keep-alive."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import anyio
import pytest

from tests.conftest import RunningServer, parse_response, read_all, read_until, running_server

pytestmark = pytest.mark.anyio

INTERFACES = pytest.mark.parametrize("wsgi", [False, True], ids=["asgi", "wsgi"])


class Gate:
    """Lets a test hold a request inside the app (ASGI task or WSGI thread) and release it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    async def wait_entered(self) -> None:
        assert await anyio.to_thread.run_sync(self.entered.wait, 10)


def make_app(wsgi: bool, gate: Gate) -> Any:
    """Reads the whole body and answers with its size; /hold waits at the gate first."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/hold":
            gate.entered.set()
            await anyio.to_thread.run_sync(gate.release.wait, 10)
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        text = str(size).encode()
        headers = [(b"content-length", str(len(text)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": text})

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/hold":
            gate.entered.set()
            gate.release.wait(10)
        size = 0
        while chunk := environ["wsgi.input"].read(65536):
            size += len(chunk)
        text = str(size).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))]
        )
        return [text]

    return wsgi_app if wsgi else asgi


def served(wsgi: bool, gate: Gate | None = None, **settings: Any) -> Any:
    settings.setdefault("access_log", False)
    return running_server(make_app(wsgi, gate or Gate()), wsgi=wsgi, **settings)


def status(raw: bytes) -> int:
    return parse_response(raw)[0] if raw else 0


POST = b"POST / HTTP/1.1\r\nHost: x\r\n"


@INTERFACES
async def test_request_body_limit(wsgi: bool) -> None:
    async with served(wsgi, limit_request_body=10) as srv:
        small = await srv.raw(POST + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
        declared = await srv.raw(POST + b"Content-Length: 100\r\n\r\n" + b"x" * 100)
        chunked = await srv.raw(
            POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"8\r\nxxxxxxxx\r\n" * 3 + b"0\r\n\r\n"
        )
    assert parse_response(small)[2] == b"5"
    assert (status(declared), status(chunked)) == (413, 413)


@INTERFACES
async def test_request_head_timeout(wsgi: bool) -> None:
    async with served(wsgi, timeout_request_head=0.5) as srv:
        with anyio.fail_after(10):
            response = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=10)
    assert status(response) == 408


async def hold_one(srv: RunningServer, gate: Gate) -> anyio.abc.SocketStream:
    stream = await srv.connect()
    await stream.send(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
    await gate.wait_entered()
    return stream


@INTERFACES
async def test_concurrency_limit(wsgi: bool) -> None:
    gate = Gate()
    async with served(wsgi, gate, limit_concurrency=1) as srv:
        held = await hold_one(srv, gate)
        async with held:
            refused = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            gate.release.set()
            first = await read_until(held, b"\r\n\r\n0")
        await until_served(srv)  # the slot frees once the first request has finished
    assert status(refused) == 503
    assert b"too many requests" in refused
    assert first.startswith(b"HTTP/1.1 200 ")


async def until_served(srv: RunningServer) -> None:
    with anyio.fail_after(10):
        while True:
            again = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if status(again) == 200:
                return
            assert status(again) == 503
            await anyio.sleep(0.05)


@INTERFACES
async def test_connections_per_ip_limit(wsgi: bool) -> None:
    gate = Gate()
    gate.release.set()
    async with served(wsgi, gate, limit_connections_per_ip=2) as srv:
        first, second = await srv.connect(), await srv.connect()
        async with first, second:
            for stream in (first, second):  # both served, then idle on keep-alive
                await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert (await read_until(stream, b"\r\n\r\n0")).startswith(b"HTTP/1.1 200 ")
            third = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await until_served(srv)  # once they are closed, the address may connect again
    assert status(third) == 503
    assert b"too many connections" in third


@INTERFACES
async def test_keep_alive_timeout(wsgi: bool) -> None:
    async with served(wsgi, timeout_keep_alive=0.3) as srv:
        async with await srv.connect() as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(10):
                data = await read_all(stream, timeout=10)  # ends when the server closes
    assert status(data) == 200
    assert data.count(b"HTTP/1.1") == 1
