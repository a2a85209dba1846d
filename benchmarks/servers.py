"""The servers under test: how to start each one for an app, an interface and a worker count."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

APPS = Path(__file__).resolve().parent / "apps"
KEEP_ALIVE = "300"  # idle keep-alive seconds, high so the memory workload's connections stay
THREADS = "16"  # WSGI threads per worker for the threaded servers (duoserve's default)
MANY = "20000"  # connection limits raised past the memory workload's 5,000


@dataclass(frozen=True)
class Server:
    """One server configuration; `argv` fills in {app}, {port}, {workers}."""

    name: str
    interface: str  # "asgi" or "wsgi"
    package: str  # distribution whose version is reported
    needs: tuple[str, ...]  # modules that must be importable
    argv: tuple[str, ...]
    multi_worker: bool = True
    keeps_alive: bool = True  # holds idle keep-alive connections (the memory workload)
    idle_args: tuple[str, ...] = ()  # extra argv for the memory workload

    def missing(self) -> list[str]:
        """The modules this server needs that cannot be imported here."""
        return [module for module in self.needs if find_spec(module) is None]

    def version(self) -> str:
        try:
            return version(self.package)
        except PackageNotFoundError:
            return "-"


METRICS = ("--metrics-bind", "127.0.0.1:0")


def _duoserve(interface: str, *extra: str) -> tuple[str, ...]:
    return (
        *("-m", "duoserve", "{app}", "--port", "{port}", "--workers", "{workers}"),
        *("--interface", "asgi3" if interface == "asgi" else "wsgi", "--threads", THREADS),
        *("--no-access-log", "--log-level", "warning", "--timeout-keep-alive", KEEP_ALIVE),
        *("--limit-connections", MANY, "--lifespan", "off", *extra),
    )


# duoserve with its defaults; not in the memory workload (its 5 s keep-alive timeout
# closes the idle connections before they are counted).
DEFAULTS = ("-m", "duoserve", "{app}", "--port", "{port}", "--workers", "{workers}")


def _uvicorn(*extra: str) -> tuple[str, ...]:
    return (
        *("-m", "uvicorn", "{app}", "--port", "{port}", "--workers", "{workers}"),
        *("--no-access-log", "--log-level", "warning", "--timeout-keep-alive", KEEP_ALIVE),
        *("--lifespan", "off", *extra),
    )


def _granian(interface: str) -> tuple[str, ...]:
    return (
        *("-m", "granian", "--interface", interface, "--http", "1", "--port", "{port}"),
        *("--workers", "{workers}", "--log-level", "warning", "--no-access-log", "{app}"),
    )


def _gunicorn(worker_class: str) -> tuple[str, ...]:
    # More than one thread would turn the sync worker into gthread.
    threads = THREADS if worker_class == "gthread" else "1"
    return (
        *("-m", "gunicorn", "{app}", "--bind", "127.0.0.1:{port}", "--workers", "{workers}"),
        *("--worker-class", worker_class, "--threads", threads, "--keep-alive", KEEP_ALIVE),
        *("--worker-connections", MANY, "--log-level", "warning"),
    )


# Granian counts idle connections against its concurrency cap (default 1,024).
IDLE_GRANIAN = ("--backpressure", MANY)

SERVERS = [
    # With httptools and uvloop installed (the `speed` extra), duoserve uses them.
    Server("duoserve", "asgi", "duoserve", ("duoserve",), _duoserve("asgi")),
    # h11 only, on the same loop as uvicorn-h11: the like-for-like pure-Python comparison.
    Server("duoserve-h11", "asgi", "duoserve", ("duoserve",), _duoserve("asgi", "--http", "h11")),
    # The same with --metrics-bind (port 0: the listener is there, nobody scrapes it).
    Server("duoserve-metrics", "asgi", "duoserve", ("duoserve",), _duoserve("asgi", *METRICS)),
    # As users run it: no option but the port and workers (the access log on, info logs).
    Server("duoserve-default", "asgi", "duoserve", ("duoserve",), DEFAULTS, keeps_alive=False),
    Server(
        "uvicorn",
        "asgi",
        "uvicorn",
        ("uvicorn", "httptools", "uvloop"),
        _uvicorn("--http", "httptools", "--loop", "uvloop"),
    ),
    Server("uvicorn-h11", "asgi", "uvicorn", ("uvicorn",), _uvicorn("--http", "h11")),
    Server(
        "hypercorn",
        "asgi",
        "hypercorn",
        ("hypercorn",),
        (
            *("-m", "hypercorn", "{app}", "--bind", "127.0.0.1:{port}", "--workers", "{workers}"),
            *("--keep-alive", KEEP_ALIVE, "--log-level", "warning", "--backlog", "2048"),
        ),
    ),
    Server("granian", "asgi", "granian", ("granian",), _granian("asgi"), idle_args=IDLE_GRANIAN),
    Server("duoserve", "wsgi", "duoserve", ("duoserve",), _duoserve("wsgi")),
    Server("duoserve-metrics", "wsgi", "duoserve", ("duoserve",), _duoserve("wsgi", *METRICS)),
    Server("duoserve-default", "wsgi", "duoserve", ("duoserve",), DEFAULTS, keeps_alive=False),
    Server("uvicorn-wsgi", "wsgi", "uvicorn", ("uvicorn",), _uvicorn("--interface", "wsgi")),
    Server(
        "gunicorn-sync", "wsgi", "gunicorn", ("gunicorn",), _gunicorn("sync"), keeps_alive=False
    ),
    Server("gunicorn-gthread", "wsgi", "gunicorn", ("gunicorn",), _gunicorn("gthread")),
    Server(
        "waitress",
        "wsgi",
        "waitress",
        ("waitress",),
        (
            *("-m", "waitress", "--listen=127.0.0.1:{port}", f"--threads={THREADS}"),
            *(f"--connection-limit={MANY}", f"--channel-timeout={KEEP_ALIVE}", "{app}"),
        ),
        multi_worker=False,
    ),
    Server(
        "granian-wsgi", "wsgi", "granian", ("granian",), _granian("wsgi"), idle_args=IDLE_GRANIAN
    ),
]

INSTALL_HINT = "pip install -r benchmarks/requirements.txt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait until a plain GET is answered, so the app is imported and the workers are up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as sock:
            sock.settimeout(5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            if sock.recv(16).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer within {timeout} s")


@contextlib.contextmanager
def serving(
    server: Server,
    app: str,
    workers: int = 1,
    extra: tuple[str, ...] = (),
    *,
    wrapper: tuple[str, ...] = (),
    patience: float = 20,
) -> Iterator[tuple[int, int]]:
    """Run `server` on a free port (under `wrapper`, e.g. valgrind, when given); yield
    (port, pid) and stop it with SIGINT afterwards. `patience`: seconds it may take to
    answer its first request, and to exit once stopped."""
    port = free_port()
    fields = {"app": app, "port": port, "workers": workers}
    argv = [*wrapper, sys.executable, *(arg.format(**fields) for arg in server.argv), *extra]
    # BENCH_PYTHONPATH: another source tree to import first (e.g. an older duoserve's src/).
    path = os.pathsep.join(filter(None, (os.environ.get("BENCH_PYTHONPATH"), str(APPS))))
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
    env.pop("WEB_CONCURRENCY", None)
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    if os.environ.get("BENCH_SERVER_LOG"):
        log = open(os.environ["BENCH_SERVER_LOG"], "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        argv, cwd=APPS, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(port, proc, patience)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(max(15, patience))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Workers a server leaves behind would skew the next measurement.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
