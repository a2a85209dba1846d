"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) with a real client: the h2 package and
wsproto's framing, over h2c by prior knowledge and over TLS with ALPN; the same session,
limits and close codes as over HTTP/1.1, flow control both ways, refusals and resets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest
import trustme
from anyio.streams.tls import TLSAttribute

pytest.importorskip("h2")
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

from duoserve.config.settings import Config
from duoserve.core.server import Server
from duoserve.http2.events import ErrorCode
from duoserve.observe.metrics import block, layout
from duoserve.observe.metrics.recorder import Recorder
from tests.conftest import RunningServer, running_server
from tests.connection.test_access_log import Collect, access  # noqa: F401
from tests.connection.ws_client import HANDSHAKE
from tests.http2.h2ws_client import (
    ENABLE_CONNECT_PROTOCOL,
    WS,
    H2Client,
    client_context,
    open_client,
)

pytestmark = pytest.mark.anyio


class App:
    """Echoes messages; paths choose other behaviour. Records each disconnect it sees."""

    def __init__(self) -> None:
        self.disconnects: list[tuple[int, str]] = []
        self.gate = anyio.Event()  # /slow reads only once it is set

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/hang":
                await anyio.sleep_forever()
            body = f"{scope['http_version']} {scope['method']} {scope['path']}".encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        path = scope["path"]
        if path == "/reject":
            await send({"type": "websocket.close"})
            return
        if path == "/deny":
            headers = [(b"www-authenticate", b"Bearer")]
            start = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
            await send(start)
            await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"entry"})
            return
        described = {
            "http_version": scope["http_version"],
            "scheme": scope["scheme"],
            "path": path,
            "query": scope["query_string"].decode(),
            "subprotocols": scope["subprotocols"],
            "host": dict(scope["headers"]).get(b"host", b"").decode(),
        }
        chosen = scope["subprotocols"][0] if scope["subprotocols"] else None
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": chosen,
                "headers": [(b"x-scope", json.dumps(described).encode())],
            }
        )
        if path == "/close":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        if path == "/slow":
            await self.gate.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnects.append((message["code"], message.get("reason") or ""))
                return
            reply = {k: message.get(k) for k in ("text", "bytes")}
            with suppress(OSError):  # the client may be gone already
                await send({"type": "websocket.send", **reply})


@asynccontextmanager
async def connected(
    app: Any, *, tls: Any = None, wsgi: bool = False, **settings: Any
) -> AsyncIterator[tuple[RunningServer, H2Client]]:
    async with running_server(app, wsgi=wsgi, **settings) as srv:
        sock, client = await open_client(srv.host, srv.port, tls=tls)
        async with sock:
            yield srv, client


async def message(ws: Any) -> Message[Any]:
    event = await ws.next()
    assert isinstance(event, TextMessage | BytesMessage), event
    return event


async def test_echo_over_h2c_with_the_scope_of_http2() -> None:
    app = App()
    async with connected(app) as (srv, client):
        assert client.server_settings.get(ENABLE_CONNECT_PROTOCOL) == 1
        ws = await client.websocket(b"/chat?room=1")
        assert ws.stream.status == 200
        assert ws.stream.header(b"sec-websocket-accept") is None  # RFC 8441 §5
        described = json.loads(ws.stream.header(b"x-scope") or b"")
        assert described == {
            "http_version": "2",
            "scheme": "ws",
            "path": "/chat",
            "query": "room=1",
            "subprotocols": [],
            "host": f"{srv.host}:{srv.port}",
        }
        await ws.send(TextMessage("hello"))
        assert (await message(ws)).data == "hello"
        await ws.send(BytesMessage(b"\x00\x01" * 10))
        assert (await message(ws)).data == b"\x00\x01" * 10
        await ws.send(CloseConnection(1000, "done"), end=True)  # RFC 8441 §5: FIN = END_STREAM
        close = await ws.next()
        assert isinstance(close, CloseConnection) and close.code == 1000
        await client.until(lambda: ws.stream.ended)  # the close ends the stream
        await client.until(lambda: bool(app.disconnects))
        assert app.disconnects == [(1000, "done")]
        assert ws.stream.reset is None


