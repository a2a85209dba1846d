"""The supervisor as users run it: `duoserve --workers N` as a subprocess under a steady
stream of requests from several client threads, with signals, crashes and file edits.

Clients open a new connection per request: a keep-alive connection that the server closes
while idle can race a request the client is sending at that moment (an HTTP/1.1 property
clients handle by retrying); these tests count what the server itself drops."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli_serve import SERVING, Proc, duoserve

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts workers via /proc"),
]

APP = """
import time

import anyio

VERSION = {version!r}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await anyio.sleep(0.3)  # a new worker is not ready at once
                await send({{"type": "lifespan.startup.complete"}})
            else:
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    if scope["path"] == "/slow":
        await anyio.sleep(1.5)
    elif scope["path"] == "/block":
        time.sleep(30)  # blocks the event loop: the watchdog's business
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": VERSION.encode()}})
"""


# A worker that stops accepting can still drop a connection it had just accepted: anyio's
# asyncio accept() loses a connection accepted as it is cancelled, and the drain closes a
# new connection whose first request has not been read yet (server.py / connection.py, not
# the supervisor). Until that is fixed, a stopping worker may cost a few connection resets;
# set this to True with the fix and every count below must be zero.
DRAIN_RACE_FIXED = True


def assert_no_drops(load: Load) -> None:
    if DRAIN_RACE_FIXED:
        assert load.failures == []
        return
    assert len(load.failures) <= 3, load.failures
    assert all("Error(" in f for f in load.failures), load.failures  # never an HTTP error


def write_app(directory: Path, version: str) -> None:
    path = directory / "workerapp.py"
    path.write_text(APP.format(version=version))
    # Make the edit visible to a stat poller even within one mtime tick.
    stamp = time.time() + {"v1": 0, "v2": 2, "v3": 4}.get(version, 6)
    os.utime(path, (stamp, stamp))


def serve(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return duoserve(
        "workerapp:app", "--port", "0", "--app-dir", str(tmp_path), "--no-access-log", *args
    )


class Load:
    """Client threads requesting `url` in a loop until stopped; failures are recorded."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    outcome = response.text if response.status_code == 200 else None
                    error = f"status {response.status_code}"
                except httpx.HTTPError as exc:
                    outcome, error = None, repr(exc)
                with self._lock:
                    if outcome is None:
                        self.failures.append(error)
                    else:
                        self.ok += 1
                        self.bodies[outcome] += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def report(self, name: str) -> None:
        print(f"\n[{name}] requests ok={self.ok} failed={len(self.failures)} {self.failures[:3]}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def wait_until(check: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def start(proc: Proc) -> str:
    return proc.wait_for(SERVING.pattern)["url"]


def stop(proc: Proc) -> str:
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.wait(20) == 0, proc.output()
    return proc.output()


@pytest.mark.parametrize("workers", [1, 2])  # one worker is supervised by default too
def test_killed_worker_is_replaced(tmp_path: Path, workers: int) -> None:
    write_app(tmp_path, "v1")
    with serve(tmp_path, "--workers", str(workers)) as proc:
        url = start(proc)
        pid = proc.popen.pid
        with Load(url) as load:
            time.sleep(0.5)
            victim = children(pid)[0]
            os.kill(victim, signal.SIGKILL)
            proc.wait_for(rf"pid {victim}\) died \(killed by SIGKILL\); replacing it")
            wait_until(lambda: len(children(pid)) == workers and victim not in children(pid))
            proc.wait_for(rf"worker {workers + 1} \(pid \d+\) ready")
            time.sleep(0.5)
        load.report(f"kill -9, {workers} worker(s)")
        # At most the requests the killed worker held (one per client thread).
        assert len(load.failures) <= 4
        assert load.ok > 50
        stop(proc)


@pytest.mark.parametrize("workers", ["1", "2", "single-process"])
def test_sighup_reloads_without_dropping_requests(tmp_path: Path, workers: str) -> None:
    write_app(tmp_path, "v1")
    mode = ("--single-process",) if workers == "single-process" else ("--workers", workers)
    with serve(tmp_path, *mode) as proc:
        url = start(proc)
        with Load(url) as load:
            time.sleep(0.5)
            write_app(tmp_path, "v2")
            proc.popen.send_signal(signal.SIGHUP)
            single = workers == "single-process"
            proc.wait_for("this process drains and supervises" if single else "reload complete")
            wait_until(lambda: httpx.get(url).text == "v2", what="v2 served")
            time.sleep(0.5)
        load.report(f"SIGHUP, {workers} worker(s)")
        assert_no_drops(load)
        assert load.bodies["v1"] > 0 and load.bodies["v2"] > 0
        assert all(httpx.get(url).text == "v2" for _ in range(10))
        # Still supervised afterwards: a second reload works the same way.
        write_app(tmp_path, "v3")
        proc.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: httpx.get(url).text == "v3", what="v3 served")
        stop(proc)


