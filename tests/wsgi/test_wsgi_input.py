"""wsgi.input over real sockets: every read method, back-pressure, 100-continue, chunked
bodies buffered (CONTENT_LENGTH set) or streamed, limits and disconnects."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from typing import Any

import anyio
import httpx
import pytest

from duoserve.wsgi.input import InputStream
from tests.conftest import parse_response, read_until, running_server

pytestmark = pytest.mark.anyio


def digest_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Reads the body with read(n) in small steps and answers its length and sha256."""
    stream = environ["wsgi.input"]
    digest, total = hashlib.sha256(), 0
    while chunk := stream.read(8192):
        digest.update(chunk)
        total += len(chunk)
    body = f"{total} {digest.hexdigest()} {environ.get('CONTENT_LENGTH', '-')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def lines_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    stream = environ["wsgi.input"]
    first = stream.readline()
    capped = stream.readline(3)
    rest = stream.readlines()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"|".join([first, capped, *rest])]


def iter_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    lines = list(environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d:" % len(lines), *lines]


@pytest.mark.parametrize("validate", [True, False])
async def test_large_upload_digest(validate: bool) -> None:
    payload = os.urandom(5 * 1024 * 1024 + 7)
    async with running_server(digest_app, wsgi=True, validate=validate) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.post(srv.url, content=payload)
    expected = f"{len(payload)} {hashlib.sha256(payload).hexdigest()} {len(payload)}"
    assert response.text == expected


async def test_readline_readlines_and_iteration() -> None:
    body = b"first line\nsecond\nthird\nno newline"
    async with running_server(lines_app, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            lines = await client.post(srv.url, content=body)
    assert lines.content == b"first line\n|sec|ond\n|third\n|no newline"
    async with running_server(iter_app, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            iterated = await client.post(srv.url, content=body)
    assert iterated.content == b"4:" + body


def test_input_stream_methods_unit() -> None:
    """read() with no argument, and reads that straddle chunk borders (no server needed:
    wsgiref.validate forbids read() without a size, so the socket tests cannot use it)."""
    chunks = [b"ab\nc", b"def\n", b"g"]  # Pull returns b"" only at the end
    stream = InputStream(lambda: chunks.pop(0) if chunks else b"")
    assert stream.read(1) == b"a"
    assert stream.readline() == b"b\n"
    assert stream.readline(2) == b"cd"
    assert stream.read() == b"ef\ng"
    assert stream.read() == b"" and stream.readline() == b""


@pytest.mark.parametrize(
    ("mode", "spool", "expected_length"), [("buffer", 1 << 20, True), ("buffer", 100, True)]
)
async def test_chunked_upload_is_buffered_with_content_length(
    mode: str, spool: int, expected_length: bool
) -> None:
    payload = os.urandom(300_000)

    async def chunks() -> Any:
        for i in range(0, len(payload), 50_000):
            yield payload[i : i + 50_000]

    settings = {"wsgi_chunked_input": mode, "wsgi_input_spool": spool}
    async with running_server(digest_app, wsgi=True, **settings) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.post(srv.url, content=chunks())
    digest = hashlib.sha256(payload).hexdigest()
    assert response.text == f"{len(payload)} {digest} {len(payload)}"


async def test_chunked_upload_streamed_has_no_content_length() -> None:
    payload = os.urandom(200_000)

    async def chunks() -> Any:
        yield payload[:1000]
        yield payload[1000:]

    async with running_server(digest_app, wsgi=True, wsgi_chunked_input="stream") as srv:
        async with httpx.AsyncClient() as client:
            response = await client.post(srv.url, content=chunks())
    assert response.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()} -"


@pytest.mark.parametrize("chunked", [True, False])
async def test_body_over_the_limit_is_413(chunked: bool) -> None:
    async with running_server(digest_app, wsgi=True, limit_request_body=1000) as srv:
        stream = await srv.connect()
        async with stream:
            framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 5000"
            await stream.send(b"POST / HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % framing)
            body = b"x" * 5000
            await stream.send(b"1388\r\n%s\r\n0\r\n\r\n" % body if chunked else body)
            data = await read_until(stream, b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413 ")


async def test_expect_100_continue_is_sent_on_first_read() -> None:
    async with running_server(digest_app, wsgi=True) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = await read_until(stream, b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
            await stream.send(b"data")
            final = await read_until(stream, b" 4")
    assert final.startswith(b"HTTP/1.1 200 ")


async def test_no_100_continue_when_the_app_does_not_read() -> None:
    def no_read(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"no"]

    async with running_server(no_read, wsgi=True) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
            )
            data = await read_until(stream, b"no")
    assert data.startswith(b"HTTP/1.1 403 ")


async def test_body_is_read_only_as_the_app_consumes_it() -> None:
    """Back-pressure: while the app holds off reading, the client cannot push the body in."""
    go = threading.Event()
    seen: list[int] = []

    def slow_reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.append(len(stream.read(1024)))
        go.wait(10)
        total = seen[0]
        while chunk := stream.read(65536):
            total += len(chunk)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % total]

    size = 32 * 1024 * 1024
    block = b"x" * 65536
    # Blocking socket calls run in a thread: the event loop must stay free for the server.
    async with running_server(slow_reader, wsgi=True) as srv:
        sock = socket.create_connection((srv.host, srv.port))

        def push_until_blocked() -> int:
            head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            sock.sendall(head % size)
            sock.settimeout(1.0)
            sent = 0
            try:
                while sent < size:
                    sent += sock.send(block)
            except TimeoutError:
                return sent
            raise AssertionError("the whole body was accepted while the app was not reading")

        sent = await anyio.to_thread.run_sync(push_until_blocked)
        assert seen == [1024]
        assert sent < size // 4  # the kernel buffers some; nothing like the whole body
        go.set()

        def finish() -> bytes:
            sock.settimeout(10)
            remaining = size - sent
            while remaining:
                remaining -= sock.send(block[: min(len(block), remaining)])
            data = b""
            while chunk := sock.recv(65536):  # until the server closes
                data += chunk
            return data

        try:
            data = await anyio.to_thread.run_sync(finish)
        finally:
            sock.close()
    status, _, body = parse_response(data)
    assert (status, body) == (200, b"%d" % size)


async def test_client_leaving_mid_body_reaches_the_app_as_oserror() -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read(100_000)
        except OSError as exc:
            errors.append(exc)
            raise
        finally:
            done.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"unreachable"]

    async with running_server(reader, wsgi=True) as srv:
        stream = await srv.connect()
        await stream.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        await anyio.sleep(0.1)
        await stream.aclose()
        await anyio.to_thread.run_sync(done.wait, 5)
    assert len(errors) == 1 and isinstance(errors[0], OSError)
