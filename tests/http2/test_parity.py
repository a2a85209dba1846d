"""HTTP/2 streams get what HTTP/1.1 requests get: proxy headers from trusted peers, the TLS
extension, the io timeout on a body that never ends, and the metrics counts."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme

pytest.importorskip("h2")
import h2.config
import h2.connection
import h2.events

from tests.conftest import running_server
from tests.http2.test_clients import certs  # noqa: F401
from tests.metrics.scrape import scrape, start, total
from tests.metrics.test_metrics_e2e import serve

pytestmark = pytest.mark.anyio


async def where(scope: Any, receive: Any, send: Any) -> None:
    """What the scope says of the client, the scheme and TLS, as JSON."""
    if scope["type"] != "http":
        return
    tls = scope.get("extensions", {}).get("tls")
    body = {
        "version": scope["http_version"],
        "client": scope["client"][0],
        "scheme": scope["scheme"],
        "tls": sorted(tls) if tls is not None else None,
        "tls_version": tls.get("tls_version") if tls else None,
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


FORWARDED = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}


@pytest.mark.parametrize("http2", [False, True])
async def test_proxy_headers_from_a_trusted_peer_as_over_http1(http2: bool) -> None:
    async with (
        running_server(where, forwarded_allow_ips=("127.0.0.1",)) as srv,
        httpx.AsyncClient(http1=not http2, http2=http2, timeout=10) as client,
    ):
        seen = (await client.get(srv.url + "/", headers=FORWARDED)).json()
        assert seen["version"] == ("2" if http2 else "1.1")
        assert (seen["client"], seen["scheme"]) == ("203.0.113.9", "https")


@pytest.mark.parametrize("http2", [False, True])
async def test_proxy_headers_from_an_untrusted_peer_are_ignored(http2: bool) -> None:
    async with (
        running_server(where, forwarded_allow_ips=("10.0.0.1",)) as srv,
        httpx.AsyncClient(http1=not http2, http2=http2, timeout=10) as client,
    ):
        seen = (await client.get(srv.url + "/", headers=FORWARDED)).json()
        assert (seen["client"], seen["scheme"]) == ("127.0.0.1", "http")


async def test_the_tls_extension_is_the_same_over_both(
    certs: tuple[trustme.CA, dict[str, str]],  # noqa: F811
) -> None:
    ca, settings = certs
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with running_server(where, **settings) as srv:
        seen = {}
        for http2 in (False, True):
            async with httpx.AsyncClient(http2=http2, verify=context, timeout=10) as client:
                seen[http2] = (await client.get(srv.url + "/")).json()
        assert (seen[False]["version"], seen[True]["version"]) == ("1.1", "2")
        assert seen[True]["scheme"] == "https"
        assert seen[True]["tls"] is not None and seen[True]["tls"] == seen[False]["tls"]
        assert seen[True]["tls_version"] == seen[False]["tls_version"]


class Endless:
    """An app that reads its body to the end, noting what receive() ended with."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        self.ended.append(message["type"])
        if message["type"] == "http.request":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})


def _events(sock: socket.socket, conn: h2.connection.H2Connection) -> list[Any]:
    data = sock.recv(65_536)
    assert data, "the server closed the connection"
    events = conn.receive_data(data)
    sock.sendall(conn.data_to_send())
    return events


async def test_a_body_that_never_ends_gets_408_after_timeout_io_and_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endless = Endless()
    async with running_server(endless.app, timeout_io=0.5) as srv:

        def client() -> tuple[list[Any], bytes]:
            with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
                config = h2.config.H2Configuration(client_side=True, header_encoding=None)
                conn = h2.connection.H2Connection(config)
                conn.initiate_connection()
                head = [(":method", "POST"), (":scheme", "http"), (":authority", "x")]
                conn.send_headers(1, [*head, (":path", "/stall")])
                conn.send_data(1, b"a" * 100)  # and never END_STREAM
                sock.sendall(conn.data_to_send())
                seen: list[Any] = []
                while not any(isinstance(e, h2.events.StreamReset) for e in seen):
                    seen += _events(sock, conn)
                conn.send_headers(3, [*head, (":path", "/next")])
                conn.send_data(3, b"b", end_stream=True)
                sock.sendall(conn.data_to_send())
                body = b""
                while True:
                    events = _events(sock, conn)
                    seen += events
                    body += b"".join(
                        e.data for e in events if isinstance(e, h2.events.DataReceived)
                    )
                    if any(isinstance(e, h2.events.StreamEnded) for e in events):
                        return seen, body

        with anyio.fail_after(20):
            seen, body = await anyio.to_thread.run_sync(client)
    # Answered 408 (the client's fault, as over HTTP/1.1), then reset: stop sending.
    first = next(e for e in seen if isinstance(e, h2.events.ResponseReceived))
    assert first.stream_id == 1 and dict(first.headers)[b":status"] == b"408"
    assert next(e for e in seen if isinstance(e, h2.events.StreamReset)).stream_id == 1
    assert body == b"done"  # the next stream on the same connection is served
    assert endless.ended == ["http.disconnect", "http.request"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_metrics_count_http2_requests(tmp_path: Path) -> None:
    with serve(tmp_path, "--single-process") as proc:
        url, metrics = start(proc)
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            for _ in range(3):
                assert client.post(url + "/", content=b"abcd").http_version == "HTTP/2"
            assert client.get(url + "/missing").status_code == 404
        deadline = time.monotonic() + 5  # the counts are folded in a few times a second
        while total(scrape(metrics), "duoserve_requests_total") < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        samples = scrape(metrics)
        assert total(samples, "duoserve_requests_total", method="POST", status="2xx") == 3
        assert total(samples, "duoserve_requests_total", method="GET", status="4xx") == 1
        assert total(samples, "duoserve_request_body_bytes_total") == 12
