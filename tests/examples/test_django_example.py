"""examples/django served by the duoserve command in each mode (WSGI, ASGI, mixed, and
mixed as deployed: DEBUG off, static files from --static) and exercised with httpx, the
websockets client and curl."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.examples.serving import Served, curl_expect_upload, random_file

pytestmark = pytest.mark.examples

MiB = 1024 * 1024


@pytest.fixture(scope="module", params=["wsgi", "asgi", "mixed", "production"])
def server(request: pytest.FixtureRequest, django_servers: Callable[[str], Served]) -> Served:
    served = django_servers(request.param)
    served.mode = request.param  # type: ignore[attr-defined]
    return served


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def mode(server: Served) -> str:
    result: str = server.mode  # type: ignore[attr-defined]
    return result


def test_startup_line_names_each_interface(server: Served) -> None:
    expected = {
        "wsgi": "mysite.wsgi:application (WSGI, 64 threads)",
        "asgi": "mysite.asgi:application (ASGI 3, lifespan on)",
        "mixed": "mysite.wsgi:application (WSGI, 64 threads) + "
        "WebSocket → mysite.asgi:application (ASGI 3, lifespan on)",
    }
    expected["production"] = expected["mixed"]
    assert server.what == expected[mode(server)]
    if mode(server) == "production":
        assert any("static files: /static" in line for line in server.lines)


def test_pages_admin_static_files_and_head(server: Served, client: httpx.Client) -> None:
    assert "<h1>Notes</h1>" in client.get("/").text
    login = client.get("/admin/login/")
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
    css = client.get("/static/admin/css/base.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # DEBUG on: Django serves it from the finders; as deployed, duoserve's --static does.
    assert ("etag" in css.headers) == (mode(server) == "production")
    head = client.head("/static/admin/css/base.css")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(css.content)
    assert client.get("/notes/999999/").status_code == 404


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text
    return match[1]


def test_form_upload_20_mb_and_byte_identical_download(
    client: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    sha = random_file(path, 20 * MiB)
    token = _csrf(client, "/notes/new/")
    with path.open("rb") as f:
        created = client.post(
            "/notes/new/",
            data={"csrfmiddlewaretoken": token, "title": "big upload", "body": "20 MB"},
            files={"attachment": ("big.bin", f, "application/octet-stream")},
        )
    assert created.status_code == 302, created.text
    detail = client.get(created.headers["location"])
    assert f'<code id="sha256">{sha}</code>' in detail.text
    download_url = re.search(r'id="download" href="([^"]+)"', detail.text)
    assert download_url
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", download_url[1]) as response:
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert (size, digest.hexdigest()) == (20 * MiB, sha)
    head = client.head(download_url[1])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(20 * MiB)


def test_chunked_upload(client: httpx.Client) -> None:
    pieces = [bytes([i]) * (256 * 1024 + i) for i in range(12)]

    def body() -> Iterator[bytes]:
        yield from pieces

    response = client.post("/hash/", content=body())  # no length: sent chunked
    expected = b"".join(pieces)
    assert response.json() == {
        "size": len(expected),
        "sha256": hashlib.sha256(expected).hexdigest(),
    }


def test_curl_expect_100_continue_upload(server: Served, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    sha = random_file(path, 5 * MiB)
    body, trace = curl_expect_upload(server.url + "/hash/", path)
    assert "< HTTP/1.1 100 Continue" in trace
    assert json.loads(body) == {"size": 5 * MiB, "sha256": sha}


def test_streaming_response(client: httpx.Client) -> None:
    with client.stream("GET", "/stream/?n=5") as response:
        assert "content-length" not in response.headers
        lines = list(response.iter_lines())
    assert lines == [f"line {i}" for i in range(5)]


def test_server_sent_events_arrive_while_the_stream_is_open(client: httpx.Client) -> None:
    # 1000 ticks take 100 s: reading three means they are sent as they happen.
    events: list[dict[str, int]] = []
    with client.stream("GET", "/events/?n=1000", timeout=20) as response:
        assert response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
            if len(events) == 3:
                break
    assert events == [{"tick": 0}, {"tick": 1}, {"tick": 2}]


def test_slow_sync_views_run_in_parallel(server: Served) -> None:
    """Under WSGI (alone or mixed) 50 slow sync views run at once on --threads: each waits
    at a barrier for the other 49 and would time out (503) if they ran one by one. Under
    ASGI Django runs each request's sync code in a thread of the event loop's default
    executor (min(32, CPUs + 4) threads), not on --threads, so fewer meet there."""
    parties = 2 if mode(server) == "asgi" else 50
    limits = httpx.Limits(max_connections=60)
    with (
        httpx.Client(base_url=server.url, timeout=30, limits=limits) as c,
        ThreadPoolExecutor(parties) as pool,
    ):
        url = f"/rendezvous/?parties={parties}"
        responses = list(pool.map(lambda _: c.get(url), range(parties)))
    assert [r.status_code for r in responses] == [200] * parties
    assert len({r.text for r in responses}) == parties  # each on its own thread


def test_websocket_chat(server: Served) -> None:
    url = server.ws_url + "/ws/chat/"
    if mode(server) == "wsgi":
        with pytest.raises(InvalidStatus):  # WSGI alone has no WebSocket
            connect(url, open_timeout=5).close()
        return
    with connect(url, open_timeout=5) as alice, connect(url, open_timeout=5) as bob:
        assert json.loads(alice.recv(timeout=5))["system"].endswith("connected")
        assert json.loads(bob.recv(timeout=5))["system"].endswith("connected")
        assert json.loads(alice.recv(timeout=5))["system"].endswith("connected")  # bob joined
        alice.send(json.dumps({"name": "alice", "text": "hello bob"}))
        for ws in (alice, bob):
            assert json.loads(ws.recv(timeout=5)) == {"name": "alice", "text": "hello bob"}
        bob.send("plain text")
        assert json.loads(alice.recv(timeout=5)) == {"name": "anonymous", "text": "plain text"}
    threading.Event().wait(0)  # nothing left running


def test_unknown_websocket_path_is_refused(server: Served) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(server.ws_url + "/ws/nowhere/", open_timeout=5).close()
    assert info.value.response.status_code in (403, 404)
