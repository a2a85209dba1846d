"""Chromium over TLS loads a page with 60 assets over HTTP/2: the page's own script reports
what the DOM saw, and the access log shows every asset served as HTTP/2 on few connections."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import chromium
from tests.conftest import running_server
from tests.connection.test_access_log import Collect, access  # noqa: F401
from tests.http2.asset_page import (
    ASSETS,
    IMAGES,
    SCRIPTS,
    STYLES,
    asgi_page,
    every_path,
    served,
    wsgi_page,
)
from tests.http2.test_clients import certs  # noqa: F401

pytest.importorskip("h2")
chromium.require()
pytestmark = [pytest.mark.anyio, pytest.mark.browser]


def spki_pin(certfile: str) -> str:
    """The base64 SHA-256 of the certificate's public key: chromium accepts the server's
    certificate for that key alone (--ignore-certificate-errors-spki-list), not any."""
    cert = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.mark.parametrize("app", ["asgi", "wsgi"])
async def test_chromium_loads_every_asset_over_h2(
    app: str,
    certs: Any,  # noqa: F811
    access: Collect,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, settings = certs
    wsgi = app == "wsgi"
    served_app: Any = wsgi_page if wsgi else asgi_page
    async with running_server(served_app, wsgi=wsgi, validate=False, **settings) as srv:
        command = chromium.command(
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--ignore-certificate-errors-spki-list={spki_pin(settings['ssl_certfile'])}",
            "--dump-dom",  # the DOM once the load event has run, on stdout
            srv.url + "/",
        )
        with anyio.fail_after(60):
            result = await anyio.run_process(command, check=False)
    dom = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    report = f"images={IMAGES} scripts={SCRIPTS} styles={STYLES} resources={ASSETS} protocols=h2"
    assert f'<pre id="result">{report}</pre>' in dom, dom[:3000]
    versions, clients, failed = served(access.records)
    assert versions == {path: {"2"} for path in every_path()}
    assert failed <= {"/favicon.ico"}  # the one request the page did not make
    assert 1 <= len(clients) <= 2, clients  # multiplexed, not a connection per asset
