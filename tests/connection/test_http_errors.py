"""Bad input and app failures: each gets its status, is logged once, and the server goes on."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import read_until, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("http_codec")]


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def status_of(data: bytes) -> int:
    assert data.startswith(b"HTTP/1."), data[:80]
    return int(data.split(b" ", 2)[1])


BAD_REQUESTS = [
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="no-version"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="bad-host"),
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http2-line"),
    pytest.param(b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505, id="http3-line"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
        id="cl-and-te",
    ),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400, id="bad-cl"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, id="unknown-te"
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400, id="space-in-name"),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="long-line"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 40000 + b"\r\n\r\n",
        431,
        id="big-head-one-read",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431, id="too-many-fields"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        id="bad-chunk-size",
    ),
    pytest.param(b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="target-form"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="asterisk-not-options"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400, id="control-in-value"),
]


@pytest.mark.parametrize(("request_bytes", "status"), BAD_REQUESTS)
async def test_bad_requests_get_their_status_and_close(request_bytes: bytes, status: int) -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(request_bytes)
        assert status_of(data) == status
        assert b"connection: close" in data.lower()
        # ...and the server keeps serving others.
        async with httpx.AsyncClient() as client:
            assert (await client.get(srv.url)).status_code == 200


async def test_oversize_head_in_small_pieces() -> None:
    async with running_server(hello) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
            for _ in range(100):
                try:
                    await stream.send(b"X-Filler: " + b"a" * 500 + b"\r\n")
                except (anyio.BrokenResourceError, OSError):
                    break
            data = await read_until(stream, b"\r\n\r\n")
    assert status_of(data) == 431


@pytest.mark.parametrize(
    "start", [b"G(T", b"\x16\x03\x01\x00\xa5\x01", b"GET /\x80", b"GET / HTTP/1.1\r\nX: \x00"]
)
async def test_bytes_that_cannot_begin_a_request_are_refused_at_once(start: bytes) -> None:
    """Not held until the head timeout (10 s by default): the answer comes while the
    connection is still open and nothing more has been sent."""
    async with running_server(hello) as srv:
        stream = await srv.connect()
        async with stream:
            await stream.send(start)
            data = await read_until(stream, b"\r\n\r\n", timeout=2)
        assert status_of(data) == 400


async def test_request_line_too_long_without_newline() -> None:
    async with running_server(hello, limit_request_line=100) as srv:
        data = await srv.raw(b"GET /" + b"a" * 200)
    assert status_of(data) == 414


async def test_leading_empty_lines_are_ignored() -> None:
    async with running_server(hello) as srv:
        data = await srv.raw(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status_of(data) == 200


async def test_absolute_form_target_reaches_app_as_path() -> None:
    seen: list[tuple[str, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["path"], scope["query_string"]))
        await hello(scope, receive, send)

    async with running_server(app) as srv:
        data = await srv.raw(
            b"GET http://example.com/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n"
            b"Connection: close\r\n\r\n"
        )
    assert status_of(data) == 200
    assert seen == [("/p/q", b"x=1")]


async def test_body_over_limit_by_content_length() -> None:
    async with running_server(hello, limit_request_body=10) as srv:
        data = await srv.raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert status_of(data) == 413


async def test_body_over_limit_while_streaming() -> None:
    async with running_server(hello, limit_request_body=10) as srv:
        data = await srv.raw(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
        )
    assert status_of(data) == 413


async def test_app_error_before_response_is_500_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, lifespan="off") as srv:
            data = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(data) == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and "boom" in str(errors[0].exc_info[1])


async def test_app_error_after_start_closes_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("late boom")

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, lifespan="off") as srv:
            data = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(data) == 200
    assert data.endswith(b"partial\r\n")  # chunk written, terminating chunk never sent
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


async def test_app_error_after_start_before_body_is_still_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ValueError("boom")

    async with running_server(app, lifespan="off") as srv:
        data = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(data) == 500


async def test_app_returning_without_response_is_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, lifespan="off") as srv:
            data = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(data) == 500
    assert any("without starting a response" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("declared", "sent"), [(5, b"toolong"), (10, b"short")])
async def test_content_length_mismatch_closes(
    declared: int, sent: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(declared).encode())],
            }
        )
        await send({"type": "http.response.body", "body": sent})

    with caplog.at_level(logging.ERROR, logger="duoserve.error"):
        async with running_server(app, lifespan="off") as srv:
            data = await srv.raw(
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
            )
    # No second response on this connection, and never more bytes than declared.
    assert data.count(b"HTTP/1.1") <= 1
    assert b"toolong" not in data
    assert any("Content-Length" in (r.exc_text or r.getMessage()) for r in caplog.records)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-bad", b"a\r\nInjected: 1")],
        [(b"bad name", b"v")],
        [(b"x", b"nul\x00")],
        [("str-name", "str-value")],
    ],
)
async def test_invalid_response_headers_are_refused(headers: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x"})

    async with running_server(app, lifespan="off") as srv:
        data = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(data) == 500
    assert b"Injected" not in data


async def test_limit_concurrency_answers_503() -> None:
    release = anyio.Event()
    entered = anyio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        await release.wait()
        await hello(scope, receive, send)

    async with running_server(app, limit_concurrency=1, lifespan="off") as srv:
        async with anyio.create_task_group() as tg:
            results: list[bytes] = []

            async def first() -> None:
                results.append(
                    await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                )

            tg.start_soon(first)
            await entered.wait()
            second = await srv.raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            release.set()
    assert status_of(second) == 503
    assert status_of(results[0]) == 200