def test_sigterm_lets_slow_requests_finish(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    with serve(tmp_path, "--workers", "2") as proc:
        url = start(proc)
        results: list[str] = []

        def fetch() -> None:
            try:
                results.append(httpx.get(url + "/slow", timeout=10).text)
            except httpx.HTTPError as exc:
                results.append(repr(exc))

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        output = stop(proc)
        for thread in threads:
            thread.join(10)
    assert results == ["v1"] * 6
    assert "shutting down gracefully" in output


def test_max_requests_recycles_without_dropping_requests(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    args = ("--workers", "2", "--max-requests", "40", "--max-requests-jitter", "20")
    with serve(tmp_path, *args) as proc:
        url = start(proc)
        with Load(url) as load:
            proc.wait_for(r"served \d+ requests; starting worker \d+ to replace it")
            proc.wait_for(r"served \d+ requests; starting worker [4-9]\d* to replace it")
            time.sleep(0.5)
        load.report("max-requests")
        assert_no_drops(load)
        output = stop(proc)
    assert "died" not in output


def test_boot_failure_stops_the_server_with_the_message(tmp_path: Path) -> None:
    (tmp_path / "failapp.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                if scope["type"] == "lifespan":
                    await receive()
                    await send({"type": "lifespan.startup.failed", "message": "no database"})
            """
        )
    )
    with duoserve("failapp:app", "--workers", "3", "--app-dir", str(tmp_path)) as proc:
        assert proc.popen.wait(15) == 1
        output = proc.output()
    errors = [line for line in output.splitlines() if line.startswith("duoserve: error:")]
    assert errors == ["duoserve: error: application startup failed: no database"], output
    assert output.count("failed to boot") == 1  # no respawn loop
    assert "Traceback" not in output


def test_import_error_in_workers_is_one_clear_line() -> None:
    with duoserve("nosuchmodule_xyz:app", "--workers", "2") as proc:
        assert proc.popen.wait(15) == 1
        output = proc.output()
    errors = [line for line in output.splitlines() if line.startswith("duoserve: error:")]
    assert len(errors) == 1 and "nosuchmodule_xyz" in errors[0], output


def test_sigttin_and_sigttou_change_the_worker_count(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    with serve(tmp_path, "--workers", "2") as proc:
        url = start(proc)
        pid = proc.popen.pid
        assert len(children(pid)) == 2
        proc.popen.send_signal(signal.SIGTTIN)
        wait_until(lambda: len(children(pid)) == 3, what="3 workers")
        proc.wait_for(r"worker 3 \(pid \d+\) ready")
        for _ in range(2):
            proc.popen.send_signal(signal.SIGTTOU)
            time.sleep(0.2)
        wait_until(lambda: len(children(pid)) == 1, what="1 worker")
        proc.popen.send_signal(signal.SIGTTOU)  # never below one
        proc.wait_for("already 1")
        assert httpx.get(url).text == "v1"
        assert len(children(pid)) == 1
        stop(proc)


def test_watchdog_kills_a_blocked_worker(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    with serve(tmp_path, "--workers", "2", "--timeout-worker", "1") as proc:
        url = start(proc)
        pid = proc.popen.pid
        before = set(children(pid))

        def block() -> None:
            with contextlib.suppress(httpx.HTTPError):  # its worker is killed
                httpx.get(url + "/block", timeout=10)

        threading.Thread(target=block, daemon=True).start()
        proc.wait_for(r"is blocked \(no heartbeat for \d+\.\ds\); killing it")
        proc.wait_for(r"worker 3 \(pid \d+\) ready")
        wait_until(lambda: len(set(children(pid)) - before) == 1 and len(children(pid)) == 2)
        assert all(httpx.get(url).text == "v1" for _ in range(5))
        stop(proc)


def test_reload_picks_up_edits_and_survives_a_syntax_error(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    with serve(tmp_path, "--reload") as proc:
        url = start(proc)
        assert httpx.get(url).text == "v1"
        write_app(tmp_path, "v2")
        wait_until(lambda: httpx.get(url).text == "v2", what="v2 after the edit")
        broken = tmp_path / "workerapp.py"
        broken.write_text("def broken(:\n")
        os.utime(broken, (time.time() + 4, time.time() + 4))
        proc.wait_for("reload failed, the old workers keep serving")
        assert "SyntaxError" in proc.output()
        assert httpx.get(url).text == "v2"
        write_app(tmp_path, "v9")
        wait_until(lambda: httpx.get(url).text == "v9", what="v9 after the fix")
        stop(proc)


LAUNCHER = """
import os, socket, sys
placeholder = os.open(os.devnull, os.O_RDONLY)  # so that the socket is not fd 3 already
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen()
os.dup2(sock.fileno(), 3)
print("activated port", sock.getsockname()[1], file=sys.stderr, flush=True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.executable, [sys.executable, "-m", "duoserve", *sys.argv[1:]])
"""


def test_systemd_socket_activation_and_notify(tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    notify_path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(15)
        args = ("workerapp:app", "--app-dir", str(tmp_path), "--no-access-log")
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
        popen = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with contextlib.closing(popen.stderr), contextlib.ExitStack() as cleanup:
            cleanup.callback(popen.wait, 10)
            cleanup.callback(lambda: popen.poll() is None and popen.kill())
            proc = Proc(popen)
            port = proc.wait_for(r"activated port (\d+)")[1]
            assert start(proc) == "fd://3"
            assert notify.recv(100) == b"READY=1"
            assert httpx.get(f"http://127.0.0.1:{port}/").text == "v1"
            stop(proc)
            assert notify.recv(100) == b"STOPPING=1"
