"""A real nginx (the Debian package) in front of duoserve on a Unix socket: the client's
address and scheme reach ASGI and WSGI apps; a spoofed X-Forwarded-For does not."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme

from tests.apps.echo_conn import asgi_conn, wsgi_conn
from tests.conftest import running_server

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        shutil.which("nginx") is None, reason="nginx is not installed (CI installs it)"
    ),
]

# The proxy part is the one docs/proxies.md shows; the rest keeps nginx inside tmp_path.
NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    upstream duoserve {{
        server unix:{socket};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;

        location / {{
            proxy_pass http://duoserve;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Prefix "";
        }}
    }}
}}
"""


# What a client may try; the nginx config above overwrites or clears each of these.
SPOOFED = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "1",
    "X-Forwarded-Prefix": "/evil",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tls_client(tmp_path: Path) -> ssl.SSLContext:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@asynccontextmanager
async def nginx(tmp_path: Path, upstream: Path) -> AsyncIterator[str]:
    """nginx on a free loopback port (retried if another process takes it first)."""
    for _attempt in range(3):
        port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp_path, socket=upstream, port=port))
        command = ["nginx", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
        process = await anyio.open_process(command, stderr=subprocess.STDOUT)
        try:
            with anyio.fail_after(10):
                while process.returncode is None:
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        await anyio.sleep(0.05)
            if process.returncode is None:
                yield f"https://127.0.0.1:{port}"
                return
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.CancelScope(shield=True):
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()
    log = (tmp_path / "error.log").read_text(errors="replace")
    raise RuntimeError(f"nginx did not start:\n{log}")


async def through_nginx(
    tmp_path: Path, context: ssl.SSLContext, app: Any, wsgi: bool, **settings: Any
) -> Any:
    upstream = tmp_path / "duoserve.sock"
    async with running_server(app, wsgi=wsgi, bind=(f"unix:{upstream}",), **settings):
        async with nginx(tmp_path, upstream) as url, httpx.AsyncClient(verify=context) as client:
            response = await client.get(url + "/x", headers=SPOOFED)
    assert response.status_code == 200, response.text
    result = response.json()
    result["nginx_port"] = int(url.rpartition(":")[2])
    return result


async def test_asgi_behind_nginx(tmp_path: Path, tls_client: ssl.SSLContext) -> None:
    facts = await through_nginx(
        tmp_path, tls_client, asgi_conn, False, forwarded_allow_ips=("unix",)
    )
    assert facts["client"] == ["127.0.0.1", 0]
    assert facts["scheme"] == "https"
    assert facts["host"] == "127.0.0.1"
    assert facts["server"] == ["127.0.0.1", facts["nginx_port"]]
    assert facts["root_path"] == ""


async def test_wsgi_behind_nginx(tmp_path: Path, tls_client: ssl.SSLContext) -> None:
    environ = await through_nginx(
        tmp_path, tls_client, wsgi_conn, True, forwarded_allow_ips=("unix",)
    )
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "127.0.0.1"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(environ["nginx_port"])
    assert environ["SCRIPT_NAME"] == ""


async def test_default_trust_treats_loopback_clients_as_proxies(
    tmp_path: Path, tls_client: ssl.SSLContext
) -> None:
    """With the defaults 127.0.0.1 is a trusted hop too, so a client on loopback may name
    its own address: why --forwarded-allow-ips should list only the proxies there are."""
    facts = await through_nginx(tmp_path, tls_client, asgi_conn, False)
    assert facts["client"] == ["6.6.6.6", 0]
