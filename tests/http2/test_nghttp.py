"""nghttp2's own clients against the server: `nghttp -a` fetching a page and all its assets
(TLS by ALPN, h2c by prior knowledge and by Upgrade), and an `h2load` run; each checked from
the client's report and from the server's access log."""

from __future__ import annotations

import re
import shutil
from typing import Any

import anyio
import pytest

from tests.conftest import running_server
from tests.connection.test_access_log import Collect, access  # noqa: F401
from tests.http2.asset_page import ASSETS, asgi_page, every_path, served, wsgi_page
from tests.http2.test_clients import certs  # noqa: F401

pytest.importorskip("h2")
pytestmark = pytest.mark.anyio
needs_nghttp = pytest.mark.skipif(
    shutil.which("nghttp") is None, reason="nghttp is not installed (Debian's nghttp2-client)"
)
needs_h2load = pytest.mark.skipif(
    shutil.which("h2load") is None, reason="h2load is not installed (Debian's nghttp2-client)"
)
# One line of `nghttp -s`: id, start, end, time, status, size, path.
_STAT = re.compile(r"^\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+(\d{3})\s+\S+\s+(/\S*)$", re.M)


def server_settings(mode: str, made: Any) -> dict[str, Any]:
    return made[1] if mode == "tls" else {}


@needs_nghttp
@pytest.mark.parametrize(
    ("mode", "app"),
    [("tls", "asgi"), ("tls", "wsgi"), ("h2c", "asgi"), ("upgrade", "asgi")],
)
async def test_nghttp_gets_the_page_and_every_asset_on_one_connection(
    mode: str,
    app: str,
    certs: Any,  # noqa: F811
    access: Collect,  # noqa: F811
) -> None:
    wsgi = app == "wsgi"
    served_app: Any = wsgi_page if wsgi else asgi_page
    settings = server_settings(mode, certs)
    async with running_server(served_app, wsgi=wsgi, validate=False, **settings) as srv:
        # -a: the assets the HTML links to; -s: a line per response; -v: the frames.
        command = ["nghttp", "-ansv", "--no-verify-peer", srv.url + "/"]
        if mode == "upgrade":
            command.insert(1, "-u")
        with anyio.fail_after(30):
            result = await anyio.run_process(command, check=False)
    output = result.stdout.decode()
    assert result.returncode == 0, (output[-2000:], result.stderr.decode())
    if mode == "tls":
        assert "The negotiated protocol: h2" in output
    if mode == "upgrade":
        assert "HTTP Upgrade success" in output
    seen = {path: status for status, path in _STAT.findall(output)}
    assert seen == dict.fromkeys(every_path(), "200")
    versions, clients, failed = served(access.records)
    assert versions == {path: {"2"} for path in every_path()} and not failed
    assert len(clients) == 1  # one connection, every stream multiplexed on it
    assert sum(1 for r in access.records if '" 200 ' in r.getMessage()) == ASSETS + 1


@needs_h2load
@pytest.mark.parametrize("mode", ["h2c", "tls"])
async def test_h2load_requests_all_succeed(mode: str, certs: Any) -> None:  # noqa: F811
    settings = server_settings(mode, certs)
    async with running_server(asgi_page, access_log=False, **settings) as srv:
        command = ["h2load", "-n", "2000", "-c", "4", "-m", "10", srv.url + "/js/1.js"]
        with anyio.fail_after(60):
            result = await anyio.run_process(command, check=False)
    output = result.stdout.decode()
    assert result.returncode == 0, (output, result.stderr.decode())
    assert f"Application protocol: {'h2' if mode == 'tls' else 'h2c'}\n" in output
    assert "requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, " in output
    assert "0 errored, 0 timeout" in output
    assert "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx" in output
    finished = re.search(r"finished in .*", output)
    print(f"h2load {mode}: {finished[0] if finished else output}")
