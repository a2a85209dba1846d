"""Shared fixtures: both anyio backends, a real server on a free loopback port, raw sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from wsgiref.validate import validator

import anyio
import h11
import pytest

from duoserve import Config, Server
from duoserve.errors import StartupError
from duoserve.types import ASGIApp
from duoserve.wsgi.adapter import WSGIAdapter


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# The HTTP parser running_server() uses; the `http_codec` fixture runs a test under each.
HTTP_CODEC = "auto"


@pytest.fixture(params=["h11", "httptools"])
def http_codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Use in modules whose tests must give the same answers with both parsers."""
    # By dotted path: pytest's own copy of this module is not the one tests import.
    monkeypatch.setattr("tests.conftest.HTTP_CODEC", request.param)
    return str(request.param)


@dataclass
class RunningServer:
    server: Server
    url: str
    host: str
    port: int

    async def raw(self, data: bytes, *, read_until_close: bool = True, timeout: float = 5) -> bytes:
        """Send raw bytes on a new connection; return what the server sent back until it
        closed the connection (or until `timeout`)."""
        async with await anyio.connect_tcp(self.host, self.port) as stream:
            if data:
                await stream.send(data)
            return await read_all(stream, timeout=timeout)

    async def connect(self) -> anyio.abc.SocketStream:
        return await anyio.connect_tcp(self.host, self.port)


async def read_all(stream: anyio.abc.ByteReceiveStream, *, timeout: float = 5) -> bytes:
    chunks: list[bytes] = []
    with anyio.move_on_after(timeout):
        try:
            while True:
                chunks.append(await stream.receive())
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass
    return b"".join(chunks)


async def read_until(
    stream: anyio.abc.ByteReceiveStream, marker: bytes, *, timeout: float = 5
) -> bytes:
    """Read until `marker` has been seen (raises TimeoutError if it never comes)."""
    data = b""
    with anyio.fail_after(timeout):
        while marker not in data:
            try:
                data += await stream.receive()
            except anyio.EndOfStream:
                break
    return data


@asynccontextmanager
async def running_server(
    app: ASGIApp, *, wsgi: bool = False, validate: bool = True, **settings: Any
) -> AsyncIterator[RunningServer]:
    """A duoserve Server for `app` on 127.0.0.1, port 0, stopped gracefully on exit. With
    `wsgi`, the app is a WSGI app served as the runner serves one, wrapped in
    wsgiref.validate unless `validate` is false (tests of broken apps)."""
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    settings.setdefault("lifespan", "off" if wsgi else "auto")
    settings.setdefault("http", HTTP_CODEC)
    config = Config(app="test", **settings)
    if wsgi:
        wsgi_app = cast(Any, validator(cast(Any, app)) if validate else app)
        adapter = WSGIAdapter(wsgi_app, config)
        server = Server(config, adapter, websocket_enabled=False, interface="wsgi")
    else:
        server = Server(config, app)
    try:
        async with anyio.create_task_group() as tg:
            addresses: list[str] = await tg.start(server.serve)
            url = addresses[0]
            host, port = "", 0
            if url.startswith(("http://", "https://")):
                host, _, port_text = url.partition("://")[2].rpartition(":")
                host, port = host.strip("[]"), int(port_text)
            try:
                yield RunningServer(server, url, host, port)
            finally:
                server.shutdown()
    except BaseException as exc:
        # A startup failure is the one error tests expect to catch plainly.
        inner = getattr(exc, "exceptions", ())
        if len(inner) == 1 and isinstance(inner[0], StartupError):
            raise inner[0] from None
        raise


def parse_response(raw: bytes, method: bytes = b"GET") -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers (last value wins) and de-framed body of one raw HTTP/1.x response,
    parsed by h11 as a client would."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    status, headers, body = 0, {}, b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            status, headers = event.status_code, dict(event.headers)
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, headers, body
        elif event is h11.NEED_DATA:
            conn.receive_data(b"")
        elif isinstance(event, h11.InformationalResponse):
            continue
        else:
            raise AssertionError(f"unexpected {event!r}")
