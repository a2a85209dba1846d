"""Chromium opening a WebSocket on its HTTP/2 connection (RFC 8441): it does so once the
server's SETTINGS carry ENABLE_CONNECT_PROTOCOL; the app sees http_version "2"."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests import chromium

pytestmark = [pytest.mark.browser]
pytest.importorskip("h2")
sync_api = pytest.importorskip("playwright.sync_api")
chromium.require()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """duoserve over TLS serving tests/apps/ws_h2_page.py; its URL and its log lines."""
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "duoserve", "tests.apps.ws_h2_page:app", "--single-process"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--ws-ping-interval", "0"]
    command += ["--ssl-certfile", str(tmp_path / "cert.pem")]
    command += ["--ssl-keyfile", str(tmp_path / "key.pem")]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        popen = subprocess.Popen(command, cwd=ROOT, stderr=out, text=True)
    try:
        deadline = time.monotonic() + 20
        while "serving" not in log.read_text() and time.monotonic() < deadline:
            assert popen.poll() is None, log.read_text()
            time.sleep(0.05)
        yield f"https://127.0.0.1:{port}", log.read_text().splitlines()
    finally:
        popen.terminate()
        popen.wait(15)
        print(log.read_text())


def test_chromium_opens_its_websocket_as_an_http2_stream(server: tuple[str, list[str]]) -> None:
    url, _ = server
    with chromium.launched(sync_api) as browser:
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_function(
            "document.title.startsWith('done') || document.title == 'error'", timeout=15_000
        )
        # The first message is the scope's http_version; then the echo of a reply.
        assert page.title() == "done 2 ping over 2"
