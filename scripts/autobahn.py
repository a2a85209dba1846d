"""Run the Autobahn|Testsuite fuzzing client against duoserve serving an echo app.

Usage: .venv/bin/python scripts/autobahn.py [--cases 1.*,2.*] [--backend asyncio|trio]

The suite runs on Python 2.7 (~/.pyenv/versions/2.7.18/bin/python); on first use it is
installed into a virtualenv under /tmp (`--setup` forces that). Cases 1-7 and 9-13 run by
default (8 does not exist; 9 is performance, 12-13 compression). Exits non-zero when any
case FAILED; NON-STRICT, INFORMATIONAL and UNIMPLEMENTED are reported but accepted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

from duoserve import Config, Server

PYTHON27 = Path.home() / ".pyenv/versions/2.7.18/bin/python"
VENV = Path("/tmp/autobahn-venv")
VIRTUALENV = Path("/tmp/py27-virtualenv")  # virtualenv itself, installed for Python 2.7
WSTEST = VENV / "bin/wstest"
DEFAULT_CASES = [f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13)]


async def echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "bytes": message["bytes"], "text": message["text"]})


def setup() -> None:
    """Python 2.7 virtualenv with autobahntestsuite, under /tmp."""
    if not PYTHON27.exists():
        sys.exit(f"Python 2.7 not found at {PYTHON27}")
    run = [str(PYTHON27), "-m", "pip", "install", "-q", "--target", str(VIRTUALENV)]
    subprocess.run([*run, "virtualenv<20.22"], check=True)
    env = {"PYTHONPATH": str(VIRTUALENV)}
    subprocess.run([str(PYTHON27), "-m", "virtualenv", "-q", str(VENV)], check=True, env=env)
    subprocess.run([str(VENV / "bin/pip"), "install", "-q", "autobahntestsuite"], check=True)


async def run_suite(cases: list[str], outdir: Path) -> None:
    config = Config(
        app="autobahn",
        host="127.0.0.1",
        port=0,
        lifespan="off",
        access_log=False,
        ws_ping_interval=0,  # unsolicited pings are legal but make the reports noisy
        ws_max_size=32 * 1024 * 1024,  # case 9 sends 16 MiB messages
    )
    server = Server(config, echo)
    async with anyio.create_task_group() as tg:
        addresses: list[str] = await tg.start(server.serve)
        url = addresses[0].replace("http://", "ws://")
        spec = {
            "outdir": str(outdir),
            "servers": [{"agent": "duoserve", "url": url}],
            "cases": cases,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        spec_file = outdir / "fuzzingclient.json"
        spec_file.write_text(json.dumps(spec))
        print(f"running cases {', '.join(cases)} against {url}", flush=True)
        await anyio.run_process(
            [str(WSTEST), "-m", "fuzzingclient", "-s", str(spec_file)],
            stdout=None,
            stderr=None,
            cwd=str(outdir),
        )
        server.shutdown()


def summarize(outdir: Path) -> int:
    """Print counts per behaviour and every failed case; the number of failures."""
    report = json.loads((outdir / "index.json").read_text())["duoserve"]
    counts: Counter[str] = Counter()
    failed = []
    for case, result in sorted(report.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        behaviours = {result["behavior"], result["behaviorClose"]}
        worst = "FAILED" if "FAILED" in behaviours else result["behavior"]
        counts[worst] += 1
        if worst == "FAILED":
            failed.append(f"  {case}: {result['behavior']} / close {result['behaviorClose']}")
    print(", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    if failed:
        print("FAILED cases:", *failed, sep="\n")
    print(f"report: {outdir / 'index.html'}")
    return len(failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--setup", action="store_true", help="(re)install the suite first")
    parser.add_argument("--outdir", type=Path, default=None)
    args = parser.parse_args()
    if args.setup or not WSTEST.exists():
        setup()
    outdir = args.outdir or Path(tempfile.mkdtemp(prefix="autobahn-"))
    outdir.mkdir(parents=True, exist_ok=True)
    anyio.run(run_suite, args.cases.split(","), outdir, backend=args.backend)
    sys.exit(1 if summarize(outdir) else 0)


if __name__ == "__main__":
    main()