async def test_over_tls_with_alpn(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    settings = {
        "ssl_certfile": str(tmp_path / "cert.pem"),
        "ssl_keyfile": str(tmp_path / "key.pem"),
    }
    async with connected(App(), tls=client_context(ca), **settings) as (_, client):
        assert client.sock.extra(TLSAttribute.alpn_protocol) == "h2"
        assert client.server_settings.get(ENABLE_CONNECT_PROTOCOL) == 1
        ws = await client.websocket(b"/secure", subprotocols=[b"chat", b"other"])
        assert ws.stream.status == 200
        assert ws.stream.header(b"sec-websocket-protocol") == b"chat"
        described = json.loads(ws.stream.header(b"x-scope") or b"")
        assert described["scheme"] == "wss" and described["subprotocols"] == ["chat", "other"]
        await ws.send(TextMessage("über"))
        assert (await message(ws)).data == "über"


async def test_large_messages_cross_many_data_frames_both_ways() -> None:
    """4 MiB each way: 16x the stream's window up, 64x the client's down, so both sides
    wait for WINDOW_UPDATEs (the server's credit comes back only as its session reads)."""
    async with connected(App()) as (_, client):
        ws = await client.websocket(b"/big")
        payload = bytes(range(256)) * (4 * 4096)
        await ws.send(BytesMessage(payload))
        echoed = await message(ws)
        assert echoed.data == payload
        assert len(ws.stream.frames) >= len(payload) // 16_384


async def test_a_session_that_does_not_read_closes_the_window() -> None:
    """The app reads nothing until the gate opens: the client can send little more than
    the stream's window and the inbox, then everything arrives once it reads."""
    app = App()
    async with connected(app, ws_max_queue=1, h2_stream_buffer=65_535) as (_, client):
        ws = await client.websocket(b"/slow")
        chunk = b"m" * 16_000
        sent = 0
        window = client.conn.local_flow_control_window
        with anyio.move_on_after(1):  # cancels a read only, never a frame half sent
            while True:
                while window(ws.stream.sid) > len(chunk) + 8 and sent < 100:
                    await ws.send(BytesMessage(chunk))
                    sent += 1
                await client.pump()  # the WINDOW_UPDATEs the server still sends
        assert 4 <= sent < 20, sent  # stopped by the window, not by the test's count
        assert client.conn.local_flow_control_window(ws.stream.sid) < len(chunk)
        app.gate.set()
        for _ in range(100):
            if sent < 100:
                await ws.send(BytesMessage(chunk))
                sent += 1
            assert (await message(ws)).data == chunk


async def test_permessage_deflate_negotiated_as_over_http1() -> None:
    async with connected(App()) as (_, client):
        ws = await client.websocket(b"/z", deflate=True)
        assert ws.stream.header(b"sec-websocket-extensions") == b"permessage-deflate"
        text = "compress me " * 10_000
        await ws.send(TextMessage(text))
        assert (await message(ws)).data == text
        assert sum(len(f) for f in ws.stream.frames) < len(text) // 20  # it was compressed
    async with connected(App(), ws_per_message_deflate=False) as (_, client):
        ws = await client.websocket(b"/z", deflate=True)
        assert ws.stream.header(b"sec-websocket-extensions") is None


async def test_the_app_closes_with_its_code() -> None:
    async with connected(App()) as (_, client):
        ws = await client.websocket(b"/close")
        close = await ws.next()
        assert isinstance(close, CloseConnection) and (close.code, close.reason) == (4001, "bye")
        await ws.send(close.response(), end=True)
        await client.until(lambda: ws.stream.ended)
        assert ws.stream.reset is None


async def test_a_client_reset_is_a_disconnect_1006() -> None:
    app = App()
    async with connected(app) as (_, client):
        ws = await client.websocket(b"/gone")
        await ws.send(TextMessage("x"))
        assert (await message(ws)).data == "x"
        client.conn.reset_stream(ws.stream.sid, ErrorCode.CANCEL)
        await client.flush()
        await client.until(lambda: bool(app.disconnects))  # pumps meanwhile
        assert app.disconnects == [(1006, "")]
        assert client.goaway is None, client.goaway
        assert (await client.get(b"/after")).status == 200  # the connection goes on


async def test_a_message_over_ws_max_size_closes_1009() -> None:
    app = App()
    async with connected(app, ws_max_size=1000) as (_, client):
        ws = await client.websocket(b"/limit")
        await ws.send(BytesMessage(b"a" * 1000))
        assert len((await message(ws)).data) == 1000
        await ws.send(BytesMessage(b"a" * 1001))
        close = await ws.next()
        assert isinstance(close, CloseConnection) and close.code == 1009
        await client.until(lambda: ws.stream.ended or ws.stream.reset is not None)
        await client.until(lambda: bool(app.disconnects))
        assert app.disconnects == [(1009, "message too big")]


async def test_refusals_before_accept() -> None:
    async with connected(App()) as (_, client):
        rejected = await client.websocket(b"/reject")
        await client.until(lambda: rejected.stream.ended)
        assert rejected.stream.status == 403
        assert client.take(rejected.stream) == b"403 Forbidden\n"
        denied = await client.websocket(b"/deny")  # websocket.http.response
        await client.until(lambda: denied.stream.ended)
        assert denied.stream.status == 401
        assert denied.stream.header(b"www-authenticate") == b"Bearer"
        assert client.take(denied.stream) == b"no entry"
        old = await client.websocket(b"/v", version=b"8")
        assert old.stream.status == 426
        assert old.stream.header(b"sec-websocket-version") == b"13"
        for pseudo in ({}, {"protocol": b"connect-udp"}):
            other = await client.request(b"CONNECT", b"/", **pseudo)
            await client.until(lambda s=other: s.ended)  # type: ignore[misc]
            assert other.status == 501, pseudo
        assert (await client.get(b"/still")).status == 200


@pytest.mark.parametrize("how", ["ws none", "wsgi"])
async def test_not_advertised_then_refused_with_protocol_error(how: str) -> None:
    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi"]

    app, options = (App(), {"ws": "none"}) if how == "ws none" else (wsgi, {"wsgi": True})
    async with connected(app, **options) as (_, client):  # type: ignore[arg-type]
        assert client.server_settings.get(ENABLE_CONNECT_PROTOCOL, 0) == 0
        ws = await client.websocket(b"/ws")
        assert ws.stream.reset == ErrorCode.PROTOCOL_ERROR and not ws.stream.headers
        assert (await client.get(b"/plain")).status == 200  # a stream error only


async def test_websockets_and_requests_multiplexed_on_one_connection() -> None:
    app = App()
    async with connected(app) as (_, client):
        sockets = [await client.websocket(b"/m%d" % i) for i in range(4)]
        for i, ws in enumerate(sockets):
            await ws.send(TextMessage(f"to {i}"))
        page = await client.get(b"/page")
        assert page.status == 200
        for i, ws in reversed(list(enumerate(sockets))):
            assert (await message(ws)).data == f"to {i}"
        assert len({ws.stream.sid for ws in sockets}) == 4
        for ws in sockets:
            await ws.send(CloseConnection(1000), end=True)
        await client.until(lambda: len(app.disconnects) == 4)
        assert (await client.get(b"/page")).status == 200


async def test_access_log_shows_the_session_over_http2(access: Collect) -> None:  # noqa: F811
    fmt = "{method} {target} {http_version} {status} {request_id}"
    async with connected(App(), access_log_format=fmt, request_id=True) as (srv, client):
        ws = await client.websocket(b"/logged?q=1")
        await ws.send(CloseConnection(1000), end=True)
        await ws.next()
        rejected = await client.websocket(b"/reject")
        await client.until(lambda: rejected.stream.ended)
        await client.until(lambda: len(access.records) == 2)
        handshake = HANDSHAKE.replace(b"/ws", b"/reject")
        assert (await srv.raw(handshake)).startswith(b"HTTP/1.1 403 ")  # the same over 1.1
        await client.until(lambda: len(access.records) == 3)
    assert sorted(r.getMessage() for r in access.records) == [
        "CONNECT /logged?q=1 2 200 -",
        "CONNECT /reject 2 403 -",
        "GET /reject 1.1 403 -",
    ]


async def test_metrics_count_the_session_as_a_websocket() -> None:
    recorder = Recorder(block.private(), "asgi")
    config = Config(app="test", host="127.0.0.1", port=0, lifespan="off")
    server = Server(config, App(), metrics=recorder)
    values = recorder.slot.values
    async with anyio.create_task_group() as tg:
        url = (await tg.start(server.serve))[0]
        host, _, port = url.partition("://")[2].rpartition(":")
        sock, client = await open_client(host, int(port))
        async with sock:
            ws = await client.websocket(b"/counted")
            assert values[layout.WEBSOCKETS_OPEN] == 1
            await ws.send(CloseConnection(1000), end=True)
            await ws.next()
            await client.until(lambda: values[layout.WEBSOCKETS_OPEN] == 0)
        server.shutdown()
    assert values[layout.WEBSOCKET_SESSIONS] == 1
    websocket = layout.INTERFACES.index("websocket")
    assert values[layout.request_index(websocket, 0, 1)] == 1  # GET, 2xx: the 200


async def test_keepalive_pings_and_a_missing_pong() -> None:
    app = App()
    async with connected(app, ws_ping_interval=0.2, ws_ping_timeout=0.3) as (_, client):
        ws = await client.websocket(b"/ping")
        ping = await ws.next()
        assert isinstance(ping, Ping)
        await ws.send(ping.response())  # answered: the session goes on
        assert isinstance(await ws.next(), Ping)
        close = await ws.next()  # this one is not answered
        assert isinstance(close, CloseConnection) and close.code == 1011
        await client.until(lambda: bool(app.disconnects))
        assert app.disconnects == [(1006, "keepalive ping timeout")]


# A graceful stop's deadline is where the backends differ most (asyncio cancels tasks,
# trio cancel scopes): these run on uvloop too.
ALL_LOOPS = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        pytest.param("trio", id="trio"),
    ],
)


