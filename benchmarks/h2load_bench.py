"""HTTP/2 side by side: h2load (nghttp2-client) against duoserve, hypercorn and granian over
h2c prior knowledge (`h2load -c 16 -m 32`), on the hello app. Servers not installed are
skipped. (The 1 MiB workload of issue 14 is not here yet.)

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def servers(bin_dir: Path, port: int) -> dict[str, list[str]]:
    app = "examples.hello:app"
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


def h2load(port: int, requests: int, path: str) -> str:
    out = subprocess.run(
        ["h2load", "-c", "16", "-m", "32", "-n", str(requests), f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rate = re.search(r"finished in .*?, ([\d.]+) req/s", out)
    done = re.search(r"(\d+) succeeded, (\d+) failed", out)
    return f"{rate.group(1) if rate else '?'} req/s ({done.group(0) if done else out[-200:]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--bin-dir", type=Path, default=Path(sys.executable).parent)
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load not found: apt-get install nghttp2-client")
    port = free_port()
    for name, argv in servers(args.bin_dir, port).items():
        if name != "duoserve" and not Path(argv[0]).exists():
            print(f"{name}: not installed in {args.bin_dir}, skipped")
            continue
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(port)
            print(f"{name:10} hello: {h2load(port, args.requests, '/')}")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
