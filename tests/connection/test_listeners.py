"""Listeners: Unix sockets, IPv6, inherited fds; connection info in the scope; access log."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import running_server

pytestmark = pytest.mark.anyio


async def echo_addresses(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    body = repr((scope["client"], scope["server"])).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "duo.sock"
    async with running_server(echo_addresses, bind=(f"unix:{path}",)) as srv:
        assert srv.url == f"unix:{path}"
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("http://localhost/")
    assert response.text == repr((None, (str(path), None)))
    assert not path.exists()  # removed on shutdown


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback() -> None:
    async with running_server(echo_addresses, host="::1") as srv, httpx.AsyncClient() as client:
        assert srv.url.startswith("http://[::1]:")
        response = await client.get(srv.url)
    assert response.text.startswith("(('::1', ")


async def test_inherited_fd() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    async with running_server(echo_addresses, bind=(f"fd://{listener.fileno()}",)) as srv:
        assert srv.url == f"fd://{listener.fileno()}"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
    listener.detach()  # the server owned and closed the descriptor
    assert response.status_code == 200


async def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="duoserve.access"):
        async with running_server(echo_addresses) as srv, httpx.AsyncClient() as client:
            await client.get(srv.url + "/path?q=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "duoserve.access"]
    assert len(lines) == 1
    assert "127.0.0.1:" in lines[0] and '"GET /path?q=1 HTTP/1.1" 200 ' in lines[0]
    assert lines[0].endswith("ms")


async def test_no_access_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="duoserve.access"):
        async with running_server(echo_addresses, access_log=False) as srv:
            async with httpx.AsyncClient() as client:
                await client.get(srv.url)
    assert not [r for r in caplog.records if r.name == "duoserve.access"]


async def test_server_and_date_headers_can_be_turned_off() -> None:
    async with running_server(echo_addresses, server_header=False, date_header=False) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert "server" not in response.headers and "date" not in response.headers


async def test_default_headers_are_per_response() -> None:
    """Server and Date are built once a second and shared: a request id added to one
    response must not show up in the next, and Date moves on with the clock."""
    async with running_server(echo_addresses, request_id=True) as srv:
        async with httpx.AsyncClient() as client:
            ids = []
            for n in range(3):
                response = await client.get(srv.url, headers={"x-request-id": f"req-{n}"})
                assert response.headers.get_list("x-request-id") == [f"req-{n}"]
                assert response.headers.get_list("server") == ["duoserve"]
                ids.append(response.headers["x-request-id"])
            first_date = response.headers["date"]
            await anyio.sleep(1.1)
            later = await client.get(srv.url)
    assert ids == ["req-0", "req-1", "req-2"]
    assert later.headers.get_list("date") != [first_date]
    assert len(later.headers.get_list("date")) == 1
    assert later.headers.get_list("x-request-id") != ids[-1:]
