"""examples/flask served by the duoserve command (WSGI) and exercised with httpx and curl."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.examples.serving import Served, curl_expect_upload, random_file

pytestmark = pytest.mark.examples

MiB = 1024 * 1024


@pytest.fixture
def client(flask_server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=flask_server.url, timeout=30) as c:
        yield c


def test_startup_line(flask_server: Served) -> None:
    assert flask_server.what == "app:app (WSGI, 64 threads)"


def test_json_api_and_error_handlers(client: httpx.Client) -> None:
    created = client.post("/api/items", json={"name": "first"})
    assert created.status_code == 201
    item = created.json()
    assert client.get(f"/api/items/{item['id']}").json() == item
    assert item in client.get("/api/items").json()
    missing = client.get("/api/items/424242")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "detail": "no item 424242"}
    bad = client.post("/api/items", content=b"not json")
    assert bad.status_code == 400 and bad.json()["error"] == "Bad Request"
    boom = client.get("/api/boom")
    assert boom.status_code == 500 and boom.json() == {"error": "Internal Server Error"}
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "<h1>404 Not Found</h1>" in page.text


def test_form_upload_20_mb_and_send_file_download(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    sha = random_file(path, 20 * MiB)
    assert 'enctype="multipart/form-data"' in client.get("/upload").text
    with path.open("rb") as f:
        response = client.post(
            "/upload", data={"title": "big"}, files={"file": ("big.bin", f)}, follow_redirects=True
        )
    assert response.status_code == 200
    assert f'<code id="sha256">{sha}</code>' in response.text
    link = re.search(r'id="download" href="([^"]+)"', response.text)
    assert link
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", link[1]) as download:
        assert download.headers["content-length"] == str(20 * MiB)
        for chunk in download.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert (size, digest.hexdigest()) == (20 * MiB, sha)
    head = client.head(link[1])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(20 * MiB)
    assert client.post("/upload", data={"title": "no file"}).status_code == 400


def test_chunked_upload(client: httpx.Client) -> None:
    pieces = [bytes([i]) * (300 * 1024 + i) for i in range(10)]

    def body() -> Iterator[bytes]:
        yield from pieces

    expected = b"".join(pieces)
    assert client.post("/hash", content=body()).json() == {
        "size": len(expected),
        "sha256": hashlib.sha256(expected).hexdigest(),
    }


def test_curl_expect_100_continue_upload(flask_server: Served, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    sha = random_file(path, 5 * MiB)
    body, trace = curl_expect_upload(flask_server.url + "/hash", path)
    assert "< HTTP/1.1 100 Continue" in trace
    assert json.loads(body) == {"size": 5 * MiB, "sha256": sha}


def test_streaming_response(client: httpx.Client) -> None:
    with client.stream("GET", "/stream?n=4") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        lines = list(response.iter_lines())
    assert lines == [f"line {i} for 127.0.0.1" for i in range(4)]


def test_50_slow_sync_views_run_in_parallel(flask_server: Served) -> None:
    """Each request waits at a barrier for the other 49 (503 after 10 s if they cannot all
    run at once): 50 concurrent requests finish only with 50 threads serving them."""
    limits = httpx.Limits(max_connections=60)
    with (
        httpx.Client(base_url=flask_server.url, timeout=30, limits=limits) as c,
        ThreadPoolExecutor(50) as pool,
    ):
        responses = list(pool.map(lambda _: c.get("/rendezvous?parties=50"), range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.text for r in responses}) == 50
