"""The WSGI environ over real sockets: every PEP 3333 key, exact path and header rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import parse_response, read_until, running_server

pytestmark = pytest.mark.anyio

_SHOWN = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.url_scheme",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
    "wsgi.input_terminated",
)


def show_environ(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    shown = {k: v for k, v in environ.items() if k in _SHOWN or k.startswith("HTTP_")}
    shown["wsgi.version"] = list(environ["wsgi.version"])
    shown["file_wrapper"] = callable(environ["wsgi.file_wrapper"])
    shown["errors"] = hasattr(environ["wsgi.errors"], "write")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    shown["body"] = environ["wsgi.input"].read(length).decode("latin-1")
    body = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def test_environ_is_complete_and_exact() -> None:
    async with running_server(show_environ, wsgi=True) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{srv.url}/a%20b/c%2Fd?x=1&y=%20",
                content=b"hello",
                headers=[
                    ("Content-Type", "text/plain"),
                    ("X-Multi", "one"),
                    ("X-Multi", "two"),
                    ("X-User", "alice"),
                    ("X_User", "mallory"),
                    ("Cookie", "a=1"),
                    ("Cookie", "b=2"),
                ],
            )
    assert response.status_code == 200
    env = response.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a b/c/d"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert int(env["REMOTE_PORT"]) > 0
    assert env["HTTP_HOST"] == f"127.0.0.1:{srv.port}"
    assert env["HTTP_X_MULTI"] == "one,two"
    assert env["HTTP_X_USER"] == "alice"  # the underscore spelling never shadows it
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["file_wrapper"] and env["errors"]
    assert env["body"] == "hello"


@pytest.mark.parametrize(
    ("target", "root_path", "script_name", "path_info"),
    [
        (b"/x/y", "/app", "/app", "/x/y"),  # a proxy stripped /app: it is not in the path
        (b"/caf%C3%A9", "", "", "/caf\xc3\xa9"),  # bytes as latin-1 str, per PEP 3333
        (b"/%FF%00ok", "", "", "/\xff\x00ok"),  # not UTF-8: still exact
        (b"/", "", "", "/"),
    ],
)
async def test_script_name_and_path_info(
    target: bytes, root_path: str, script_name: str, path_info: str
) -> None:
    async with running_server(show_environ, wsgi=True, root_path=root_path) as srv:
        head = b"GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n" % target
        raw = await srv.raw(head)
    env = json.loads(parse_response(raw)[2])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info)


async def test_http10_and_no_body_headers() -> None:
    async with running_server(show_environ, wsgi=True) as srv:
        raw = await srv.raw(b"GET /?q HTTP/1.0\r\n\r\n")
    _, headers, body = parse_response(raw)
    env = json.loads(body)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert env["QUERY_STRING"] == "q"
    assert headers[b"connection"] == b"close" and b"transfer-encoding" not in headers


async def test_unix_socket_environ(tmp_path: Any) -> None:
    path = tmp_path / "s.sock"
    async with running_server(show_environ, wsgi=True, bind=(f"unix:{path}",)):
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("http://example.com:8080/u")
    env = response.json()
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert "REMOTE_ADDR" not in env


async def test_websocket_upgrade_to_a_wsgi_app_is_plain_http() -> None:
    async with running_server(show_environ, wsgi=True) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            data = await read_until(stream, b"\r\n0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    env = json.loads(parse_response(data)[2])
    assert env["PATH_INFO"] == "/ws" and env["HTTP_UPGRADE"] == "websocket"
