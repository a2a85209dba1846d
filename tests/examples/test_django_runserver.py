"""duoserve.contrib.django: `manage.py runserver` serves the project on duoserve, with the
admin's static files from the finders, WebSockets through asgi.py, and reload on change."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.examples.serving import Served, copy_example, run_python, start

pytestmark = pytest.mark.examples

RELOADED = re.compile(r"reload complete")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def runserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    project = copy_example("django", tmp_path_factory.mktemp("runserver"))
    run_python(["manage.py", "migrate", "--noinput", "-v0"], project, {})
    served = start(["manage.py", "runserver", f"127.0.0.1:{free_port()}"], project, {})
    yield served, project
    assert served.stop() == 0


def test_runserver_is_duoserve_with_static_files_and_websocket(
    runserver: tuple[Served, Path],
) -> None:
    served, _ = runserver
    assert served.what == (
        "duoserve.contrib.django.handlers:static_application (WSGI, 16 threads) + "
        "WebSocket → mysite.asgi:application (ASGI 3, lifespan on)"
    )
    assert "System check identified no issues" in served.popen.stdout.readline() + "".join(
        served.popen.stdout.readline() for _ in range(2)
    )
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert "<h1>Notes</h1>" in client.get("/").text
        css = client.get("/static/admin/css/base.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert b"--body-fg" in css.content
    with connect(served.ws_url + "/ws/chat/", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"system": "1 connected"}
        ws.send(json.dumps({"name": "dev", "text": "hi"}))
        assert json.loads(ws.recv(timeout=5)) == {"name": "dev", "text": "hi"}


def test_runserver_reloads_changed_code(runserver: tuple[Served, Path]) -> None:
    served, project = runserver
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/reloaded/").status_code == 404
        with (project / "mysite" / "urls.py").open("a") as f:
            f.write(
                "\nfrom django.http import HttpResponse  # noqa: E402\n"
                'urlpatterns.append(path("reloaded/", lambda request: HttpResponse("new code")))\n'
            )
        served.wait_for(RELOADED)
        assert client.get("/reloaded/").text == "new code"
