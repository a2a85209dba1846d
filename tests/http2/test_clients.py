"""HTTP/2 with real clients over real sockets: httpx (TLS by ALPN, h2c by prior knowledge),
curl, the h2c upgrade; ASGI and WSGI apps, many streams, large bodies, trailers, crashes."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme

from tests.conftest import running_server
from tests.connection.test_access_log import Collect, access, echo_id  # noqa: F401

pytest.importorskip("h2")
pytestmark = pytest.mark.anyio


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """The request's version, method, path and body back, streamed in the app's pace."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/crash-before":
        raise RuntimeError("boom before the start")
    headers = [(b"content-type", b"text/plain"), (b"x-version", scope["http_version"].encode())]
    if scope["path"] == "/big":
        size = int(scope["query_string"] or b"0")
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = b"z" * 65_536
        sent = 0
        while sent < size:
            part = chunk[: size - sent]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/trailers":
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers, "trailers": True}
        )
        await send({"type": "http.response.body", "body": b"data", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/crash-after":
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the start")
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    reply = b"%s %s %s %d" % (
        scope["http_version"].encode(),
        scope["method"].encode(),
        target,
        len(body),
    )
    host = dict(scope["headers"]).get(b"host", b"")
    await send({"type": "http.response.body", "body": reply + b" " + host})


def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['SERVER_PROTOCOL']} {environ['REQUEST_METHOD']} {len(body)}".encode()]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, dict[str, str]]:
    directory = tmp_path_factory.mktemp("h2certs")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    return ca, {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}


def h2c_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(http1=False, http2=True, timeout=10)


async def test_h2c_prior_knowledge_get_and_post() -> None:
    async with running_server(echo) as srv, h2c_client() as client:
        response = await client.get(srv.url + "/a?b=1")
        assert response.http_version == "HTTP/2"
        assert response.text == "2 GET /a?b=1 0 " + srv.url.partition("://")[2]
        assert response.headers["x-version"] == "2"
        response = await client.post(srv.url + "/p", content=b"x" * 100_000)
        assert response.text.startswith("2 POST /p 100000")


async def test_tls_alpn_chooses_h2(certs: tuple[trustme.CA, dict[str, str]]) -> None:
    ca, settings = certs
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with running_server(echo, **settings) as srv:
        assert srv.url.startswith("https://")
        async with httpx.AsyncClient(http2=True, verify=context, timeout=10) as client:
            response = await client.get(srv.url + "/tls")
            assert response.http_version == "HTTP/2"
            assert response.text.startswith("2 GET /tls 0")
        async with httpx.AsyncClient(verify=context, timeout=10) as client:
            response = await client.get(srv.url + "/tls")  # HTTP/1.1 still by ALPN
            assert response.http_version == "HTTP/1.1"
            assert response.text.startswith("1.1 GET /tls 0")


async def test_http2_off_serves_http1_only() -> None:
    async with running_server(echo, http2="off") as srv:
        async with h2c_client() as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(srv.url + "/")
        async with httpx.AsyncClient() as client:
            assert (await client.get(srv.url + "/")).status_code == 200


async def test_wsgi_app_over_h2() -> None:
    async with running_server(wsgi_echo, wsgi=True, validate=False) as srv, h2c_client() as client:
        response = await client.post(srv.url + "/w", content=b"y" * 70_000)
        assert response.http_version == "HTTP/2"
        assert response.text == "HTTP/2 POST 70000"


async def test_many_concurrent_streams_on_one_connection() -> None:
    async with running_server(echo) as srv, h2c_client() as client:
        results: list[str] = []

        async def one(i: int) -> None:
            response = await client.get(f"{srv.url}/s{i}")
            results.append(response.text.split()[2])

        async with anyio.create_task_group() as tg:
            for i in range(150):  # past the 100 concurrent streams: refused ones are retried
                tg.start_soon(one, i)
        assert sorted(results) == sorted(f"/s{i}" for i in range(150))


async def test_large_bodies_both_ways_with_back_pressure() -> None:
    size = 8 * 1024 * 1024
    async with running_server(echo) as srv, h2c_client() as client:
        async with client.stream("GET", f"{srv.url}/big?{size}") as response:
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received < 1024 * 1024:
                    await anyio.sleep(0.001)  # a slow reader: the server waits for windows
        assert received == size

        async def upload() -> Any:
            for _ in range(64):
                yield b"u" * 65_536

        response = await client.post(srv.url + "/up", content=upload())
        assert response.text.startswith(f"2 POST /up {64 * 65_536}")


async def test_trailers_over_h2() -> None:
    pytest.importorskip("h2")
    import h2.connection
    import h2.events

    async with running_server(echo) as srv:
        stream = await srv.connect()
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(
            1,
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "x"),
                (":path", "/trailers"),
                ("te", "trailers"),
            ],
            end_stream=True,
        )
        await stream.send(conn.data_to_send())
        seen: list[Any] = []
        with anyio.fail_after(5):
            while not any(isinstance(e, h2.events.StreamEnded) for e in seen):
                seen += conn.receive_data(await stream.receive())
                await stream.send(conn.data_to_send())
        await stream.aclose()
    trailers = [e for e in seen if isinstance(e, h2.events.TrailersReceived)]
    assert trailers and (b"x-checksum", b"abc") in trailers[0].headers
    data = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
    assert data == b"data"


