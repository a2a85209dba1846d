"""TLS over real sockets with trustme certificates: https with httpx, client certificates,
the ASGI tls extension, WSS, stalled and failed handshakes, startup errors."""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme
import websockets

from duoserve.errors import StartupError
from tests.apps.echo_conn import asgi_conn, wsgi_conn
from tests.conftest import RunningServer, parse_response, read_all, running_server

pytestmark = pytest.mark.anyio

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@dataclass
class Certs:
    ca: trustme.CA
    certfile: str
    keyfile: str
    ca_file: str

    def client_context(self, *, cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if cert:
            self.ca.issue_cert("client.example", common_name="alice").configure_cert(context)
        return context

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile, **extra}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, ca_file = (directory / n for n in ("cert.pem", "key.pem", "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    server.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(ca_file))
    return Certs(ca, str(certfile), str(keyfile), str(ca_file))


async def https_get(srv: RunningServer, certs: Certs) -> Any:
    async with httpx.AsyncClient(verify=certs.client_context()) as client:
        response = await client.get(srv.url + "/")
    assert response.status_code == 200
    return response.json()


async def test_https_asgi_scope_and_tls_extension(certs: Certs) -> None:
    async with running_server(asgi_conn, **certs.settings()) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        facts = await https_get(srv, certs)
    assert facts["scheme"] == "https"
    tls = facts["tls"]
    assert tls["server_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] in (0x0303, 0x0304)
    assert isinstance(tls["cipher_suite"], int)


async def test_https_wsgi(certs: Certs) -> None:
    async with running_server(wsgi_conn, wsgi=True, **certs.settings()) as srv:  # type: ignore[arg-type]
        environ = await https_get(srv, certs)
    assert environ["wsgi.url_scheme"] == "https"


async def tls_request(srv: RunningServer, context: ssl.SSLContext) -> bytes:
    """One request over an ssl-module connection; b"" when the server refuses it."""
    try:
        stream = await anyio.connect_tcp(
            srv.host,
            srv.port,
            ssl_context=context,
            tls_hostname="127.0.0.1",
            tls_standard_compatible=False,
        )
        async with stream:
            await stream.send(REQUEST)
            return await read_all(stream)
    except (ssl.SSLError, anyio.BrokenResourceError, OSError):
        return b""


async def test_client_certificate_required(certs: Certs) -> None:
    settings = certs.settings(ssl_ca_certs=certs.ca_file, ssl_cert_reqs="required")
    async with running_server(asgi_conn, **settings) as srv:
        assert await tls_request(srv, certs.client_context()) == b""
        response = await tls_request(srv, certs.client_context(cert=True))
    assert response.startswith(b"HTTP/1.1 200 ")
    tls = json.loads(parse_response(response)[2])["tls"]
    assert "CN=alice" in tls["client_cert_name"]
    assert len(tls["client_cert_chain"]) == 1
    assert tls["client_cert_chain"][0].startswith("-----BEGIN CERTIFICATE-----")


async def test_client_certificate_optional(certs: Certs) -> None:
    settings = certs.settings(ssl_ca_certs=certs.ca_file, ssl_cert_reqs="optional")
    async with running_server(asgi_conn, **settings) as srv:
        without = await tls_request(srv, certs.client_context())
        with_cert = await tls_request(srv, certs.client_context(cert=True))
    assert json.loads(parse_response(without)[2])["tls"]["client_cert_name"] is None
    assert "CN=alice" in json.loads(parse_response(with_cert)[2])["tls"]["client_cert_name"]


async def test_stalled_handshake_blocks_nobody_and_times_out(certs: Certs) -> None:
    async with running_server(asgi_conn, **certs.settings(timeout_tls_handshake=1)) as srv:
        async with await srv.connect() as stalled:
            facts = await https_get(srv, certs)  # served while the other one sits silent
            assert facts["scheme"] == "https"
            with anyio.fail_after(10):
                assert await read_all(stalled, timeout=10) == b""  # closed by the timeout


async def test_plain_http_to_tls_port_is_closed(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "duoserve.error")
    async with running_server(asgi_conn, **certs.settings()) as srv:
        with anyio.fail_after(10):
            response = await srv.raw(REQUEST, timeout=10)
        assert b"HTTP/1.1" not in response
        assert await https_get(srv, certs)  # still serving
    failed = [r for r in caplog.records if "TLS handshake failed" in r.getMessage()]
    assert failed
    assert all(r.exc_info is None for r in failed)


async def test_wss_with_websockets_client(certs: Certs) -> None:
    context = certs.client_context()

    def talk(url: str) -> Any:
        async def run() -> Any:
            async with websockets.connect(url, ssl=context) as ws:
                return json.loads(await ws.recv())

        import asyncio

        return asyncio.run(run())

    async with running_server(asgi_conn, ws_ping_interval=0, **certs.settings()) as srv:
        facts = await anyio.to_thread.run_sync(talk, f"wss://127.0.0.1:{srv.port}/ws")
    assert facts["scheme"] == "wss"
    assert facts["tls"]["tls_version"] in (0x0303, 0x0304)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ssl_certfile": "/nonexistent/cert.pem"}, "file not found"),
        ({"ssl_keyfile": "key.pem"}, "--ssl-keyfile needs --ssl-certfile"),
        ({"ssl_cert_reqs": "required"}, "--ssl-cert-reqs needs --ssl-certfile"),
        ({"ssl_certfile": "CERT", "ssl_cert_reqs": "required"}, "needs --ssl-ca-certs"),
        ({"ssl_certfile": "CERT", "ssl_keyfile": "CERT"}, "cannot load"),
        ({"ssl_certfile": "CERT", "ssl_keyfile": "KEY", "ssl_ciphers": "NOPE"}, "--ssl-ciphers"),
        (
            {"ssl_certfile": "CERT", "ssl_keyfile": "KEY", "ssl_ca_certs": "/nonexistent"},
            "--ssl-ca-certs file not found",
        ),
    ],
)
async def test_startup_errors_are_one_line(
    certs: Certs, settings: dict[str, Any], message: str
) -> None:
    replacements = {"CERT": certs.certfile, "KEY": certs.keyfile}
    settings = {k: replacements.get(v, v) for k, v in settings.items()}
    with pytest.raises(StartupError, match=message) as caught:
        async with running_server(asgi_conn, **settings):
            pass
    assert "\n" not in str(caught.value)


@pytest.fixture
def encrypted_key(certs: Certs, tmp_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(certs.keyfile).read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    keyfile = tmp_path / "encrypted.pem"
    keyfile.write_bytes(encrypted)
    return str(keyfile)


async def test_encrypted_key_with_password(certs: Certs, encrypted_key: str) -> None:
    good = certs.settings(ssl_keyfile=encrypted_key, ssl_keyfile_password="s3cret")
    async with running_server(asgi_conn, **good) as srv:
        assert (await https_get(srv, certs))["scheme"] == "https"
    with pytest.raises(StartupError, match="key password"):
        async with running_server(asgi_conn, **{**good, "ssl_keyfile_password": "wrong"}):
            pass


async def test_shutdown_does_not_wait_for_a_stalled_handshake(certs: Certs) -> None:
    """A silent TLS client is cut after the one-second grace new connections get, not
    after --timeout-tls-handshake or --timeout-graceful-shutdown (both 30 s here)."""
    settings = certs.settings(timeout_tls_handshake=30, timeout_graceful_shutdown=30)
    with anyio.fail_after(15):
        async with running_server(asgi_conn, **settings) as srv:
            stalled = await srv.connect()
            await https_get(srv, certs)  # the server is up and has accepted the stalled one
    await stalled.aclose()
