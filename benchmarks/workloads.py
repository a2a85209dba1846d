"""The workloads: what each one asks of a server, and the load tools that measure it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Workload:
    """One measurement; `kind` is "wrk" (req/s), "ws" (msgs/s) or "memory" (KiB/conn)."""

    name: str
    title: str
    interface: str  # "asgi" or "wsgi": which servers take part
    kind: str = "wrk"
    app: str = ""
    path: str = "/"
    wrk_args: tuple[str, ...] = ()
    workers: int = 1
    size: int = 0  # WebSocket message bytes
    quick: bool = True  # part of --quick
    servers: tuple[str, ...] = field(default=())  # empty: every server of the interface

    @property
    def unit(self) -> str:
        return {"wrk": "req/s", "ws": "msgs/s", "memory": "KiB/conn"}[self.kind]


ASGI, WSGI = "asgi_app:app", "wsgi_app:app"
DJANGO_ASGI, DJANGO_WSGI = "django_app:asgi_application", "django_app:wsgi_application"
FASTAPI = "fastapi_app:app"
CLOSE = ("-H", "Connection: close")
POST = ("-s", str(HERE / "post.lua"))
WS_SERVERS = ("duoserve", "uvicorn", "hypercorn", "granian")

WORKLOADS = [
    Workload("asgi-hello", "ASGI hello world", "asgi", app=ASGI),
    Workload("wsgi-hello", "WSGI hello world", "wsgi", app=WSGI),
    Workload("asgi-json", "ASGI ~1 KB JSON response", "asgi", app=ASGI, path="/json"),
    Workload("wsgi-json", "WSGI ~1 KB JSON response", "wsgi", app=WSGI, path="/json", quick=False),
    Workload("asgi-stream", "ASGI 1 MiB streamed response", "asgi", app=ASGI, path="/stream"),
    Workload(
        "wsgi-stream", "WSGI 1 MiB streamed response", "wsgi", app=WSGI, path="/stream", quick=False
    ),
    Workload("asgi-post", "ASGI 1 KiB POST echoed", "asgi", app=ASGI, wrk_args=POST),
    Workload("wsgi-post", "WSGI 1 KiB POST echoed", "wsgi", app=WSGI, wrk_args=POST, quick=False),
    Workload(
        "asgi-close",
        "ASGI hello, `Connection: close` (a new connection per request)",
        "asgi",
        app=ASGI,
        wrk_args=CLOSE,
        quick=False,
    ),
    Workload(
        "wsgi-close",
        "WSGI hello, `Connection: close` (a new connection per request)",
        "wsgi",
        app=WSGI,
        wrk_args=CLOSE,
        quick=False,
    ),
    Workload(
        "asgi-hello-2w", "ASGI hello world, 2 workers", "asgi", app=ASGI, workers=2, quick=False
    ),
    Workload(
        "wsgi-hello-2w", "WSGI hello world, 2 workers", "wsgi", app=WSGI, workers=2, quick=False
    ),
    Workload("fastapi-hello", "FastAPI hello (async path operation, JSON)", "asgi", app=FASTAPI),
    Workload("django-asgi", "Django view through asgi.py", "asgi", app=DJANGO_ASGI, quick=False),
    Workload("django-wsgi", "Django view through wsgi.py", "wsgi", app=DJANGO_WSGI, quick=False),
    Workload(
        "ws-small",
        "WebSocket echo, 64-byte messages",
        "asgi",
        kind="ws",
        app=ASGI,
        size=64,
        servers=WS_SERVERS,
    ),
    Workload(
        "ws-64k",
        "WebSocket echo, 64 KiB messages",
        "asgi",
        kind="ws",
        app=ASGI,
        size=65536,
        servers=WS_SERVERS,
    ),
    Workload(
        "asgi-memory",
        "ASGI memory per idle keep-alive connection",
        "asgi",
        kind="memory",
        app=ASGI,
    ),
    Workload(
        "wsgi-memory",
        "WSGI memory per idle keep-alive connection",
        "wsgi",
        kind="memory",
        app=WSGI,
        quick=False,
    ),
]

_REQS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"99%\s+([\d.]+)(us|ms|s)\b")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def run_wrk(port: int, workload: Workload, duration: int, connections: int) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) of one wrk run; raises when wrk saw failures."""
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", *workload.wrk_args,
        f"http://127.0.0.1:{port}{workload.path}",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 60)
    out = done.stdout
    reqs, p99 = _REQS.search(out), _P99.search(out)
    if reqs is None or p99 is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    errors = _NON_2XX.search(out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} non-2xx responses")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(reqs.group(1)), float(p99.group(1)) * scale


def run_ws(port: int, workload: Workload, duration: int, connections: int) -> tuple[float, float]:
    """(messages/s, p99 round trip in ms) from the WebSocket echo client."""
    argv = [
        sys.executable, str(HERE / "wsload.py"), "--port", str(port), "--size", str(workload.size),
        "--connections", str(connections), "--duration", str(duration),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 60)
    result = json.loads(out.stdout)
    return float(result["rate"]), float(result["p99_ms"])
