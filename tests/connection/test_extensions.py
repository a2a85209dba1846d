"""The ASGI extensions on HTTP/1.1 over raw sockets, responses parsed by h11: trailers,
early hints (ASGI and wsgi.early_hints), zerocopysend with offset/count, pathsend."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import h11
import httpx
import pytest

from tests.conftest import parse_response, read_until, running_server

pytestmark = pytest.mark.anyio


def h11_events(raw: bytes, method: str = "GET") -> list[Any]:
    """Every event a client sees in one raw response (informational ones included)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    events: list[Any] = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(b"")
            continue
        events.append(event)
        if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return events


def trailer_app(trailers: list[list[tuple[bytes, bytes]]], length: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.trailers" in scope["extensions"]
        headers = [(b"content-type", b"text/plain")]
        if length:
            headers.append((b"content-length", b"5"))
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers, "trailers": True}
        )
        await send({"type": "http.response.body", "body": b"hello", "more_body": False})
        for i, part in enumerate(trailers):
            last = i == len(trailers) - 1
            await send(
                {"type": "http.response.trailers", "headers": part, "more_trailers": not last}
            )

    return app


GET_TE = b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n"
GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def test_trailers_sent_when_client_accepts_them() -> None:
    parts = [[(b"x-checksum", b"abc")], [(b"Server-Timing", b"db;dur=5")]]
    async with running_server(trailer_app(parts, length=True)) as srv:
        raw = await srv.raw(GET_TE)
    events = h11_events(raw)
    response, end = events[0], events[-1]
    assert dict(response.headers)[b"transfer-encoding"] == b"chunked"
    assert b"content-length" not in dict(response.headers)
    assert b"".join(e.data for e in events if isinstance(e, h11.Data)) == b"hello"
    assert isinstance(end, h11.EndOfMessage)
    assert list(end.headers) == [(b"x-checksum", b"abc"), (b"server-timing", b"db;dur=5")]


async def test_trailers_dropped_without_te_and_for_http10() -> None:
    async with running_server(trailer_app([[(b"x-checksum", b"abc")]], length=True)) as srv:
        raw = await srv.raw(GET)
        raw10 = await srv.raw(b"GET / HTTP/1.0\r\nTE: trailers\r\n\r\n")
    status, headers, body = parse_response(raw)
    assert (status, body, headers[b"content-length"]) == (200, b"hello", b"5")
    assert b"x-checksum" not in raw
    assert raw10.startswith(b"HTTP/1.0 200") and raw10.endswith(b"hello")
    # chunked anyway (no Content-Length), but still no trailers for a client without TE
    async with running_server(trailer_app([[(b"x-checksum", b"abc")]])) as srv:
        raw = await srv.raw(GET)
    events = h11_events(raw)
    assert dict(events[0].headers)[b"transfer-encoding"] == b"chunked"
    assert list(events[-1].headers) == [] and b"x-checksum" not in raw


async def test_forbidden_trailer_cuts_the_response() -> None:
    async with running_server(trailer_app([[(b"content-length", b"5")]])) as srv:
        raw = await srv.raw(GET_TE)
    # The head and body were out already: the response is cut, never completed.
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"5\r\nhello\r\n")


async def test_trailers_out_of_order_is_an_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.trailers", "headers": []})

    async with running_server(app) as srv:
        status, _, _ = parse_response(await srv.raw(GET_TE))
    assert status == 500


async def test_early_hints_before_the_response() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "http.response.early_hint" in scope["extensions"]
        await send(
            {
                "type": "http.response.early_hint",
                "links": [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload"],
            }
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.early_hint", "links": [b"</late>"]})  # ignored
        await send({"type": "http.response.body", "body": b"ok"})

    async with running_server(app) as srv:
        raw = await srv.raw(GET)
    events = h11_events(raw)
    hint, final = events[0], events[1]
    assert isinstance(hint, h11.InformationalResponse) and hint.status_code == 103
    assert [v for n, v in hint.headers if n == b"link"] == [
        b"</style.css>; rel=preload; as=style",
        b"</app.js>; rel=preload",
    ]
    assert isinstance(final, h11.Response) and final.status_code == 200
    assert b"</late>" not in raw


async def test_early_hints_ignored_for_http10() -> None:
    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append("http.response.early_hint" in scope["extensions"])
        await send({"type": "http.response.early_hint", "links": [b"</a>; rel=preload"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with running_server(app) as srv:
        raw = await srv.raw(b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.0 200") and b"103" not in raw
    assert seen == [False]


async def test_early_hint_with_bad_header_is_an_app_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.early_hint", "links": [b"</a>\r\nx: y"]})

    async with running_server(app) as srv:
        status, _, _ = parse_response(await srv.raw(GET))
    assert status == 500


def wsgi_hints(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    environ["wsgi.early_hints"]([("Link", "</s.css>; rel=preload; as=style")])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


async def test_wsgi_early_hints() -> None:
    async with running_server(wsgi_hints, wsgi=True) as srv:  # type: ignore[arg-type]
        stream = await srv.connect()
        async with stream:
            await stream.send(GET)
            raw = await read_until(stream, b"\r\n\r\nok")
    events = h11_events(raw)
    assert events[0].status_code == 103
    assert dict(events[0].headers)[b"link"] == b"</s.css>; rel=preload; as=style"
    assert events[1].status_code == 200


async def test_zerocopysend_offset_count_and_pathsend(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 2000
    path.write_bytes(content)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert {"http.response.zerocopysend", "http.response.pathsend"} <= set(scope["extensions"])
        which = scope["path"]
        async with await anyio.open_file(path, "rb") as opened:
            f = opened.wrapped
            if which == "/slice":
                headers = [(b"content-length", b"1000")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                message = {"type": "http.response.zerocopysend", "file": f}
                await send({**message, "offset": 300_000, "count": 1000})
            elif which == "/two":  # two pieces of the file, then the end (chunked)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                message = {"type": "http.response.zerocopysend", "file": f, "more_body": True}
                await send({**message, "offset": 10, "count": 5})
                await send({**message, "offset": 0, "count": 3})
                await send({"type": "http.response.body", "body": b"!"})
            elif which == "/rest":  # from the current position to the end
                await opened.seek(len(content) - 7)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.zerocopysend", "file": f})
            else:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.pathsend", "path": str(path)})

    async with running_server(app) as srv, httpx.AsyncClient() as client:
        assert (await client.get(f"{srv.url}/slice")).content == content[300_000:301_000]
        assert (await client.get(f"{srv.url}/two")).content == content[10:15] + content[:3] + b"!"
        assert (await client.get(f"{srv.url}/rest")).content == content[-7:]
        assert (await client.get(f"{srv.url}/path")).content == content
