"""The ASGI websocket session with a real client (websockets): messages, subprotocols,
compression, close codes, refusals, app errors, keep-alive pings, shutdown."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from duoserve.errors import ClientDisconnected
from tests.connection.ws_client import HANDSHAKE, in_client_thread, raw_client, ws_server, ws_url

pytestmark = pytest.mark.anyio


class Recorder:
    """Accepts (with `accept` keys), records every message up to the disconnect, then
    runs `after(send, receive)` if given."""

    def __init__(self, after: Any = None, **accept: Any) -> None:
        self.accept = accept
        self.after = after
        self.scope: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.done = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        try:
            assert (await receive()) == {"type": "websocket.connect"}
            await send({"type": "websocket.accept", **self.accept})
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] == "websocket.disconnect":
                    break
            if self.after is not None:
                await self.after(send, receive)
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.done.set()

    async def finished(self, timeout: float = 5) -> dict[str, Any]:
        """The disconnect message, once the app has returned."""
        with anyio.fail_after(timeout):
            await self.done.wait()
        return self.messages[-1]


async def echo(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"], "bytes": message["bytes"]})


async def test_echo_and_scope() -> None:
    app = Recorder()

    async def client(url: str) -> list[Any]:
        async with connect(url + "?x=1", subprotocols=["a", "b"]) as ws:  # type: ignore[list-item]
            await ws.send("héllo")
            await ws.send(b"\x00\x01")
            await ws.close(4000, "bye")
        return [ws.subprotocol]

    async with ws_server(app, root_path="/api") as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == [None]
        disconnect = await app.finished()
    assert app.messages[:2] == [
        {"type": "websocket.receive", "text": "héllo", "bytes": None},
        {"type": "websocket.receive", "text": None, "bytes": b"\x00\x01"},
    ]
    assert disconnect == {"type": "websocket.disconnect", "code": 4000, "reason": "bye"}
    scope = app.scope
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/api/ws" and scope["root_path"] == "/api"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["a", "b"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["extensions"] == {"websocket.http.response": {}}


async def test_subprotocol_and_accept_headers() -> None:
    app = Recorder(subprotocol="b", headers=[(b"x-extra", b"1")])

    async def client(url: str) -> tuple[str | None, str | None]:
        async with connect(url, subprotocols=["a", "b"]) as ws:  # type: ignore[list-item]
            return ws.subprotocol, ws.response.headers.get("x-extra")

    async with ws_server(app) as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == ("b", "1")


@pytest.mark.parametrize("enabled", [True, False])
async def test_permessage_deflate(enabled: bool) -> None:
    async def client(url: str) -> tuple[str | None, list[Any]]:
        async with connect(url, compression="deflate") as ws:
            replies = []
            for message in ["a" * 10_000, b"b" * 10_000, "c"]:
                await ws.send(message)
                replies.append(await ws.recv())
            return ws.response.headers.get("sec-websocket-extensions"), replies

    async with ws_server(echo, ws_per_message_deflate=enabled) as srv:
        header, replies = await in_client_thread(lambda: client(ws_url(srv)))
    assert replies == ["a" * 10_000, b"b" * 10_000, "c"]
    assert (header is not None and header.startswith("permessage-deflate")) is enabled


async def test_app_close_then_disconnect_and_no_more_receives() -> None:
    seen: list[Any] = []
    done = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "last"})
        await send({"type": "websocket.close", "code": 4001, "reason": "done"})
        await send({"type": "websocket.close"})  # a second close is a no-op
        seen.append(await receive())
        with pytest.raises(ClientDisconnected):
            await receive()
        with pytest.raises(ClientDisconnected):
            await send({"type": "websocket.send", "text": "too late"})
        seen.append("ok")
        done.set()

    async def client(url: str) -> tuple[Any, int | None, str | None]:
        async with connect(url) as ws:
            first = await ws.recv()
            await ws.wait_closed()
            return first, ws.close_code, ws.close_reason

    async with ws_server(app) as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == ("last", 4001, "done")
        with anyio.fail_after(5):
            await done.wait()
    assert seen == [{"type": "websocket.disconnect", "code": 4001, "reason": "done"}, "ok"]


async def test_send_after_client_left_raises_and_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def after(send: Any, receive: Any) -> None:
        await send({"type": "websocket.send", "text": "anyone?"})  # raises ClientDisconnected

    app = Recorder(after)

    async def client(url: str) -> None:
        async with connect(url) as ws:
            await ws.close()

    with caplog.at_level(logging.INFO, logger="duoserve.error"):
        async with ws_server(app) as srv:
            await in_client_thread(lambda: client(ws_url(srv)))
            assert (await app.finished())["code"] == 1000
    assert len(app.errors) == 1 and isinstance(app.errors[0], ClientDisconnected)
    assert isinstance(app.errors[0], OSError)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_close_before_accept_is_403() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1000})
        assert (await receive())["type"] == "websocket.disconnect"

    async def client(url: str) -> int:
        try:
            async with connect(url):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    async with ws_server(app) as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == 403


async def test_denial_response_extension() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"text/plain"), (b"x-why", b"token")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})

    async with ws_server(app) as srv, raw_client(srv, expect=b"401") as client:
        body = await client.read_rest()
    assert body == b"3\r\nno \r\n5\r\nentry\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (HANDSHAKE.replace(b"Version: 13", b"Version: 8"), b"426"),
        (HANDSHAKE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"), b"400"),
        (HANDSHAKE.replace(b"GET", b"POST"), b"400"),
    ],
)
async def test_invalid_handshake_is_refused(request_bytes: bytes, status: bytes) -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    async with ws_server(app) as srv, raw_client(srv, request=request_bytes, expect=status) as c:
        await c.read_rest()
    assert not called


async def test_app_error_before_accept_is_500_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="duoserve.error"):
        async with ws_server(app) as srv, raw_client(srv, expect=b"500") as client:
            await client.read_rest()
    assert [r.exc_info is not None for r in caplog.records if r.levelno >= logging.ERROR] == [True]


async def test_unoffered_subprotocol_fails_the_handshake() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "nope"})

    async with ws_server(app) as srv, raw_client(srv, expect=b"500") as client:
        await client.read_rest()


@pytest.mark.parametrize("raises", [True, False])
async def test_app_ending_without_close_is_1011(
    raises: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        if raises:
            raise RuntimeError("boom")

    async def client(url: str) -> int | None:
        async with connect(url) as ws:
            await ws.wait_closed()
            return ws.close_code

    with caplog.at_level(logging.INFO, logger="duoserve.error"):
        async with ws_server(app) as srv:
            assert await in_client_thread(lambda: client(ws_url(srv))) == 1011
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == raises


async def test_server_pings_keep_a_live_client() -> None:
    async def client(url: str) -> Any:
        async with connect(url, ping_interval=None) as ws:
            await anyio.sleep(0.5)  # several server pings, answered by the client
            await ws.send("still here")
            return await ws.recv()

    async with ws_server(echo, ws_ping_interval=0.05, ws_ping_timeout=0.2) as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == "still here"


@pytest.mark.parametrize(("mode", "min_delay"), [("immediate", 0.0), ("graceful", 0.3)])
async def test_shutdown_closes_with_1001(mode: str, min_delay: float) -> None:
    app = Recorder()
    connected = anyio.Event()
    settings = {"ws_shutdown": mode, "timeout_graceful_shutdown": 0.3}

    async def client(url: str) -> tuple[int | None, float]:
        async with connect(url) as ws:
            anyio.from_thread.run_sync(connected.set)
            start = time.monotonic()
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            return ws.close_code, time.monotonic() - start

    async with ws_server(app, **settings) as srv, anyio.create_task_group() as tg:

        async def run_client() -> None:
            result.extend(await in_client_thread(lambda: client(ws_url(srv))))

        result: list[Any] = []
        tg.start_soon(run_client)
        with anyio.fail_after(5):
            await connected.wait()
        srv.server.shutdown()
    code, elapsed = result
    assert code == 1001
    assert min_delay <= elapsed < min_delay + 3
    assert (await app.finished())["code"] == 1001


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "websocket.send"}, RuntimeError),
        ({"type": "websocket.send", "text": "a", "bytes": b"a"}, RuntimeError),
        ({"type": "websocket.close", "code": 999}, ValueError),
        ({"type": "websocket.accept"}, RuntimeError),
        ({"type": "http.response.start", "status": 200}, RuntimeError),
    ],
)
async def test_invalid_messages_after_accept_raise(message: Any, error: type[Exception]) -> None:
    raised: list[Exception] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send(message)
        except Exception as exc:
            raised.append(exc)

    async def client(url: str) -> int | None:
        async with connect(url) as ws:
            await ws.wait_closed()
            return ws.close_code

    async with ws_server(app) as srv:
        assert await in_client_thread(lambda: client(ws_url(srv))) == 1011
    assert [type(e) for e in raised] == [error]


async def test_unfinished_denial_response_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"partial", "more_body": True})

    with caplog.at_level(logging.INFO, logger="duoserve.error"):
        async with ws_server(app) as srv, raw_client(srv, expect=b"400") as client:
            assert await client.read_rest() == b"7\r\npartial\r\n"  # no final chunk
    assert any("without accepting" in r.getMessage() for r in caplog.records)
