"""HTTP/2 side by side: h2load (nghttp2-client) against duoserve, hypercorn and granian.

Over h2c prior knowledge (`h2load -c 16 -m 32`), on the benchmark app's hello (`/`) and
its 1 MiB streamed response (`/stream`, 16 parts of 64 KiB), servers interleaved per
workload, with duoserve's ratio to each peer. Servers not installed are skipped.

    python benchmarks/h2load_bench.py [--requests N] [--bin-dir DIR]

`--bin-dir` holds the peers' executables (a separate virtual environment, as bench.py
uses); duoserve is the one running this script's interpreter.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
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


def servers(bin_dir: Path, port: int) -> dict[str, list[str]]:
    app = "asgi_app:app"  # run from benchmarks/apps
    return {
        "duoserve": [
            sys.executable,
            "-m",
            "duoserve",
            app,
            "--port",
            str(port),
            "--http2",
            "on",
            "--no-access-log",
        ],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--bin-dir", type=Path, default=Path(sys.executable).parent)
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load not found: apt-get install nghttp2-client")
    port = free_port()
    for workload, (path, share) in WORKLOADS.items():
        rates: dict[str, float] = {}
        for name, argv in servers(args.bin_dir, port).items():
            if name != "duoserve" and not Path(argv[0]).exists():
                print(f"{name}: not installed in {args.bin_dir}, skipped")
                continue
            proc = subprocess.Popen(
                argv, cwd=APPS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                wait_listening(port)
                rate, done = h2load(port, max(100, int(args.requests * share)), path)
                rates[name] = rate
                print(f"{workload:13} {name:10} {rate:10,.0f} req/s  {done}", flush=True)
            finally:
                proc.terminate()
                proc.wait(10)
        mine = rates.get("duoserve", 0.0)
        for name, rate in rates.items():
            if name != "duoserve" and rate:
                print(f"{workload:13} duoserve/{name}: {mine / rate:.2f}")


if __name__ == "__main__":
    main()
