"""HTTP/1.1 semantics over real sockets: scope, keep-alive, pipelining, chunking, HEAD,
HTTP/1.0, 100-continue, back-pressure and disconnect detection."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import read_all, read_until, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("http_codec")]


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo_scope(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    data = {
        k: v
        for k, v in scope.items()
        if k not in ("headers", "state", "raw_path", "query_string", "extensions")
    }
    data["headers"] = [[n.decode(), v.decode()] for n, v in scope["headers"]]
    data["raw_path"] = scope["raw_path"].decode()
    data["query_string"] = scope["query_string"].decode()
    data["extensions"] = sorted(scope["extensions"])
    data["body"] = body.decode()
    payload = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def test_hello_with_httpx() -> None:
    async with running_server(hello) as srv, httpx.AsyncClient() as client:
        response = await client.get(srv.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "duoserve"
    assert response.headers["date"].endswith("GMT")


async def test_scope_is_complete() -> None:
    async with running_server(echo_scope, root_path="/mnt") as srv, httpx.AsyncClient() as client:
        response = await client.post(
            srv.url + "/a%20b/%C3%A9?x=1&y=%20",
            content=b"hi",
            headers={"X-Custom": "Value"},
        )
    scope = response.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/mnt/a b/é"
    assert scope["raw_path"] == "/a%20b/%C3%A9"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == "/mnt"
    assert ["x-custom", "Value"] in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", srv.port]
    assert "http.response.pathsend" in scope["extensions"]
    assert scope["body"] == "hi"


async def test_keep_alive_and_pipelining_answer_in_order() -> None:
    async with running_server(echo_scope) as srv:
        requests = (
            b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5))
            + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = await srv.raw(requests)
    assert data.count(b"HTTP/1.1 200 OK") == 6
    paths = [
        json.loads(part.split(b"\r\n\r\n", 1)[1])["path"]
        for part in data.split(b"HTTP/1.1 200 OK")[1:]
    ]
    assert paths == ["/0", "/1", "/2", "/3", "/4", "/last"]


async def test_keep_alive_across_separate_writes() -> None:
    async with running_server(hello) as srv:
        stream = await srv.connect()
        async with stream:
            for _ in range(3):
                await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = await read_until(stream, b"Hello, world!")
                assert data.startswith(b"HTTP/1.1 200 OK\r\n")
                assert b"connection: close" not in data


async def test_chunked_request_and_response() -> None:
    async with running_server(echo_scope) as srv:
        data = await srv.raw(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
    assert json.loads(data.partition(b"\r\n\r\n")[2])["body"] == "abcdefg"


async def test_response_without_length_is_chunked() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"defg"})

    async with running_server(app) as srv:
        data = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"


async def test_head_sends_headers_without_body() -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
    first, _, second = data.partition(b"\r\n\r\n")
    assert b"content-length: 13" in first
    # The HEAD response has no body: the next bytes are the GET's status line.
    assert second.startswith(b"HTTP/1.1 200 OK")
    assert second.endswith(b"Hello, world!")


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses(status: int) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with running_server(app) as srv:
        data = await srv.raw(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
    assert data.count(b"HTTP/1.1 %d" % status) == 2
    assert b"transfer-encoding" not in data
    assert b"content-length" not in data


async def test_http10_closes_by_default_and_close_delimits() -> None:
    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part1 ", "more_body": True})
        await send({"type": "http.response.body", "body": b"part2"})

    async with running_server(streaming) as srv:
        data = await srv.raw(b"GET / HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert b"connection: close" in head
    assert body == b"part1 part2"


async def test_http10_keep_alive_when_asked() -> None:
    async with running_server(hello) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            first = await read_until(stream, b"Hello, world!")
            assert b"connection: keep-alive" in first
            await stream.send(b"GET / HTTP/1.0\r\n\r\n")
            second = await read_all(stream)
    assert second.startswith(b"HTTP/1.0 200 OK") and second.endswith(b"Hello, world!")


async def test_connection_close_from_client_closes() -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert data.count(b"HTTP/1.1 200") == 1
    assert b"connection: close" in data


async def test_connection_close_from_app_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"connection", b"close"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    async with running_server(app) as srv:
        data = await srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.count(b"HTTP/1.1 200") == 1


async def test_expect_100_continue_sent_when_app_reads() -> None:
    async with running_server(echo_scope) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            interim = await read_until(stream, b"\r\n\r\n")
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            await stream.send(b"hello")
            data = await read_all(stream)
    assert json.loads(data.partition(b"\r\n\r\n")[2])["body"] == "hello"


async def test_expect_100_continue_not_sent_when_app_answers_first() -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            timeout=1,
        )
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"100 Continue" not in data


async def test_unread_body_is_skipped_when_buffered() -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert data.count(b"HTTP/1.1 200 OK") == 2


async def test_large_upload_streams_in_pieces() -> None:
    sizes: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            sizes.append(len(message["body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(sum(sizes)).encode()})

    body = b"x" * (4 * 1024 * 1024)
    async with running_server(app) as srv, httpx.AsyncClient() as client:
        response = await client.post(srv.url, content=body)
    assert response.text == str(len(body))
    assert len(sizes) > 4 and max(sizes) <= 1024 * 1024


async def test_unread_body_applies_back_pressure() -> None:
    """An app that never reads the body: the server does not read it for it, so a client
    pushing a large body gets stuck in send() instead of filling server memory."""
    started = anyio.Event()
    release = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async with running_server(app) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n")
            await started.wait()
            sent = 0
            with anyio.move_on_after(1.5):
                while True:
                    await stream.send(b"x" * 65536)
                    sent += 65536
            release.set()
    # Kernel buffers hold a few MB at most; 200 MB would have gone through without it.
    assert sent < 50 * 1024 * 1024


async def test_disconnect_reaches_app_while_streaming() -> None:
    got_disconnect = anyio.Event()

    async def sse(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                got_disconnect.set()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            while True:
                await send(
                    {"type": "http.response.body", "body": b"data: x\n\n", "more_body": True}
                )
                await anyio.sleep(0.05)

    async with running_server(sse) as srv:
        stream = await srv.connect()
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(stream, b"data: x")
        await stream.aclose()
        with anyio.fail_after(5):
            await got_disconnect.wait()


async def test_send_after_disconnect_raises_oserror() -> None:
    raised = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            with anyio.fail_after(10):
                while True:
                    await send(
                        {"type": "http.response.body", "body": b"x" * 65536, "more_body": True}
                    )
        except OSError:
            raised.set()
            raise

    async with running_server(app) as srv:
        stream = await srv.connect()
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(stream, b"xxxx")
        await stream.aclose()
        with anyio.fail_after(10):
            await raised.wait()


async def test_pathsend_sends_file(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 4000
    path.write_bytes(content)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    async with running_server(app) as srv, httpx.AsyncClient() as client:
        response = await client.get(srv.url)
    assert response.content == content


async def test_each_codec_is_really_used(http_codec: str) -> None:
    """Guards the parametrization: the server under test runs the parser named in its id."""
    async with running_server(hello) as srv:
        assert srv.server.config.http == http_codec


async def test_bad_body_then_app_returns_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """An app that reads a body the server rejects (a bad chunk size: 400) and then returns
    without a response: the client gets the 400 alone, nothing is logged as an error, and
    the server goes on serving."""

    async def reader(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        if scope["path"] == "/hello":
            await hello(scope, receive, send)
            return
        while (await receive())["type"] != "http.disconnect":
            pass

    caplog.set_level("INFO", logger="duoserve")
    async with running_server(reader, lifespan="off") as srv:
        async with await anyio.connect_tcp(srv.host, srv.port) as stream:
            await stream.send(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            )
            data = await read_all(stream)
        assert data.startswith(b"HTTP/1.1 400 ")
        assert data.count(b"HTTP/1.1") == 1
        async with httpx.AsyncClient() as client:
            assert (await client.get(srv.url + "/hello")).text == "Hello, world!"
    errors = [r for r in caplog.records if r.levelno >= 40]
    assert errors == [], [r.getMessage() for r in errors]
