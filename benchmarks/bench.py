"""Side-by-side throughput of duoserve and its peers, interleaved round by round.

    python benchmarks/bench.py                      # hello world, every server found
    python benchmarks/bench.py --rounds 5 --duration 5 --servers duoserve,uvicorn-h11

Each round runs every server once (A B C A B C …) so machine drift hits all alike; the
report gives the median requests/s and p99 latency per server and the ratio to duoserve.
Needs `wrk` (Debian: apt-get install wrk). Peers are used when importable: uvicorn,
hypercorn (pip install uvicorn hypercorn). Never run in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "benchmarks" / "apps"


@dataclass(frozen=True)
class Peer:
    name: str
    module: str  # importable module that must exist for this peer
    argv: tuple[str, ...]  # {port} and {app} are filled in


ASGI_PEERS = [
    Peer(
        "duoserve",
        "duoserve",
        (
            "-m",
            "duoserve",
            "{app}",
            "--port",
            "{port}",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
    ),
    Peer(
        "uvicorn-h11",
        "uvicorn",
        (
            "-m",
            "uvicorn",
            "{app}",
            "--port",
            "{port}",
            "--http",
            "h11",
            "--loop",
            "asyncio",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
    ),
    Peer(
        "uvicorn",
        "uvicorn",
        ("-m", "uvicorn", "{app}", "--port", "{port}", "--no-access-log", "--log-level", "warning"),
    ),
    Peer(
        "hypercorn",
        "hypercorn",
        ("-m", "hypercorn", "{app}", "--bind", "127.0.0.1:{port}", "--log-level", "warning"),
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


@contextlib.contextmanager
def serving(peer: Peer, app: str) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, *(a.format(port=port, app=app) for a in peer.argv)]
    env = dict(os.environ, PYTHONPATH=str(APPS))
    proc = subprocess.Popen(
        argv, cwd=APPS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_REQS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"99%\s+([\d.]+)(us|ms|s)")


def run_wrk(port: int, duration: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    reqs = _REQS.search(out)
    p99 = _P99.search(out)
    if reqs is None or p99 is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(reqs.group(1)), float(p99.group(1)) * scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="", help="comma-separated subset")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    wanted = set(filter(None, args.servers.split(",")))
    peers = [p for p in ASGI_PEERS if find_spec(p.module) and (not wanted or p.name in wanted)]
    results: dict[str, list[tuple[float, float]]] = {p.name: [] for p in peers}
    for round_no in range(1, args.rounds + 1):
        for peer in peers:
            with serving(peer, "hello:app") as port:
                run_wrk(port, 1, args.connections)  # warm-up
                results[peer.name].append(run_wrk(port, args.duration, args.connections))
            rps, p99 = results[peer.name][-1]
            print(
                f"round {round_no}: {peer.name:12} {rps:10.0f} req/s  p99 {p99:7.2f} ms", flush=True
            )
    base = statistics.median(r for r, _ in results["duoserve"]) if "duoserve" in results else 0
    print(
        f"\nhello world, wrk -t1 -c{args.connections} -d{args.duration}s, "
        f"{args.rounds} interleaved rounds, medians:"
    )
    print(f"{'server':12} {'req/s':>10} {'p99 ms':>8} {'duoserve/x':>11}")
    for name, runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        p99 = statistics.median(p for _, p in runs)
        ratio = f"{base / rps:.2f}" if base and rps else "-"
        print(f"{name:12} {rps:10.0f} {p99:8.2f} {ratio:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
