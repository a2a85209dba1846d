"""WSGI responses over real sockets: streaming with back-pressure, write(), Content-Length
and framing, close() always called, file_wrapper, start_response rules, the error policy
and the thread pool bound."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import parse_response, read_all, running_server

pytestmark = pytest.mark.anyio
TEXT = [("Content-Type", "text/plain")]


class Tracked:
    """A response iterable that records how far it got and whether close() was called."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.produced += 1
            yield chunk

    def close(self) -> None:
        self.closed.set()


@pytest.mark.parametrize("validate", [True, False])
async def test_streamed_body_and_close(validate: bool) -> None:
    tracked = Tracked(iter([b"", b"one ", b"", b"two ", b"three"]))

    def app(environ: dict[str, Any], start_response: Any) -> Tracked:
        start_response("200 OK", TEXT)
        return tracked

    async with running_server(app, wsgi=True, validate=validate) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.text == "one two three"
    assert response.headers["transfer-encoding"] == "chunked"
    assert tracked.closed.is_set()


class ListBody:
    """A response object holding its body in a list, as Django's HttpResponse does."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closes = 0
        self.closed_in: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closes += 1
        self.closed_in = threading.current_thread().name


async def test_a_body_held_in_a_list_goes_out_whole_and_is_closed_once() -> None:
    """Like a list, with a Content-Length and no chunk-by-chunk crossing; close() runs
    once, in the app's thread. A generator still streams (test above)."""
    bodies: list[ListBody] = []

    def app(environ: dict[str, Any], start_response: Any) -> ListBody:
        start_response("200 OK", TEXT)
        bodies.append(ListBody([b"one ", b"", b"two"]))
        return bodies[-1]

    async with running_server(app, wsgi=True, validate=False) as srv:
        async with httpx.AsyncClient() as client:
            responses = [await client.get(srv.url) for _ in range(2)]
    for response in responses:
        assert response.text == "one two"
        assert response.headers["content-length"] == "7"
        assert "transfer-encoding" not in response.headers
    assert [body.closes for body in bodies] == [1, 1]
    assert all((body.closed_in or "").startswith("duoserve-wsgi") for body in bodies)


@pytest.mark.parametrize("validate", [True, False])
async def test_content_length_from_the_app_is_honoured(validate: bool) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [*TEXT, ("Content-Length", "10")])
        yield b"01234"
        yield b"56789"

    async with running_server(app, wsgi=True, validate=validate) as srv:
        raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw10 = await srv.raw(b"GET / HTTP/1.0\r\n\r\n")
    for data in (raw, raw10):
        status, headers, body = parse_response(data)
        assert (status, headers[b"content-length"], body) == (200, b"10", b"0123456789")
        assert b"transfer-encoding" not in headers


async def test_same_headers_again_get_their_own_content_length() -> None:
    """Header lists are checked once and then looked up; the length the server adds to a
    whole body must not stick to the list for the next response."""
    bodies = [b"a", b"bbb", b"cc"]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        return [bodies[int(environ["PATH_INFO"][1:])]]

    # Unvalidated: wsgiref's validator would wrap the list and make it a stream.
    async with running_server(app, wsgi=True, validate=False) as srv:
        async with httpx.AsyncClient() as client:
            for n, body in enumerate(bodies):
                response = await client.get(f"{srv.url}/{n}")
                assert response.content == body
                assert response.headers.get_list("content-length") == [str(len(body))]


async def test_http10_without_length_is_close_delimited() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        yield b"abc"
        yield b"def"

    async with running_server(app, wsgi=True) as srv:
        raw = await srv.raw(b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b"abcdef" and b"connection: close" in head.lower()


async def test_write_callable_then_iterable() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"written ")
        write(b"")
        write(b"twice ")
        return [b"and returned"]

    async with running_server(app, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.text == "written twice and returned"


async def test_head_has_no_body_and_closes_the_iterable() -> None:
    tracked = Tracked(iter([b"body"]))

    def app(environ: dict[str, Any], start_response: Any) -> Tracked:
        start_response("200 OK", [*TEXT, ("Content-Length", "4")])
        return tracked

    async with running_server(app, wsgi=True) as srv:
        raw = await srv.raw(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n") and b"content-length: 4" in raw
    assert tracked.closed.is_set()


async def test_large_generator_keeps_memory_bounded_and_is_closed_on_disconnect() -> None:
    """A 1 GiB generator: while the client does not read, the app is held back after a
    bounded number of chunks; when the client leaves, close() runs."""
    chunk = b"x" * 65536
    tracked = Tracked(chunk for _ in range(16384))

    def app(environ: dict[str, Any], start_response: Any) -> Tracked:
        start_response("200 OK", TEXT)
        return tracked

    async with running_server(app, wsgi=True, timeout_io=30) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect((srv.host, srv.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        await anyio.to_thread.run_sync(sock.recv, 100)  # not on the loop the server runs on
        await anyio.sleep(1.0)
        held = tracked.produced
        await anyio.sleep(0.5)
        assert tracked.produced == held  # stalled by the socket, not running ahead
        assert held * len(chunk) < 32 * 1024 * 1024
        sock.close()
        await anyio.to_thread.run_sync(tracked.closed.wait, 10)
    assert tracked.closed.is_set()


async def test_iterable_closed_when_the_app_raises_mid_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = threading.Event()

    class Failing:
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise ValueError("boom mid-stream")

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Failing:
        start_response("200 OK", TEXT)
        return Failing()

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, wsgi=True, validate=False) as srv:
            raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and b"partial" in raw
    assert not raw.endswith(b"0\r\n\r\n")  # cut short: the client can tell
    assert closed.is_set()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "boom mid-stream" in str(errors[0].exc_info)


async def test_app_error_before_the_body_is_500_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("kaboom")
        start_response("200 OK", TEXT)
        return [b"fine"]

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, wsgi=True) as srv:
            async with httpx.AsyncClient() as client:
                boom, fine = await client.get(f"{srv.url}/boom"), await client.get(srv.url)
    assert boom.status_code == 500 and fine.text == "fine"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "kaboom" in str(errors[0].exc_info)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("20 OK", TEXT),
        ("200OK", TEXT),
        ("101 Switching Protocols", TEXT),
        ("200 OK", [*TEXT, ("Upgrade", "websocket")]),
        ("200 OK", [*TEXT, ("Keep-Alive", "timeout=5")]),
        ("200 OK", [*TEXT, ("X-Bad", "a\r\nInjected: 1")]),
        ("200 OK", [*TEXT, ("Bad Name", "x")]),
        ("200 OK", [*TEXT, ("X-Snow", "\u2603")]),
        ("200 OK", [(b"content-type", b"text/plain")]),
        ("200 OK", (("Content-Type", "text/plain"),)),
    ],
)
async def test_bad_status_or_headers_are_500(
    status: Any, headers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"never sent"]

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, wsgi=True, validate=False) as srv:
            raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 ") and b"never sent" not in raw
    assert b"Injected" not in raw
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


