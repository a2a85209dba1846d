"""PROXY protocol over real sockets: v1 and v2 addresses reach ASGI and WSGI, bytes after
the header are kept, garbage and stalls close the connection, only trusted peers count."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
from typing import Any

import anyio
import pytest
import trustme
from anyio.streams.tls import TLSStream

from duoserve.net.proxy_protocol import V2_SIGNATURE
from tests.apps.echo_conn import asgi_conn, wsgi_conn
from tests.conftest import parse_response, read_all, read_until, running_server

pytestmark = pytest.mark.anyio

REQUEST = b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
V1 = b"PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\n"
V2 = (
    V2_SIGNATURE
    + struct.pack("!BBH", 0x21, 0x11, 12 + 7)
    + socket.inet_aton("198.51.100.8")
    + socket.inet_aton("10.0.0.1")
    + struct.pack("!HH", 4712, 443)
    + bytes([0x04, 0x00, 0x04])  # a TLV (NOOP) to skip
    + b"\0\0\0\0"
)
V2_LOCAL = V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, 0)


def body(raw: bytes) -> Any:
    status, _, content = parse_response(raw)
    assert status == 200, raw
    return json.loads(content)


@pytest.mark.parametrize("mode", ["v1", "auto"])
async def test_v1_address_reaches_asgi(mode: str) -> None:
    async with running_server(asgi_conn, proxy_protocol=mode) as srv:
        facts = body(await srv.raw(V1 + REQUEST))
    assert facts["client"] == ["198.51.100.7", 4711]
    assert facts["server"] == ["10.0.0.1", 443]


@pytest.mark.parametrize("mode", ["v2", "auto"])
async def test_v2_fragmented_with_tlvs_reaches_wsgi(mode: str) -> None:
    async with running_server(wsgi_conn, wsgi=True, proxy_protocol=mode) as srv:  # type: ignore[arg-type]
        async with await srv.connect() as stream:
            data = V2 + REQUEST
            await stream.send(data[:5])
            await anyio.sleep(0.05)
            await stream.send(data[5:30])  # the rest of the header and some of the request
            await anyio.sleep(0.05)
            await stream.send(data[30:])
            environ = body(await read_all(stream))
    assert environ["REMOTE_ADDR"] == "198.51.100.8"
    assert environ["SERVER_PORT"] == "443"


async def test_v2_local_and_auto_without_header_keep_the_socket_peer() -> None:
    async with running_server(asgi_conn, proxy_protocol="auto") as srv:
        local = body(await srv.raw(V2_LOCAL + REQUEST))
        plain = body(await srv.raw(REQUEST))
    assert local["client"][0] == "127.0.0.1"
    assert plain["client"][0] == "127.0.0.1"


async def test_proxy_headers_apply_to_the_proxy_protocol_peer() -> None:
    """198.51.100.7 is not a trusted proxy, so its X-Forwarded-For is not believed."""
    request = REQUEST.replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
    async with running_server(asgi_conn, proxy_protocol="v1") as srv:
        facts = body(await srv.raw(V1 + request))
    assert facts["client"] == ["198.51.100.7", 4711]


@pytest.mark.parametrize(
    ("mode", "data"),
    [
        ("v1", REQUEST),
        ("v1", b"PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n" + REQUEST),
        ("v1", b"PROXY " + b"x" * 200),
        ("v2", V1 + REQUEST),
        ("v2", V2_SIGNATURE + b"\x21\x11\xff\xff"),
    ],
)
async def test_garbage_closes_the_connection(
    mode: str, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "duoserve.error")
    async with running_server(asgi_conn, proxy_protocol=mode) as srv:
        with anyio.fail_after(10):
            assert await srv.raw(data, timeout=10) == b""
        assert body(await srv.raw((V1 if mode == "v1" else V2) + REQUEST))  # still serving
    closed = [r for r in caplog.records if "connection closed" in r.getMessage()]
    assert closed
    assert all(r.exc_info is None for r in closed)


async def test_untrusted_peer_may_not_send_a_header() -> None:
    async with running_server(
        asgi_conn, proxy_protocol="auto", forwarded_allow_ips=("10.0.0.0/8",)
    ) as srv:
        with anyio.fail_after(10):
            assert await srv.raw(V1 + REQUEST, timeout=10) == b""
        assert body(await srv.raw(REQUEST))["client"][0] == "127.0.0.1"


async def test_stalled_header_times_out() -> None:
    async with running_server(asgi_conn, proxy_protocol="v1", timeout_proxy_protocol=0.5) as srv:
        async with await srv.connect() as stream:
            await stream.send(V1[:10])
            with anyio.fail_after(10):
                assert await read_all(stream, timeout=10) == b""


async def test_proxy_header_then_tls(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    settings = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
    async with running_server(asgi_conn, proxy_protocol="v2", **settings) as srv:
        raw = await srv.connect()
        await raw.send(V2)
        stream = await TLSStream.wrap(
            raw, hostname="127.0.0.1", ssl_context=context, standard_compatible=False
        )
        async with stream:
            await stream.send(REQUEST)
            facts = body(await read_all(stream))
    assert facts["client"] == ["198.51.100.8", 4712]
    assert facts["scheme"] == "https"


async def test_connection_limit_counts_the_proxy_protocol_address() -> None:
    """Behind a PROXY-protocol load balancer, each client address has its own budget."""
    keep = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"
    other = b"PROXY TCP4 198.51.100.99 10.0.0.1 4711 443\r\n"
    async with running_server(
        asgi_conn, proxy_protocol="v1", limit_connections_per_ip=1, access_log=False
    ) as srv:
        async with await srv.connect() as first:
            await first.send(V1 + keep)
            assert b"198.51.100.7" in await read_until(first, b"}")
            same = await srv.raw(V1 + REQUEST)
            different = await srv.raw(other + REQUEST)
    assert parse_response(same)[0] == 503
    assert body(different)["client"] == ["198.51.100.99", 4711]


async def test_v2_ssl_tlv_sets_https() -> None:
    header = V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 12 + 8) + V2[16:28]
    header += bytes([0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0])
    async with running_server(wsgi_conn, wsgi=True, proxy_protocol="v2") as srv:  # type: ignore[arg-type]
        environ = body(await srv.raw(header + REQUEST))
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["REMOTE_ADDR"] == "198.51.100.8"
