"""Files sent by the kernel: http.response.zerocopysend, pathsend and wsgi.file_wrapper use
os.sendfile on plain sockets under asyncio, and fall back to reads elsewhere (trio here),
with the same bytes and framing either way."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import parse_response, running_server

pytestmark = pytest.mark.anyio

SIZE = 3 * 1024 * 1024 + 123  # more than one sendfile slice


CONTENT = os.urandom(SIZE)


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real os.sendfile calls (they still happen)."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        calls.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def file_app(path: Path, *, length: bool, offset: int | None = None, count: int | None = None):  # type: ignore[no-untyped-def]
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        sent = (count if count is not None else SIZE - (offset or 0)) if length else None
        headers = [(b"content-length", b"%d" % sent)] if sent is not None else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with path.open("rb") as file:
            message: dict[str, Any] = {"type": "http.response.zerocopysend", "file": file}
            if offset is not None:
                message["offset"] = offset
            if count is not None:
                message["count"] = count
            await send(message)

    return app


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
async def test_zerocopysend_bytes_identical(
    big_file: Path, sendfile_calls: list[int], anyio_backend: str, length: bool
) -> None:
    async with running_server(file_app(big_file, length=length)) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(CONTENT).digest()
    assert ("content-length" in response.headers) is length
    if anyio_backend == "asyncio":
        assert sum(sendfile_calls) == SIZE  # the kernel sent every byte
    else:
        assert sendfile_calls == []  # anyio's trio stream: read and written instead


async def test_zerocopysend_offset_and_count(
    big_file: Path, sendfile_calls: list[int], anyio_backend: str
) -> None:
    app = file_app(big_file, length=True, offset=1000, count=70_000)
    async with running_server(app) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.content == CONTENT[1000:71_000]
    if anyio_backend == "asyncio":
        assert sum(sendfile_calls) == 70_000


async def test_head_sends_no_file_bytes(big_file: Path, sendfile_calls: list[int]) -> None:
    async with running_server(file_app(big_file, length=True)) as srv:
        raw = await srv.raw(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_response(raw, b"HEAD")
    assert (status, body) == (200, b"")
    assert headers[b"content-length"] == b"%d" % SIZE
    assert sendfile_calls == []


async def test_wsgi_file_wrapper_uses_sendfile(
    big_file: Path, sendfile_calls: list[int], anyio_backend: str
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](big_file.open("rb"))

    # Not under wsgiref.validate: its wrapper hides the file_wrapper from the server.
    async with running_server(app, wsgi=True, validate=False) as srv:
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.url)
    assert response.content == CONTENT
    assert (sum(sendfile_calls) == SIZE) is (anyio_backend == "asyncio")
