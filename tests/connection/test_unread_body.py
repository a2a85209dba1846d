"""A response given before the request body arrived (a Flask view rejecting a POST
without reading it): the server skips the late body and keeps the connection, instead of
closing it while the client may already be sending its next request on it."""

from __future__ import annotations

import select
import socket
import time

import anyio
import pytest

from duoserve.types import Receive, Scope, Send
from tests.conftest import running_server

pytestmark = pytest.mark.anyio


async def reject_unread(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b"rejected without reading"
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def post_late_body_then_get(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n")
        readable, _, _ = select.select([sock], [], [], 5)  # the response is there, unread
        assert readable
        sock.sendall(b"x" * 65536)  # the body arrives after the response
        time.sleep(0.1)  # had the server closed at once, its reset would be back by now
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


async def test_late_body_is_skipped_and_the_connection_reused() -> None:
    async with running_server(reject_unread, access_log=False) as server:
        data = await anyio.to_thread.run_sync(post_late_body_then_get, server.host, server.port)
    assert data.count(b"HTTP/1.1 400 ") == 2
    assert data.count(b"rejected without reading") == 2
