"""Timeouts, graceful shutdown, connection limits and lifespan, over real sockets."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import httpx
import pytest

from duoserve import Config, Server
from duoserve.errors import StartupError
from tests.conftest import read_all, read_until, running_server

pytestmark = pytest.mark.anyio


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("head_timeout", [None, 30.0])
async def test_idle_keep_alive_connection_is_closed(head_timeout: float | None) -> None:
    """Closed quietly after timeout_keep_alive. The wait for a first request
    (timeout_request_head) and the idle waits between requests share one timer per
    connection: a keep-alive wait shorter than the first must not inherit its deadline."""
    settings = {} if head_timeout is None else {"timeout_request_head": head_timeout}
    async with running_server(hello, timeout_keep_alive=0.3, **settings) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await read_until(stream, b"ok")
            with anyio.fail_after(3):
                rest = await read_all(stream, timeout=3)
    assert rest == b""  # closed quietly, no error response


async def test_slow_head_gets_408() -> None:
    async with running_server(hello, timeout_request_head=0.3) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
            with anyio.fail_after(3):
                data = await read_all(stream, timeout=3)
    assert data.startswith(b"HTTP/1.1 408 ")


async def test_head_timeout_runs_from_the_first_bytes_of_a_head() -> None:
    """Between requests the keep-alive timeout applies; once a head has begun, it must be
    complete within timeout_request_head (the lean stream switches its one timer when
    the first bytes arrive)."""
    async with running_server(hello, timeout_keep_alive=30, timeout_request_head=0.4) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await read_until(stream, b"ok")
            await anyio.sleep(0.6)  # idle longer than the head timeout: still open
            started = anyio.current_time()
            await stream.send(b"GET / HT")
            with anyio.fail_after(3):
                data = await read_all(stream, timeout=3)
            waited = anyio.current_time() - started
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.3 < waited < 2.5


async def test_head_in_pieces_is_served() -> None:
    """A head split over several reads is put together wherever the splits fall."""
    async with running_server(hello) as srv:
        stream = await srv.connect()
        async with stream:
            for piece in (b"GE", b"T / HTTP/1.1\r", b"\nHost: x\r\n", b"\r\n"):
                await stream.send(piece)
                await anyio.sleep(0.05)
            with anyio.fail_after(3):
                data = await read_until(stream, b"ok")
    assert data.startswith(b"HTTP/1.1 200 ")


async def test_request_sent_during_a_response_is_served_next() -> None:
    """Bytes of the next request that arrive while the app runs are kept and parsed
    when the connection waits for its next head."""

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await anyio.sleep(0.3)
        await hello(scope, receive, send)

    async with running_server(slow) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
            await anyio.sleep(0.1)
            await stream.send(b"GET /2 HTTP/1.1\r\nHost: x\r\n")
            await anyio.sleep(0.05)
            await stream.send(b"\r\n")
            data = b""
            with anyio.fail_after(5):
                while data.count(b"\r\n\r\nok") < 2:
                    data += await stream.receive()
    assert data.count(b"HTTP/1.1 200 ") == 2


async def test_connection_without_any_bytes_is_closed_after_head_timeout() -> None:
    async with running_server(hello, timeout_request_head=0.3) as srv:
        stream = await srv.connect()
        async with stream:
            with anyio.fail_after(3):
                data = await read_all(stream, timeout=3)
    assert data == b""


async def test_stalled_body_sender_gets_408_and_the_app_a_disconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break

    async with running_server(app, timeout_io=0.3) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            with anyio.fail_after(3):
                data = await read_all(stream, timeout=3)
    assert events == ["http.request", "http.disconnect"]
    # The client's fault (RFC 9110 §15.5.9), not the app's: no 500, no error logged.
    assert data.startswith(b"HTTP/1.1 408 ") and b"connection: close\r\n" in data
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_graceful_shutdown_finishes_in_flight_and_closes_idle() -> None:
    entered = anyio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        if scope["path"] == "/slow":
            entered.set()
            await anyio.sleep(0.5)
        await hello(scope, receive, send)

    server = Server(Config(app="t", host="127.0.0.1", port=0), slow)
    async with anyio.create_task_group() as tg:
        url = (await tg.start(server.serve))[0]
        port = int(url.rsplit(":", 1)[1])
        idle = await anyio.connect_tcp("127.0.0.1", port)
        await idle.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(idle, b"ok")
        busy = await anyio.connect_tcp("127.0.0.1", port)
        await busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await entered.wait()
        server.shutdown()
        with anyio.fail_after(3):
            assert await read_all(idle) == b""  # idle keep-alive closed at once
            answer = await read_all(busy)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
        assert b"connection: close" in answer
        await idle.aclose()
        await busy.aclose()


async def test_shutdown_lets_a_begun_head_finish() -> None:
    """A keep-alive connection that has sent part of its next head is not idle: shutdown
    does not close it, and the request is answered once the head is complete."""
    async with running_server(hello) as srv:
        stream = await srv.connect()
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(stream, b"ok")
        await stream.send(b"GET /next HTTP/1.1\r\nHo")
        await anyio.sleep(0.2)
        srv.server.shutdown()
        await anyio.sleep(0.3)
        await stream.send(b"st: x\r\n\r\n")
        with anyio.fail_after(5):
            answer = await read_all(stream)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
        assert b"connection: close" in answer
        await stream.aclose()


async def test_shutdown_serves_a_new_connection_whose_request_is_late() -> None:
    """A connection accepted before the listener closed is not idle: its request, sent just
    after shutdown began, is answered; a new connection that stays silent is closed after
    the short grace, not after the (long) head timeout."""
    server = Server(Config(app="t", host="127.0.0.1", port=0, timeout_request_head=30), hello)
    async with anyio.create_task_group() as tg:
        url = (await tg.start(server.serve))[0]
        port = int(url.rsplit(":", 1)[1])
        late = await anyio.connect_tcp("127.0.0.1", port)
        silent = await anyio.connect_tcp("127.0.0.1", port)
        await anyio.sleep(0.2)  # both accepted by the server
        started = anyio.current_time()
        server.shutdown()
        await anyio.sleep(0.2)
        await late.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            answer = await read_all(late)
            assert await read_all(silent) == b""
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
        assert b"connection: close" in answer
        assert anyio.current_time() - started < 3
        await late.aclose()
        await silent.aclose()


async def test_shutdown_answers_connections_queued_in_the_backlog() -> None:
    """A connection the kernel queued but the server had not accepted yet when the drain
    began (here: beyond --limit-connections) is accepted and answered before the listener
    closes, not reset by the close."""
    entered = anyio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            entered.set()
            await anyio.sleep(0.5)
        await hello(scope, receive, send)

    async with running_server(slow, limit_connections=1) as srv:
        busy = await srv.connect()
        await busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await entered.wait()
        queued = await srv.connect()  # accepted by the kernel, not yet by duoserve
        await queued.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await anyio.sleep(0.1)
        srv.server.shutdown()
        with anyio.fail_after(5):
            answers = [await read_all(queued), await read_all(busy)]
        await queued.aclose()
        await busy.aclose()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
        assert b"connection: close" in answer


async def test_shutdown_answers_the_backlog_when_nothing_else_is_open() -> None:
    """Connections the kernel queued while the event loop was busy, with none open, are
    answered by the drain (counted from the moment they are accepted, so the drain does
    not end before their tasks run)."""

    def ask(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock

    def answer(sock: socket.socket) -> bytes:
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        return data

    async with running_server(hello) as srv:
        # No await from here to shutdown(): the event loop cannot accept meanwhile, so the
        # three connections wait in the backlog until the drain takes them.
        socks = [ask(srv.port) for _ in range(3)]
        srv.server.shutdown()
        answers = [await anyio.to_thread.run_sync(answer, sock) for sock in socks]
    # Answered, every one (on trio the accept loop may still take one before the stop
    # is seen; that one is answered as usual and closed as idle).
    for data in answers:
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"ok")


async def test_graceful_timeout_cancels_requests_at_the_deadline() -> None:
    """At the deadline an in-flight request is cancelled at once, not after the WebSocket
    close timeout: the app sees the cancellation and the connection closes unanswered."""
    cancelled = anyio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    settings = {"timeout_graceful_shutdown": 0.3, "ws_close_timeout": 5}
    async with running_server(stuck, lifespan="off", **settings) as srv:
        async with await srv.connect() as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await anyio.sleep(0.1)
            started = anyio.current_time()
            srv.server.shutdown()
            with anyio.fail_after(2):
                await cancelled.wait()
                assert await read_all(stream) == b""
            assert anyio.current_time() - started < 1
    assert srv.server.cut == 1 and srv.server.exit_status != 0


async def test_graceful_timeout_cuts_stuck_requests() -> None:
    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await anyio.sleep_forever()

    server = Server(
        Config(
            app="t", host="127.0.0.1", port=0, timeout_graceful_shutdown=0.3, ws_close_timeout=0.1
        ),
        stuck,
    )
    async with anyio.create_task_group() as tg:
        url = (await tg.start(server.serve))[0]
        async with await anyio.connect_tcp("127.0.0.1", int(url.rsplit(":", 1)[1])) as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await anyio.sleep(0.1)
            started = anyio.current_time()
            server.shutdown()
            with anyio.fail_after(5):
                assert await read_all(stream) == b""
            assert anyio.current_time() - started < 3


async def test_limit_connections_holds_extra_connections_in_backlog() -> None:
    async with running_server(hello, limit_connections=1, timeout_keep_alive=0.5) as srv:
        first = await srv.connect()
        await first.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(first, b"ok")
        second = await srv.connect()  # accepted by the kernel, not yet by duoserve
        await second.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with anyio.move_on_after(0.2):
            early = await second.receive()
            pytest.fail(f"served beyond the limit: {early!r}")
        await first.aclose()  # frees the slot
        with anyio.fail_after(5):
            answer = await read_all(second)
        await second.aclose()
    assert answer.startswith(b"HTTP/1.1 200 OK")


async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["db"] = "connected"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = scope["state"]["db"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_lifespan_state_is_shared_into_requests() -> None:
    async with running_server(lifespan_app, lifespan="on") as srv, httpx.AsyncClient() as c:
        assert (await c.get(srv.url)).text == "connected"
    assert srv.server.lifespan_supported


async def test_lifespan_on_requires_support() -> None:
    with pytest.raises(StartupError, match="must support lifespan"):
        async with running_server(hello, lifespan="on"):
            pass


async def test_lifespan_auto_tolerates_apps_without_it() -> None:
    async with running_server(hello, lifespan="auto") as srv, httpx.AsyncClient() as client:
        assert (await client.get(srv.url)).text == "ok"
    assert not srv.server.lifespan_supported


async def test_lifespan_startup_failure_is_startup_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(StartupError, match="no database"):
        async with running_server(app):
            pass


async def test_lifespan_startup_timeout() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await anyio.sleep_forever()

    with pytest.raises(StartupError, match="did not complete"):
        async with running_server(app, timeout_lifespan=0.2):
            pass
