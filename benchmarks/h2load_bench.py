"""HTTP/2 side by side: h2load (nghttp2-client) against duoserve, hypercorn and granian.

Over h2c prior knowledge (`h2load -c 16 -m 32`), on the benchmark app's hello (`/`) and
its 1 MiB streamed response (`/stream`, 16 parts of 64 KiB), servers interleaved per
workload for `--rounds` rounds, each server's median req/s and CPU time per request (its
processes' user + system time over the run: steadier than req/s on a shared machine),
with duoserve's ratio to each peer. Servers not installed are skipped.

    python benchmarks/h2load_bench.py [--requests N] [--rounds N] [--bin-dir DIR]
        [--baseline SRC]

`--bin-dir` holds the peers' executables (a separate virtual environment, as bench.py
uses); duoserve is the one running this script's interpreter. `--baseline` is another
duoserve source tree (its `src/` folder, e.g. from `git archive`), run beside it as
"duoserve-before" by the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "benchmarks" / "apps"
# name -> (path, share of --requests): 1 MiB each, so fewer of them
WORKLOADS = {"hello": ("/", 1.0), "1 MiB stream": ("/stream", 0.025)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def servers(bin_dir: Path, port: int, baseline: Path | None) -> dict[str, list[str]]:
    app = "asgi_app:app"  # run from benchmarks/apps
    duoserve = [
        sys.executable,
        "-m",
        "duoserve",
        app,
        "--port",
        str(port),
        "--http2",
        "on",
        "--no-access-log",
    ]
    found = {"duoserve": duoserve, **({"duoserve-before": duoserve} if baseline else {})}
    return found | {
        "hypercorn": [str(bin_dir / "hypercorn"), app, "-b", f"127.0.0.1:{port}"],
        "granian": [
            str(bin_dir / "granian"),
            "--interface",
            "asgi",
            "--http",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            app,
        ],
    }


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(stat[11]) + int(stat[12])) / tick
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo += [int(child) for child in children.split()]
        except OSError:
            continue
    return total


def h2load(port: int, requests: int, path: str) -> tuple[float, str]:
    """(req/s, the succeeded/failed line) of one h2load run."""
    out = subprocess.run(
        ["h2load", "-c", "16", "-m", "32", "-n", str(requests), f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rate = re.search(r"finished in .*?, ([\d.]+) req/s", out)
    done = re.search(r"(\d+) succeeded, (\d+) failed", out)
    return (float(rate.group(1)) if rate else 0.0), (done.group(0) if done else out[-200:])


def run_one(
    argv: list[str], env: dict[str, str], port: int, requests: int, path: str
) -> tuple[float, float, str]:
    """(req/s, µs of server CPU per request, the succeeded/failed line) of one server run."""
    proc = subprocess.Popen(
        argv, cwd=APPS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port)
        time.sleep(0.3)  # past the workers' start-up
        before = cpu_seconds(proc.pid)
        rate, done = h2load(port, requests, path)
        cpu = (cpu_seconds(proc.pid) - before) * 1e6 / requests
        return rate, cpu, done
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--bin-dir", type=Path, default=Path(sys.executable).parent)
    parser.add_argument("--baseline", type=Path, help="another duoserve src/ to run beside")
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load not found: apt-get install nghttp2-client")
    bin_dir = args.bin_dir.resolve()
    port = free_port()
    for workload, (path, share) in WORKLOADS.items():
        requests = max(100, int(args.requests * share))
        rates: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, argv in servers(bin_dir, port, args.baseline).items():
                if not name.startswith("duoserve") and not Path(argv[0]).exists():
                    print(f"{name}: not installed in {bin_dir}, skipped")
                    continue
                env = dict(os.environ)
                if name == "duoserve-before":
                    env["PYTHONPATH"] = str(args.baseline.resolve())
                rate, cpu, done = run_one(argv, env, port, requests, path)
                rates.setdefault(name, []).append(rate)
                cpus.setdefault(name, []).append(cpu)
                print(f"{workload:13} {name:16} {rate:10,.0f} req/s {cpu:8,.0f} us CPU/req  {done}")
        medians = {name: statistics.median(found) for name, found in rates.items()}
        for name, rate in medians.items():
            cpu = statistics.median(cpus[name])
            print(f"{workload:13} median {name:16} {rate:10,.0f} req/s {cpu:8,.0f} us CPU/req")
        mine = medians.get("duoserve", 0.0)
        for name, rate in medians.items():
            if name != "duoserve" and rate:
                print(f"{workload:13} duoserve/{name}: {mine / rate:.2f}")


if __name__ == "__main__":
    main()
