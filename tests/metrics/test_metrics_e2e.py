"""--metrics-bind and --statsd-host as users run them: duoserve as a subprocess with real
traffic, scraped with Prometheus's own parser, StatsD received on a real UDP socket."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from duoserve.observe.metrics.recorder import SAMPLE_INTERVAL
from tests.e2e.test_cli_serve import duoserve
from tests.metrics.scrape import scrape, start, total, write
from tests.supervisor.test_workers_e2e import Load, children, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts workers via /proc"),
]

APP = """
import anyio


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        if scope["path"] == "/refuse":
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text") or ""})
        await send({"type": "websocket.close"})
        return
    if scope["path"] == "/slow":
        await anyio.sleep(1.5)
    elif scope["path"] == "/boom":
        raise RuntimeError("boom")  # the server answers 500
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 404 if scope["path"] == "/missing" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"hello" + body})
"""


def serve(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    write(tmp_path, "metricsapp", APP)
    return duoserve(
        "metricsapp:app",
        *("--port", "0", "--app-dir", str(tmp_path), "--no-access-log"),
        *("--metrics-bind", "127.0.0.1:0", *args),
    )


def test_totals_across_workers_stay_monotonic_when_a_worker_is_killed(tmp_path: Path) -> None:
    with serve(tmp_path, "--workers", "2") as proc:
        url, metrics = start(proc)
        seen: list[float] = []
        began = time.monotonic()
        with Load(url) as load:
            for _ in range(10):
                time.sleep(0.1)
                seen.append(total(scrape(metrics), "duoserve_requests_total"))
            victim = children(proc.popen.pid)[0]
            os.kill(victim, signal.SIGKILL)
            proc.wait_for(rf"pid {victim}\) died")
            for _ in range(10):
                seen.append(total(scrape(metrics), "duoserve_requests_total"))
                time.sleep(0.1)
            proc.wait_for(r"worker 3 \(pid \d+\) ready")
            time.sleep(0.3)
        rate = load.ok / (time.monotonic() - began)
        assert seen == sorted(seen), seen  # never backwards, the kill included
        assert seen[-1] > seen[9] > 0
        time.sleep(3 * SAMPLE_INTERVAL)  # the workers alive have folded what they noted
        samples = scrape(metrics)
        assert total(samples, "duoserve_requests_in_flight") == 0
        counted = total(samples, "duoserve_requests_total", interface="asgi", status="2xx")
        # What the killed worker had folded into its slot is kept; what it noted in its
        # last SAMPLE_INTERVAL (at most that much of the whole rate) died with it, and at
        # most one request per client was cut.
        assert load.ok - rate * SAMPLE_INTERVAL <= counted <= load.ok + 4, (load.ok, counted)
        assert total(samples, "duoserve_request_duration_seconds_count") == counted
        assert total(samples, "duoserve_request_duration_seconds_bucket", le="+Inf") == counted
        assert total(samples, "duoserve_response_body_bytes_total") == 5 * counted
        assert total(samples, "duoserve_worker_starts_total") == 3
        assert total(samples, "duoserve_worker_exits_total", cause="crash") == 1
        assert total(samples, "duoserve_workers") == 2
        assert total(samples, "duoserve_workers_ready") == 2
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0, proc.output()


def test_workers_that_stop_gracefully_lose_no_count(tmp_path: Path) -> None:
    # Recycled by --max-requests (the replacement starts first), then stopped by SIGTERM:
    # each worker folds its last requests into its slot before it exits.
    with serve(tmp_path, "--workers", "2", "--max-requests", "150") as proc:
        url, metrics = start(proc)
        with Load(url) as load:
            proc.wait_for(r"served \d+ requests; starting worker 3", timeout=30)
            proc.wait_for(r"worker 3 \(pid \d+\) ready")
            wait_until(lambda: any("exited" in line for line in proc.lines))
        # Counts reach the slot within a SAMPLE_INTERVAL of the request.
        counted = lambda: total(scrape(metrics), "duoserve_requests_total")  # noqa: E731
        wait_until(lambda: counted() == load.ok, timeout=3, what=f"{load.ok} requests")
        samples = scrape(metrics)
        assert total(samples, "duoserve_requests_in_flight") == 0
        assert total(samples, "duoserve_worker_exits_total", cause="recycle") >= 1
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0, proc.output()


def test_readyz_fails_at_sigterm_while_requests_drain(tmp_path: Path) -> None:
    with serve(tmp_path, "--workers", "2") as proc:
        url, metrics = start(proc)
        assert httpx.get(metrics + "/readyz").status_code == 200
        assert httpx.get(metrics + "/healthz").text == "ok\n"
        results: list[int] = []
        slow = threading.Thread(target=lambda: results.append(httpx.get(url + "/slow").status_code))
        slow.start()
        time.sleep(0.3)
        proc.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: httpx.get(metrics + "/readyz").status_code == 503, timeout=1)
        ready = httpx.get(metrics + "/readyz")
        assert ready.text == "not ready: shutting down\n"
        assert not results  # the slow request is still being answered
        assert httpx.get(metrics + "/healthz").status_code == 200  # the workers drain
        slow.join(10)
        assert results == [200]
        assert proc.popen.wait(20) == 0, proc.output()
        exits = [line for line in proc.lines if "exited" in line]
        assert len(exits) == 2, proc.output()


@pytest.mark.parametrize("mode", [("--workers", "2"), ("--single-process",)])
def test_shutdown_delay_keeps_serving_while_not_ready(tmp_path: Path, mode: tuple[str]) -> None:
    with serve(tmp_path, *mode, "--shutdown-delay", "1.5") as proc:
        url, metrics = start(proc)
        assert httpx.get(metrics + "/readyz").status_code == 200
        proc.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: httpx.get(metrics + "/readyz").status_code == 503, timeout=1)
        # Out of rotation, and still answering new connections until the delay is over.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=limits) as client:
            assert client.get(url + "/").text == "hello"
        assert proc.popen.poll() is None
        assert proc.popen.wait(20) == 0, proc.output()


def test_single_process_counts_errors_refusals_and_websockets(tmp_path: Path) -> None:
    with serve(tmp_path, "--single-process", "--limit-concurrency", "1") as proc:
        url, metrics = start(proc)
        assert httpx.get(metrics + "/readyz").text == "ready\n"
        port = int(url.rsplit(":", 1)[1])
        assert httpx.post(url + "/", content=b"abc").text == "helloabc"
        assert httpx.get(url + "/missing").status_code == 404
        assert httpx.delete(url + "/boom").status_code == 500
        for raw in (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",  # 400
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",  # 505
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n",  # 431
        ):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(raw)
                sock.recv(1024)
        slow = threading.Thread(target=lambda: httpx.get(url + "/slow"))
        slow.start()
        time.sleep(0.5)
        assert httpx.get(url + "/").status_code == 503  # --limit-concurrency 1
        slow.join(10)
        from websockets.sync.client import connect

        ws_url = url.replace("http://", "ws://")
        with connect(ws_url + "/echo") as ws:
            ws.send("hi")
            assert ws.recv() == "hi"
        with pytest.raises(Exception, match="403"), connect(ws_url + "/refuse"):
            pass
        samples = scrape(metrics)
        assert total(samples, "duoserve_requests_total", method="POST", status="2xx") == 1
        assert total(samples, "duoserve_requests_total", status="4xx", interface="asgi") == 1
        assert total(samples, "duoserve_requests_total", method="DELETE", status="5xx") == 1
        assert total(samples, "duoserve_request_body_bytes_total") == 3
        assert total(samples, "duoserve_protocol_errors_total", status="400") == 1
        assert total(samples, "duoserve_protocol_errors_total", status="505") == 1
        assert total(samples, "duoserve_protocol_errors_total", status="431") == 1
        assert total(samples, "duoserve_refused_total", limit="concurrency") == 1
        assert total(samples, "duoserve_websocket_sessions_total") == 2
        ws = {"interface": "websocket", "method": "GET"}
        assert total(samples, "duoserve_requests_total", status="1xx", **ws) == 1
        assert total(samples, "duoserve_requests_total", status="4xx", **ws) == 1
        assert httpx.get(metrics + "/nothing").status_code == 404
        assert httpx.post(metrics + "/metrics").status_code == 405
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0, proc.output()


WSGI_APP = """
import time


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]
"""


def test_wsgi_thread_gauges_and_interface(tmp_path: Path) -> None:
    write(tmp_path, "wsgimetrics", WSGI_APP)
    args = ("--port", "0", "--app-dir", str(tmp_path), "--no-access-log", "--threads", "1")
    with duoserve("wsgimetrics:app", *args, "--metrics-bind", "127.0.0.1:0") as proc:
        url, metrics = start(proc)
        threads = [threading.Thread(target=lambda: httpx.get(url + "/slow")) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: total(scrape(metrics), "duoserve_wsgi_requests_queued") == 1, 2)
        samples = scrape(metrics)
        assert total(samples, "duoserve_wsgi_threads_busy") == 1
        assert total(samples, "duoserve_requests_in_flight") == 2
        assert total(samples, "duoserve_connections_open") == 2
        for thread in threads:
            thread.join(10)
        wait_until(lambda: total(scrape(metrics), "duoserve_wsgi_threads_busy") == 0, 2)
        assert total(scrape(metrics), "duoserve_requests_total", interface="wsgi") == 2
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0, proc.output()


def receive_lines(sock: socket.socket, until: str, timeout: float = 5) -> list[str]:
    """StatsD lines received until one contains `until`."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(until in line for line in lines):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"{until!r} not received; got {lines}") from None
        lines += data.decode().split("\n")
    return lines


