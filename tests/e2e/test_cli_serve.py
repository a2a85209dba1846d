"""The duoserve command as users run it: a subprocess, real sockets, signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"serving (?P<what>.+?) on (?P<url>\S+) — ")


class Proc:
    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} not seen; output:\n" + "\n".join(self.lines))

    def output(self) -> str:
        self._reader.join(5)
        return "\n".join(self.lines)


@contextmanager
def duoserve(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Iterator[Proc]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DUOSERVE_")}
    full_env.pop("PORT", None)
    full_env.update(env or {})
    popen = subprocess.Popen(
        [sys.executable, "-m", "duoserve", *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = Proc(popen)
    try:
        yield proc
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(10)
        assert popen.stdout is not None
        popen.stdout.close()
        assert popen.stderr is not None
        popen.stderr.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serves_the_example_and_prints_startup_line() -> None:
    with duoserve("examples.hello:app", "--port", "0") as proc:
        match = proc.wait_for(SERVING.pattern)
        assert match["what"] == "examples.hello:app (ASGI 3, lifespan on)"
        assert "duoserve 0.1.0" in match.string and "CTRL+C to quit" in match.string
        response = httpx.get(match["url"] + "/")
        assert response.text == "Hello, world!\n"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(
        textwrap.dedent(
            """
            import pathlib

            import anyio

            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                with open(pathlib.Path(__file__).with_name("started"), "a") as log:
                    log.write("x")
                await anyio.sleep(1.5)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"finished"})
            """
        )
    )
    with duoserve("slowapp:app", "--port", "0", "--app-dir", str(tmp_path)) as proc:
        url = proc.wait_for(SERVING.pattern)["url"]
        results: list[str] = []

        def fetch() -> None:
            results.append(httpx.get(url, timeout=10).text)

        threads = [threading.Thread(target=fetch) for _ in range(5)]
        for thread in threads:
            thread.start()
        started = tmp_path / "started"
        deadline = time.monotonic() + 10
        while not (started.exists() and len(started.read_text()) == 5):  # all five in flight
            assert time.monotonic() < deadline, "the five requests did not all start"
            time.sleep(0.02)
        proc.popen.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(10)
        assert proc.popen.wait(15) == 0
    assert results == ["finished"] * 5
    # New connections are refused once shutdown began.
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_port_environment_variable_binds_all_interfaces() -> None:
    port = free_port()
    with duoserve("examples.hello:app", env={"PORT": str(port)}) as proc:
        match = proc.wait_for(SERVING.pattern)
        assert match["url"] == f"http://0.0.0.0:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(15) == 0


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    (tmp_path / "duoserve.toml").write_text('port = 1\nroot-path = "/from-file"\n')
    (tmp_path / "scopeapp.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                body = scope["root_path"].encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
            """
        )
    )
    port = free_port()
    with duoserve(
        "scopeapp:app",
        "--config",
        str(tmp_path / "duoserve.toml"),
        "--port",
        str(port),
        env={"DUOSERVE_ROOT_PATH": "/from-env"},
        cwd=tmp_path,
    ) as proc:
        proc.wait_for(SERVING.pattern)
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "/from-env"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0


def test_lifespan_startup_failure_exits_nonzero(tmp_path: Path) -> None:
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
    with duoserve("failapp:app", "--port", "0", "--app-dir", str(tmp_path)) as proc:
        assert proc.popen.wait(15) == 1
        output = proc.output()
    assert "no database" in output
    assert "Traceback" not in output


def test_lifespan_state_reaches_requests(tmp_path: Path) -> None:
    (tmp_path / "stateapp.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                if scope["type"] == "lifespan":
                    while True:
                        message = await receive()
                        if message["type"] == "lifespan.startup":
                            scope["state"]["greeting"] = "from startup"
                            await send({"type": "lifespan.startup.complete"})
                        else:
                            await send({"type": "lifespan.shutdown.complete"})
                            print("shutdown ran", flush=True)
                            return
                body = scope["state"]["greeting"].encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
            """
        )
    )
    with duoserve("stateapp:app", "--port", "0", "--app-dir", str(tmp_path)) as proc:
        url = proc.wait_for(SERVING.pattern)["url"]
        assert httpx.get(url).text == "from startup"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
        assert proc.popen.stdout is not None
        assert "shutdown ran" in proc.popen.stdout.read()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchmodule_xyz:app"], "nosuchmodule_xyz"),
        (["examples.hello:nope"], "nope"),
        (["examples.hello"], "module:attribute"),
        (["tests.apps.broken_import:app"], "not_a_real_module_xyz"),
        (["examples.hello:app", "--port", "notanumber"], "port"),
        (["examples.hello:app", "--interface", "cgi"], "interface"),
    ],
)
def test_newcomer_errors_are_one_clear_line(args: list[str], message: str) -> None:
    with duoserve(*args) as proc:
        assert proc.popen.wait(15) == 1
        output = proc.output()
    error_lines = [line for line in output.splitlines() if line.startswith("duoserve: error:")]
    assert len(error_lines) == 1, output
    assert message in error_lines[0] or message in output
    if "broken_import" not in args[0]:
        assert "Traceback" not in output


def test_import_error_inside_module_shows_its_traceback() -> None:
    with duoserve("tests.apps.broken_import:app") as proc:
        assert proc.popen.wait(15) == 1
        output = proc.output()
    assert "Traceback" in output and "not_a_real_module_xyz" in output


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with duoserve("examples.hello:app", "--port", str(port)) as proc:
            assert proc.popen.wait(15) == 1
            output = proc.output()
    assert "already in use" in output
    assert "Traceback" not in output


def test_check_reports_without_serving() -> None:
    with duoserve("examples.hello:app", "--check", "--port", "9") as proc:
        assert proc.popen.wait(15) == 0
        assert proc.popen.stdout is not None
        out = proc.popen.stdout.read() + proc.output()
    assert "examples.hello:app" in out and "ASGI 3" in out


def test_wsgi_app_is_detected(tmp_path: Path) -> None:
    with duoserve("examples.hello_wsgi:app", "--port", "0") as proc:
        url = proc.wait_for(SERVING.pattern)["url"]
        assert "WSGI" in proc.output()
        assert httpx.get(url).text == "Hello, world!\n"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
