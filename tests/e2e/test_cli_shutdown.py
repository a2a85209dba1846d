"""Shutdown as an orchestrator sees it (SIGTERM, then a deadline): new connections are
refused at once, requests still running at --timeout-graceful-shutdown are cut and the
process exits promptly with a status that says so; in every process mode and backend."""

from __future__ import annotations

import signal
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from duoserve.errors import EXIT_DRAIN_CUT
from tests.e2e.test_cli_serve import SERVING, Proc, duoserve

pytestmark = pytest.mark.e2e

APP = """
import pathlib
import time

import anyio

MARK = pathlib.Path(__file__).with_name("started")


def _mark():
    with open(MARK, "a") as f:
        f.write("x")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        _mark()
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    _mark()
    await anyio.sleep(float(scope["query_string"] or 0))
    headers = [(b"content-length", b"4")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"done"})


def wsgi(environ, start_response):
    _mark()
    time.sleep(float(environ["QUERY_STRING"] or 0))
    start_response("200 OK", [("Content-Length", "4")])
    return [b"done"]
"""

MODES = {
    "1 worker": ("--workers", "1"),
    "2 workers": ("--workers", "2"),
    "single-process": ("--single-process",),
}


def serve(tmp_path: Path, target: str, *args: str):  # type: ignore[no-untyped-def]
    (tmp_path / "shutdownapp.py").write_text(textwrap.dedent(APP))
    return duoserve(
        f"shutdownapp:{target}", "--port", "0", "--app-dir", str(tmp_path), "--no-access-log", *args
    )


def address(proc: Proc) -> tuple[str, int]:
    host, _, port = proc.wait_for(SERVING.pattern)["url"].removeprefix("http://").rpartition(":")
    return host, int(port)


def wait_started(tmp_path: Path, count: int) -> None:
    """Until `count` requests (or WebSockets) have reached the app."""
    marks = tmp_path / "started"
    deadline = time.monotonic() + 10
    while not (marks.exists() and len(marks.read_text()) >= count):
        assert time.monotonic() < deadline, "the requests did not all reach the app"
        time.sleep(0.02)


def request(where: tuple[str, int], seconds: float, results: list[tuple[bytes, float]]) -> None:
    """GET /?seconds on a new connection; records what came back before the connection
    closed (b"" when it closed without a response) and when, from the start."""
    started = time.monotonic()
    with socket.create_connection(where, timeout=15) as sock:
        sock.sendall(b"GET /?%g HTTP/1.1\r\nHost: x\r\n\r\n" % seconds)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if data.endswith(b"done"):
                    break
        except ConnectionResetError:
            pass
    results.append((data, time.monotonic() - started))


def in_flight(
    where: tuple[str, int], count: int, seconds: float
) -> tuple[list[threading.Thread], list[tuple[bytes, float]]]:
    results: list[tuple[bytes, float]] = []
    threads = [
        threading.Thread(target=request, args=(where, seconds, results), daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, results


def attempt(where: tuple[str, int]) -> str:
    """A new connection: 'refused', or the response it got within 1 s."""
    try:
        sock = socket.create_connection(where, timeout=1)
    except ConnectionRefusedError:
        return "refused"
    with sock:
        sock.sendall(b"GET /?0 HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            return sock.recv(65536).decode() or "closed without an answer"
        except TimeoutError:
            return "no answer within 1 s"
        except ConnectionResetError:
            return "reset"


@pytest.mark.parametrize("mode", list(MODES))
def test_connection_after_sigterm_is_refused_at_once(tmp_path: Path, mode: str) -> None:
    with serve(tmp_path, "app", *MODES[mode]) as proc:
        where = address(proc)
        threads, results = in_flight(where, 1, 1.5)
        wait_started(tmp_path, 1)
        proc.popen.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        outcome = attempt(where)
        assert outcome == "refused" or outcome.startswith("HTTP/1.1 200 OK"), outcome
        for thread in threads:
            thread.join(10)
        assert proc.popen.wait(10) == 0, proc.output()
    assert [data.endswith(b"done") for data, _ in results] == [True]


@pytest.mark.parametrize(
    ("target", "options"),
    [
        ("app", ("--workers", "1")),
        ("app", ("--single-process", "--backend", "trio")),
        ("wsgi", ("--workers", "1", "--loop", "uvloop")),
        ("wsgi", ("--single-process", "--loop", "asyncio")),
        ("wsgi", ("--single-process", "--backend", "trio")),
    ],
)
def test_graceful_timeout_is_a_deadline(
    tmp_path: Path, target: str, options: tuple[str, ...]
) -> None:
    with serve(tmp_path, target, "--timeout-graceful-shutdown", "1", *options) as proc:
        where = address(proc)
        threads, results = in_flight(where, 3, 6)
        wait_started(tmp_path, 3)
        stopped = time.monotonic()
        proc.popen.send_signal(signal.SIGTERM)
        status = proc.popen.wait(10)
        gone = time.monotonic() - stopped
        for thread in threads:
            thread.join(10)
        output = proc.output()
    assert gone < 2.5, output
    assert status == EXIT_DRAIN_CUT, output
    assert "graceful shutdown timed out; closing 3 connection(s)" in output
    assert sorted(data for data, _ in results) == [b""] * 3  # closed, not answered
    assert all(elapsed < 4 for _, elapsed in results), results


@pytest.mark.parametrize("mode", ["1 worker", "single-process"])
def test_websocket_open_at_the_deadline_gets_1001(tmp_path: Path, mode: str) -> None:
    with serve(tmp_path, "app", "--timeout-graceful-shutdown", "1", *MODES[mode]) as proc:
        host, port = address(proc)
        with connect(f"ws://{host}:{port}/", open_timeout=5) as ws:
            wait_started(tmp_path, 1)
            stopped = time.monotonic()
            proc.popen.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            closed = time.monotonic() - stopped
        assert ws.close_code == 1001
        assert ws.close_reason == "server shutting down"
        assert 0.9 < closed < 2.5
        assert proc.popen.wait(5) == EXIT_DRAIN_CUT, proc.output()