@pytest.mark.parametrize("mode", [("--workers", "2"), ("--single-process",)])
def test_statsd_dogstatsd_tags_on_a_real_udp_socket(tmp_path: Path, mode: tuple[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{receiver.getsockname()[1]}"
        statsd = ("--statsd-host", address, "--statsd-interval", "0.2")
        tags = ("--statsd-prefix", "web", "--dogstatsd-tags", "env:test,team:a")
        with serve(tmp_path, *mode, *statsd, *tags) as proc:
            url, _ = start(proc)
            for _ in range(5):
                assert httpx.get(url + "/").status_code == 200
            lines: list[str] = []
            counted = 0.0
            deadline = time.monotonic() + 5
            while counted < 5 and time.monotonic() < deadline:
                lines = receive_lines(receiver, "web.duoserve.ready:")
                for line in lines:
                    if line.startswith("web.duoserve.requests:"):
                        value, kind, tag_text = line.split(":", 1)[1].split("|")
                        assert kind == "c"
                        assert tag_text == "#env:test,team:a,interface:asgi,method:GET,status:2xx"
                        counted += float(value)
            assert counted == 5  # increments: each request is sent once
            workers = mode_workers(mode)
            assert f"web.duoserve.workers_ready:{workers}|g|#env:test,team:a" in lines
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(20) == 0, proc.output()


def mode_workers(mode: tuple[str, ...]) -> str:
    return mode[1] if mode[0] == "--workers" else "1"


def test_statsd_plain_names_carry_the_labels(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{receiver.getsockname()[1]}"
        args = ("--single-process", "--statsd-host", address, "--statsd-interval", "0.2")
        write(tmp_path, "metricsapp", APP)
        with duoserve("metricsapp:app", "--port", "0", "--app-dir", str(tmp_path), *args) as proc:
            url = proc.wait_for(r"serving .+? on (?P<url>\S+) — ")["url"]
            assert httpx.get(url + "/missing").status_code == 404
            lines = receive_lines(receiver, "duoserve.requests.asgi.GET.4xx:1|c")
            assert "duoserve.ready:1|g" in lines
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(20) == 0, proc.output()


@pytest.mark.parametrize("mode", [("--workers", "1"), ("--single-process",)])
def test_sighup_reload_keeps_the_counts_and_the_listener(tmp_path: Path, mode: tuple[str]) -> None:
    # --single-process hands over to a supervised worker on SIGHUP: the same metrics
    # listener goes on, with what the first process counted kept.
    with serve(tmp_path, *mode) as proc:
        url, metrics = start(proc)
        for _ in range(20):
            assert httpx.get(url + "/").status_code == 200
        counted = lambda: total(scrape(metrics), "duoserve_requests_total")  # noqa: E731
        wait_until(lambda: counted() == 20, timeout=3, what="20 requests")
        proc.popen.send_signal(signal.SIGHUP)
        single = mode[0] == "--single-process"
        proc.wait_for("this process drains and supervises" if single else "reload complete")
        wait_until(lambda: any("exited" in line for line in proc.lines) or single, 10)
        for _ in range(5):
            assert httpx.get(url + "/").status_code == 200
        wait_until(lambda: counted() == 25, timeout=3, what="25 requests")
        samples = scrape(metrics)
        assert total(samples, "duoserve_ready") == 1
        if not single:
            assert total(samples, "duoserve_reloads_total") == 1
            assert total(samples, "duoserve_worker_exits_total", cause="reload") == 1
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0, proc.output()