async def test_connection_close_and_chunked_from_the_app_are_honoured() -> None:
    """PEP 3333 forbids hop-by-hop headers, but apps in the wild send these two: the
    connection closes after the response, and the body is framed once, by the server."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [*TEXT, ("Connection", "close"), ("Transfer-Encoding", "chunked")])
        yield b"abc"
        yield b"def"

    async with running_server(app, wsgi=True) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(5):
                raw = await read_all(stream)  # ends: the server closed the connection
    status, headers, body = parse_response(raw)
    assert (status, body) == (200, b"abcdef")
    assert headers[b"connection"] == b"close"
    assert raw.lower().count(b"transfer-encoding") == 1


async def test_exc_info_replaces_headers_before_the_body() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", TEXT, sys.exc_info())
        return [b"sorry"]

    async with running_server(app, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert (response.status_code, response.text) == (503, "sorry")


async def test_exc_info_after_the_body_started_reraises_and_cuts_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"started")
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        yield b"unreachable"

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, wsgi=True) as srv:
            raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and b"started" in raw
    assert b"unreachable" not in raw and not raw.endswith(b"0\r\n\r\n")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "too late" in str(errors[0].exc_info)


async def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", TEXT)
        start_response("201 Created", TEXT)
        return [b"x"]

    async with running_server(app, wsgi=True, validate=False) as srv:
        raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 ")


@pytest.mark.parametrize("validate", [True, False])
async def test_file_wrapper_sends_the_file_and_closes_it(tmp_path: Path, validate: bool) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    opened: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))],
        )
        file = path.open("rb")
        file.seek(0)
        opened.append(file)
        return environ["wsgi.file_wrapper"](file, 65536)

    async with running_server(app, wsgi=True, validate=validate) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
            head = await client.head(srv.url)
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()
    assert head.headers["content-length"] == str(len(data)) and head.content == b""
    assert len(opened) == 2 and all(f.closed for f in opened)


async def test_file_wrapper_over_a_non_file_falls_back_to_iteration() -> None:
    import io

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", TEXT)
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory " * 1000), 1000)

    async with running_server(app, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.content == b"in memory " * 1000


async def test_threads_bound_concurrent_requests() -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        start_response("200 OK", TEXT)
        return [b"ok"]

    async with running_server(app, wsgi=True, threads=2) as srv:
        async with httpx.AsyncClient() as client:
            async with anyio.create_task_group() as tg:
                for _ in range(6):
                    tg.start_soon(client.get, srv.url)
    assert running[1] == 2


async def test_wsgi_errors_goes_to_the_error_log(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].write("first line\nsecond ")
        environ["wsgi.errors"].write("line\n")
        start_response("200 OK", TEXT)
        return [b"ok"]

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, wsgi=True) as srv:
            await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    messages = [r.getMessage() for r in caplog.records if r.name == "duoserve.error"]
    assert messages == ["first line", "second line"]


async def test_slow_client_does_not_block_other_requests() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", TEXT)
        if environ["PATH_INFO"] == "/big":
            for _ in range(4096):
                yield b"y" * 65536
        else:
            yield b"quick"

    async with running_server(app, wsgi=True, threads=4) as srv:
        stalled = await srv.connect()
        await stalled.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        async with httpx.AsyncClient() as client:
            for _ in range(5):
                assert (await client.get(f"{srv.url}/q")).text == "quick"
        await stalled.aclose()


async def test_whitespace_around_header_values_is_dropped() -> None:
    """Django's WSGI handler sends `Set-Cookie: " csrftoken=..."`; the value goes out bare."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [*TEXT, ("Set-Cookie", " a=b; Path=/"), ("X-Pad", "\tv ")])
        return [b"ok"]

    async with running_server(app, wsgi=True, validate=False) as srv:
        raw = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_response(raw)
    assert (status, body) == (200, b"ok")
    assert b"\r\nset-cookie: a=b; Path=/\r\n" in raw and headers[b"x-pad"] == b"v"