async def test_app_crash_before_and_after_start(caplog: pytest.LogCaptureFixture) -> None:
    async with running_server(echo) as srv, h2c_client() as client:
        response = await client.get(srv.url + "/crash-before")
        assert response.status_code == 500
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(srv.url + "/crash-after")  # the stream is reset
        response = await client.get(srv.url + "/ok")  # the connection serves on
        assert response.status_code == 200
    assert "boom before the start" in caplog.text and "boom after the start" in caplog.text


async def test_h2c_upgrade_answers_101_and_serves_stream_1() -> None:

    import h2.connection
    import h2.events

    async with running_server(echo) as srv:
        conn = h2.connection.H2Connection()
        settings = conn.initiate_upgrade_connection()
        stream = await srv.connect()
        await stream.send(
            b"GET /up?x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
        )
        data = b""
        with anyio.fail_after(5):
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), data
        await stream.send(conn.data_to_send())
        seen = conn.receive_data(rest) if rest else []
        with anyio.fail_after(5):
            while not any(isinstance(e, h2.events.StreamEnded) for e in seen):
                seen += conn.receive_data(await stream.receive())
                await stream.send(conn.data_to_send())
        await stream.aclose()
    body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
    assert body == b"2 GET /up?x 0 h"


def curl_has_http2() -> bool:
    curl = shutil.which("curl")
    if curl is None:
        return False
    return "HTTP2" in subprocess.run([curl, "-V"], capture_output=True, text=True).stdout


@pytest.mark.skipif(not curl_has_http2(), reason="curl with HTTP/2 is not installed")
async def test_curl_http2_prior_knowledge(tmp_path: Path) -> None:
    async with running_server(echo) as srv:
        result = await anyio.run_process(
            ["curl", "-s", "--http2-prior-knowledge", "-d", "hello", srv.url + "/curl"],
            check=False,
        )
    assert result.stdout.decode().startswith("2 POST /curl 5"), result


async def test_graceful_goaway_lets_in_flight_streams_finish() -> None:
    from hyperframe.frame import DataFrame, GoAwayFrame

    from tests.http2.rawh2 import open_with_get, parse, read_until_closed

    release = anyio.Event()
    started = anyio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"finished"})

    async with running_server(slow) as srv:
        _, stream = await open_with_get(srv)
        data = b""
        with anyio.fail_after(5):  # the server must close by then (the read would wait 10 s)
            await started.wait()
            srv.server.shutdown()
            while not any(isinstance(f, GoAwayFrame) for f in parse(data)):
                data += await stream.receive()
            release.set()
            data += await read_until_closed(stream, timeout=10)
        await stream.aclose()
    frames = parse(data)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways[0].error_code == 0 and goaways[0].last_stream_id == 2**31 - 1
    assert b"".join(f.data for f in frames if isinstance(f, DataFrame)) == b"finished"
    assert goaways[-1].last_stream_id == 1 and goaways[-1].error_code == 0


async def test_early_hints_and_pathsend_over_h2(tmp_path: Path) -> None:
    import h2.events

    from tests.http2.rawh2 import open_with_get

    payload = tmp_path / "file.bin"
    payload.write_bytes(b"f" * 300_000)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert "http.response.early_hint" in scope["extensions"]
        await send({"type": "http.response.early_hint", "links": [b"</s.css>; rel=preload"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(payload)})

    async with running_server(app) as srv:
        conn, stream = await open_with_get(srv)
        seen: list[Any] = []
        with anyio.fail_after(5):
            while not any(isinstance(e, h2.events.StreamEnded) for e in seen):
                events = conn.receive_data(await stream.receive())
                for event in events:
                    if isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length, 1)
                seen += events
                await stream.send(conn.data_to_send())
        await stream.aclose()
    hints = [e for e in seen if isinstance(e, h2.events.InformationalResponseReceived)]
    assert hints and (b"link", b"</s.css>; rel=preload") in hints[0].headers
    body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
    assert body == payload.read_bytes()


async def test_access_log_request_id_and_body_limit_as_over_http1(access: Collect) -> None:  # noqa: F811
    async with (
        running_server(echo_id, log_format="json", request_id=True, limit_request_body=10) as srv,
        h2c_client() as client,
    ):
        response = await client.get(f"{srv.url}/p?q", headers={"x-request-id": "abc-123"})
        assert response.text == "abc-123" and response.headers["x-request-id"] == "abc-123"
        response = await client.post(f"{srv.url}/big", content=b"b" * 11)
        assert response.status_code == 413
    assert '"GET /p?q HTTP/2" 201 7 ' in access.records[0].getMessage()
