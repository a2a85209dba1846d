"""--static over real sockets: types, validators, 304, ranges, HEAD, traversal attempts,
large files, and the same mounts in front of a WSGI app."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from duoserve import Config
from duoserve.edge.static import parse_mounts
from duoserve.errors import ConfigError
from tests.conftest import parse_response, running_server

pytestmark = pytest.mark.anyio


async def app_marker(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"app:" + scope["path"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_marker(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = b"wsgi:" + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_text("body { color: red }\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (root / "data.json").write_text("{}")
    (root / "blob").write_bytes(b"0123456789")
    (root / "empty.txt").write_bytes(b"")
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "nested").mkdir()
    (root / ".env").write_text("SECRET=1")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("secret")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_text("Contact: x")
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "inside").symlink_to(root / "blob")
    os.mkfifo(root / "pipe")  # opening it for reading would wait for a writer
    return root


def static(root: Path, **settings: Any) -> dict[str, Any]:
    return {"static": (f"/static={root}",), **settings}


async def test_content_types_and_validators(site: Path) -> None:
    async with running_server(app_marker, **static(site)) as srv, httpx.AsyncClient() as c:
        expected = {
            "css/site.css": "text/css; charset=utf-8",
            "app.js": "text/javascript; charset=utf-8",
            "logo.png": "image/png",
            "data.json": "application/json; charset=utf-8",
            "blob": "application/octet-stream",
            "archive.tar.gz": "application/gzip",
        }
        for name, ctype in expected.items():
            r = await c.get(f"{srv.url}/static/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-type"] == ctype
            assert r.content == (site / name).read_bytes()
            assert r.headers["accept-ranges"] == "bytes"
            assert r.headers["cache-control"] == "no-cache"
            assert r.headers["etag"].startswith('"')
            assert r.headers["last-modified"].endswith("GMT")
        other = await c.get(f"{srv.url}/elsewhere")
        assert other.text == "app:/elsewhere"
        # a sibling of the prefix is not under it
        assert (await c.get(f"{srv.url}/staticfoo")).text == "app:/staticfoo"


async def test_conditional_get_both_ways(site: Path) -> None:
    async with running_server(app_marker, **static(site)) as srv, httpx.AsyncClient() as c:
        url = f"{srv.url}/static/app.js"
        first = await c.get(url)
        tag, modified = first.headers["etag"], first.headers["last-modified"]
        r = await c.get(url, headers={"if-none-match": tag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == tag
        r = await c.get(url, headers={"if-none-match": f'"other", W/{tag}'})
        assert r.status_code == 304
        r = await c.get(url, headers={"if-none-match": '"other"'})
        assert r.status_code == 200 and r.content == first.content
        r = await c.get(url, headers={"if-modified-since": modified})
        assert r.status_code == 304
        r = await c.get(url, headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert r.status_code == 200
        # If-None-Match takes precedence over If-Modified-Since
        r = await c.get(url, headers={"if-none-match": '"other"', "if-modified-since": modified})
        assert r.status_code == 200
        r = await c.get(url, headers={"if-modified-since": "garbage"})
        assert r.status_code == 200


async def test_ranges(site: Path) -> None:
    async with running_server(app_marker, **static(site)) as srv, httpx.AsyncClient() as c:
        url = f"{srv.url}/static/blob"
        cases = {
            "bytes=0-3": (206, b"0123", "bytes 0-3/10"),
            "bytes=7-": (206, b"789", "bytes 7-9/10"),
            "bytes=-2": (206, b"89", "bytes 8-9/10"),
            "bytes=-20": (206, b"0123456789", "bytes 0-9/10"),
            "bytes=5-100": (206, b"56789", "bytes 5-9/10"),
            "bytes=10-": (416, None, "bytes */10"),
            "bytes=-0": (416, None, "bytes */10"),
            "bytes=0-1,4-5": (200, b"0123456789", None),
            "bytes=5-2": (200, b"0123456789", None),
            "items=0-1": (200, b"0123456789", None),
        }
        for value, (status, body, content_range) in cases.items():
            r = await c.get(url, headers={"range": value})
            assert r.status_code == status, value
            if body is not None:
                assert r.content == body, value
                assert int(r.headers["content-length"]) == len(body)
            assert r.headers.get("content-range") == content_range, value
        tag = (await c.get(url)).headers["etag"]
        r = await c.get(url, headers={"range": "bytes=0-1", "if-range": tag})
        assert r.status_code == 206
        r = await c.get(url, headers={"range": "bytes=0-1", "if-range": '"stale"'})
        assert r.status_code == 200 and r.content == b"0123456789"
        r = await c.get(f"{srv.url}/static/empty.txt", headers={"range": "bytes=0-"})
        assert r.status_code == 416


async def test_head_and_methods(site: Path) -> None:
    async with running_server(app_marker, **static(site)) as srv, httpx.AsyncClient() as c:
        url = f"{srv.url}/static/css/site.css"
        r = await c.head(url)
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-length"] == str(len((site / "css/site.css").read_bytes()))
        r = await c.head(url, headers={"range": "bytes=0-3"})
        assert r.status_code == 206 and r.headers["content-length"] == "4"
        r = await c.post(url, content=b"x")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        r = await c.get(f"{srv.url}/static/empty.txt")
        assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize(
    "target",
    [
        b"/static/../secret.txt",
        b"/static/%2e%2e/secret.txt",
        b"/static/%2E%2E/secret.txt",
        b"/static/css/..%2f..%2fsecret.txt",
        b"/static/css%2Fsite.css",
        b"/static/css%5Csite.css",
        b"/static/css\\site.css",
        b"/static/app.js%00.png",
        b"/static/escape",
        b"/static//etc/passwd",
        b"/static/%2Fetc%2Fpasswd",
        b"/static/./app.js",
        b"/static/nested",
        b"/static/nested/",
        b"/static/",
        b"/static",
        b"/static/index.html/",
        b"/static/missing.css",
        b"/static/%ff%fe",
        b"/static/.env",
        b"/static/.git/config",
        b"/static/%2egit/config",
        b"/static/pipe",
    ],
)
async def test_no_escape(site: Path, target: bytes) -> None:
    async with running_server(app_marker, **static(site)) as srv:
        raw = await srv.raw(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target)
    status, _, body = parse_response(raw)
    assert status == 404, (target, raw[:200])
    assert b"secret" not in body and not body.startswith(b"app:")


async def test_symlink_inside_and_index(site: Path) -> None:
    async with running_server(app_marker, **static(site)) as srv, httpx.AsyncClient() as c:
        r = await c.get(f"{srv.url}/static/inside")
        assert r.status_code == 200 and r.content == b"0123456789"
        r = await c.get(f"{srv.url}/static/.well-known/security.txt")
        assert r.status_code == 200 and r.text == "Contact: x"
        r = await c.get(f"{srv.url}/static/index.html")
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"


async def test_large_file_is_byte_identical(tmp_path: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(content)
    async with running_server(app_marker, **static(tmp_path)) as srv, httpx.AsyncClient() as c:
        r = await c.get(f"{srv.url}/static/big.bin")
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(content).digest()
        start = 1024 * 1024 - 5
        r = await c.get(f"{srv.url}/static/big.bin", headers={"range": f"bytes={start}-"})
        assert r.status_code == 206 and r.content == content[start:]


async def test_wsgi_app_behind_static(site: Path) -> None:
    settings = static(site, static_cache_control="public, max-age=60")
    async with running_server(wsgi_marker, wsgi=True, **settings) as srv:  # type: ignore[arg-type]
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{srv.url}/static/app.js")
            assert r.content == (site / "app.js").read_bytes()
            assert r.headers["cache-control"] == "public, max-age=60"
            raw = await srv.raw(
                b"GET /static/%2e%2e/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            assert parse_response(raw)[0] == 404
            assert (await c.get(f"{srv.url}/page")).text == "wsgi:/page"
            r = await c.get(f"{srv.url}/static/blob", headers={"range": "bytes=2-4"})
            assert r.status_code == 206 and r.content == b"234"


async def test_longest_prefix_wins_and_no_cache_header(site: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "site.css").write_text("other")
    settings = {"static": (f"/static={site}", f"/static/css={other}"), "static_cache_control": ""}
    async with running_server(app_marker, **settings) as srv, httpx.AsyncClient() as c:
        r = await c.get(f"{srv.url}/static/css/site.css")
        assert r.text == "other" and "cache-control" not in r.headers
        assert (await c.get(f"{srv.url}/static/app.js")).status_code == 200


def test_bad_mounts_are_config_errors(tmp_path: Path) -> None:
    for spec in ("static", "/static", "static=x", f"/a/../b={tmp_path}", "/s=/no/such/dir"):
        with pytest.raises(ConfigError):
            parse_mounts(Config(static=(spec,)))
    assert [m.url for m in parse_mounts(Config(static=(f"/a/b/={tmp_path}",)))] == ["/a/b"]