async def answer_the_stop(client: H2Client, ws: WS, close: CloseConnection, app: App) -> int:
    """Answer the server's 1001: the app sees it, the stream ends cleanly and then the
    connection, after a graceful GOAWAY first; the last stream id of its final GOAWAY."""
    await ws.send(close.response(), end=True)
    await client.until(lambda: bool(app.disconnects))
    assert app.disconnects == [(1001, "server shutting down")]
    await client.until(lambda: ws.stream.ended and client.closed)
    assert ws.stream.reset is None
    assert client.goaways[0] == (ErrorCode.NO_ERROR, 2**31 - 1)
    code, last = client.goaways[-1]
    assert code == ErrorCode.NO_ERROR
    return last


@ALL_LOOPS
@pytest.mark.parametrize(("mode", "min_delay"), [("immediate", 0.0), ("graceful", 0.3)])
async def test_shutdown_closes_with_1001_and_waits_for_the_handshake(
    mode: str, min_delay: float
) -> None:
    """As over HTTP/1.1: the stop sends 1001 at once ('immediate') or at the graceful
    deadline ('graceful'), then waits for the client's close frame, which the app sees; the
    stream ends cleanly, and the connection with its final GOAWAY."""
    app = App()
    settings = {"ws_shutdown": mode, "timeout_graceful_shutdown": min_delay or 5.0}
    async with connected(app, **settings) as (srv, client):
        ws = await client.websocket(b"/stop")
        await ws.send(TextMessage("x"))
        assert (await message(ws)).data == "x"
        start = anyio.current_time()
        srv.server.shutdown()
        close = await ws.next()
        elapsed = anyio.current_time() - start
        assert isinstance(close, CloseConnection), close
        assert (close.code, close.reason) == (1001, "server shutting down")
        assert min_delay <= elapsed < min_delay + 3, elapsed
        await anyio.sleep(0.1)  # the server waits for our answer (ws_close_timeout)
        assert await answer_the_stop(client, ws, close, app) == ws.stream.sid


@ALL_LOOPS
async def test_the_graceful_deadline_resets_requests_and_closes_websockets() -> None:
    """At the deadline the connection's plain streams are cancelled (RST_STREAM) while its
    WebSocket gets 1001 and the time for the close handshake; then the final GOAWAY."""
    app = App()
    async with connected(app, timeout_graceful_shutdown=0.3) as (srv, client):
        ws = await client.websocket(b"/stop")
        hung = await client.request(b"GET", b"/hang")
        srv.server.shutdown()
        close = await ws.next()
        assert isinstance(close, CloseConnection) and close.code == 1001
        await client.until(lambda: hung.reset is not None, timeout=2)
        assert hung.reset == ErrorCode.INTERNAL_ERROR and not hung.headers
        assert not ws.stream.ended and client.goaway == ErrorCode.NO_ERROR  # the first
        assert await answer_the_stop(client, ws, close, app) == hung.sid
