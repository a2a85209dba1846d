"""Mixed serving over real sockets: a WSGI site with --ws-app taking WebSockets and
lifespan, and --mount prefixes of both interfaces with root_path/SCRIPT_NAME set right."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from websockets.sync.client import connect

from duoserve.app.resolve import resolve_app
from duoserve.app.routing import parse_mount
from duoserve.config.settings import Config
from duoserve.errors import AppLoadError, ConfigError, StartupError
from tests.conftest import RunningServer, running_server

pytestmark = pytest.mark.anyio

APPS = "tests.apps.mixed"
MOUNTS = (f"/api={APPS}:asgi_mount", f"/legacy={APPS}:wsgi_mount")


@asynccontextmanager
async def mixed(**settings: Any) -> AsyncIterator[RunningServer]:
    config = Config(app=f"{APPS}:wsgi_main", **settings)
    loaded = resolve_app(config, None)
    async with running_server(loaded.obj, access_log=False, **settings) as server:  # type: ignore[arg-type]
        yield server


async def get(server: RunningServer, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + path)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def ws_exchange(server: RunningServer, path: str, text: str) -> dict[str, Any]:
    def talk() -> dict[str, Any]:
        with connect(f"ws://{server.host}:{server.port}{path}", open_timeout=5) as ws:
            ws.send(text)
            result: dict[str, Any] = json.loads(ws.recv(timeout=5))
            return result

    return await anyio.to_thread.run_sync(talk)


async def test_http_to_wsgi_websocket_and_lifespan_to_ws_app() -> None:
    async with mixed(ws_app=f"{APPS}:asgi_ws") as server:
        assert await get(server, "/some/page?x=1") == {
            "app": "wsgi-main",
            "script_name": "",
            "path_info": "/some/page",
            "query": "x=1",
        }
        seen = await ws_exchange(server, "/chat/room", "hello")
        assert seen == {
            "app": "asgi-ws",
            "root_path": "",
            "path": "/chat/room",
            "state": ["asgi-ws"],  # its lifespan ran and shared its state
            "echo": "hello",
        }


async def test_mounts_of_both_interfaces_get_their_prefix() -> None:
    async with mixed(ws_app=f"{APPS}:asgi_ws", mount=MOUNTS) as server:
        api = await get(server, "/api/items/7")
        # ASGI: path keeps the prefix (it includes root_path); lifespan reached the mount too.
        assert api == {
            "app": "asgi-mount",
            "root_path": "/api",
            "path": "/api/items/7",
            "state": ["asgi-mount", "asgi-ws"],
        }
        assert (await get(server, "/api"))["path"] == "/api"
        legacy = await get(server, "/legacy/caf%C3%A9?q=1")
        assert legacy == {
            "app": "wsgi-mount",
            "script_name": "/legacy",
            "path_info": "/café".encode().decode("latin-1"),
            "query": "q=1",
        }
        assert (await get(server, "/legacy"))["path_info"] == ""
        # WebSockets: an ASGI mount takes its own; under a WSGI mount they go to --ws-app.
        assert (await ws_exchange(server, "/api/live", "a"))["app"] == "asgi-mount"
        assert (await ws_exchange(server, "/legacy/live", "b"))["app"] == "asgi-ws"


async def test_prefix_matches_whole_path_segments_only() -> None:
    async with mixed(mount=MOUNTS) as server:
        assert (await get(server, "/apix"))["app"] == "wsgi-main"
        assert (await get(server, "/api-docs/x"))["app"] == "wsgi-main"
        assert (await get(server, "/legacyx"))["path_info"] == "/legacyx"
        assert (await get(server, "/api/"))["app"] == "asgi-mount"


async def test_mounts_below_a_server_root_path() -> None:
    async with mixed(mount=MOUNTS, root_path="/site") as server:
        api = await get(server, "/api/x")
        assert (api["root_path"], api["path"]) == ("/site/api", "/site/api/x")
        legacy = await get(server, "/legacy/y")
        assert (legacy["script_name"], legacy["path_info"]) == ("/site/legacy", "/y")


async def test_websocket_refused_when_no_app_takes_it() -> None:
    from websockets.exceptions import InvalidStatus

    async with mixed(mount=(f"/legacy={APPS}:wsgi_mount",)) as server:
        with pytest.raises(InvalidStatus) as info:
            await ws_exchange(server, "/legacy/ws", "x")
        assert info.value.response.status_code == 403
        assert (await get(server, "/")).get("app") == "wsgi-main"


async def test_lifespan_reaches_every_asgi_app_and_skips_those_without_it() -> None:
    mounts = (*MOUNTS, f"/plain={APPS}:asgi_no_lifespan")
    async with mixed(ws_app=f"{APPS}:asgi_ws", mount=mounts) as server:
        assert (await get(server, "/api"))["state"] == ["asgi-mount", "asgi-ws"]
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url + "/plain/x")).text == "no lifespan here"


async def test_a_failing_mount_fails_the_startup() -> None:
    mounts = (*MOUNTS, f"/bad={APPS}:asgi_failing")
    with pytest.raises(StartupError, match="no database"):
        async with mixed(ws_app=f"{APPS}:asgi_ws", mount=mounts):
            pass


@pytest.mark.parametrize(
    "spec", ["api=x:app", "/api", "/api=", "/../x=m:app", "/a//b=m:app", "=m:app"]
)
def test_bad_mount_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="--mount"):
        parse_mount(spec)


def test_a_missing_app_names_its_flag() -> None:
    config = Config(app=f"{APPS}:wsgi_main", mount=(f"/x={APPS}:nothing",))
    with pytest.raises(AppLoadError, match=r'^--mount /x: module "tests.apps.mixed" has no'):
        resolve_app(config, None)
    config = Config(app=f"{APPS}:wsgi_main", ws_app="tests.apps.no_such_module:app")
    with pytest.raises(AppLoadError, match=r"^--ws-app: cannot find module"):
        resolve_app(config, None)


def test_a_wsgi_ws_app_is_refused() -> None:
    config = Config(app=f"{APPS}:wsgi_main", ws_app=f"{APPS}:wsgi_mount")
    with pytest.raises(ConfigError, match="is a WSGI app; WebSockets need an ASGI app"):
        resolve_app(config, None)


def test_mount_prefix_loses_trailing_slash() -> None:
    assert parse_mount("/api/=pkg.mod:app") == ("/api", "pkg.mod:app")


def test_check_prints_each_interface() -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "duoserve", "--check", f"{APPS}:wsgi_main",
            "--ws-app", f"{APPS}:asgi_ws", "--mount", MOUNTS[0], "--mount", MOUNTS[1],
        ],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert (
        f"{APPS}:wsgi_main (WSGI, 16 threads) + WebSocket → {APPS}:asgi_ws (ASGI 3, lifespan on)"
        f" + /api → {APPS}:asgi_mount (ASGI 3, lifespan on) + /legacy → {APPS}:wsgi_mount "
        "(WSGI, 16 threads)"
    ) in result.stdout
