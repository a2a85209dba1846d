"""Proxy headers over real sockets: applied from trusted peers to ASGI, WSGI and WebSocket
scopes alike; spoofed headers from untrusted peers ignored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.apps.echo_conn import asgi_conn, wsgi_conn
from tests.conftest import running_server

pytestmark = pytest.mark.anyio

PROXIED = {
    "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "example.com",
    "X-Forwarded-Prefix": "/app",
}


async def get(url: str, headers: dict[str, str], path: str = "/x") -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.get(url + path, headers=headers)
    assert response.status_code == 200
    return response.json()


async def test_trusted_proxy_headers_reach_asgi() -> None:
    async with running_server(asgi_conn) as srv:
        facts = await get(srv.url, PROXIED)
    assert facts["client"] == ["198.51.100.7", 0]
    assert facts["scheme"] == "https"
    assert facts["server"] == ["example.com", 443]
    assert facts["root_path"] == "/app"
    assert facts["path"] == "/app/x"
    assert facts["host"] == "example.com"


async def test_trusted_proxy_headers_reach_wsgi() -> None:
    async with running_server(wsgi_conn, wsgi=True) as srv:  # type: ignore[arg-type]
        environ = await get(srv.url, PROXIED)
    assert environ == {
        "REMOTE_ADDR": "198.51.100.7",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "443",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/x",
    }


@pytest.mark.parametrize("wsgi", [False, True], ids=["asgi", "wsgi"])
@pytest.mark.parametrize(
    "settings",
    [{"forwarded_allow_ips": ("10.0.0.0/8",)}, {"proxy_headers": False}],
    ids=["untrusted-peer", "no-proxy-headers"],
)
async def test_spoofed_headers_ignored(wsgi: bool, settings: dict[str, Any]) -> None:
    app: Any = wsgi_conn if wsgi else asgi_conn
    async with running_server(app, wsgi=wsgi, **settings) as srv:
        facts = await get(srv.url, PROXIED)
        expected_host = f"127.0.0.1:{srv.port}"
    if wsgi:
        assert facts["REMOTE_ADDR"] == "127.0.0.1"
        assert facts["wsgi.url_scheme"] == "http"
        assert facts["HTTP_HOST"] == expected_host
        assert facts["SCRIPT_NAME"] == ""
    else:
        assert facts["client"][0] == "127.0.0.1"
        assert facts["scheme"] == "http"
        assert facts["host"] == expected_host
        assert facts["root_path"] == ""


async def test_forwarded_format_reads_rfc7239_only() -> None:
    headers = {
        "Forwarded": 'for="[2001:db8::7]:4711";proto=https;host="example.org"',
        "X-Forwarded-For": "6.6.6.6",
    }
    async with running_server(asgi_conn, proxy_headers_format="forwarded") as srv:
        facts = await get(srv.url, headers)
    assert facts["client"] == ["2001:db8::7", 4711]
    assert facts["scheme"] == "https"
    assert facts["host"] == "example.org"


async def test_websocket_scheme_from_proxy() -> None:
    """The WebSocket scope gets the same resolution: wss behind a TLS-terminating proxy."""
    async with running_server(asgi_conn, lifespan="off", ws_ping_interval=0) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(
                b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\n\r\n"
            )
            data = b""
            while b"}" not in data:
                data += await stream.receive()
    assert data.startswith(b"HTTP/1.1 101 ")
    payload = data[data.index(b"{") : data.rindex(b"}") + 1]
    facts = json.loads(payload)
    assert facts["scheme"] == "wss"
    assert facts["client"] == ["198.51.100.7", 0]
