"""Python bytecodes a server executes per request or message, and in which functions.

    python benchmarks/bytecodes.py                                   # duoserve and uvicorn
    python benchmarks/bytecodes.py --servers duoserve --loads ws-small --top 30
    python benchmarks/bytecodes.py --servers duoserve --loads asgi-hello --lines send,_start

A profile that does not depend on timing: each server runs in a process that counts every
bytecode its threads execute (`sys.settrace` with opcode events), per function. The same
sequential client as `instructions.py` serves a few requests to warm up, the counts are
reset, then `--requests` more are served and the counts read. Tracing makes the server
very slow, so the counts are small; the totals repeat exactly run to run. Bytecodes are
not instructions (one may cost a few or a few thousand), but they show where the Python
is: use `instructions.py` for the cost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import runpy
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from instructions import LOADS, REQUESTS, _close, _h2, _http, _ws, _ws_connect, plan
from servers import SERVERS, Server, serving

DEFAULT_SERVERS = "duoserve,uvicorn,uvicorn-wsgi"
WARM_UP = 20


def _traced(control: Path, argv: list[str]) -> None:
    """In the server's process: run `python -m module args` from argv with every bytecode
    counted. Files dropped into `control` steer it: `reset` clears the counts, `dump`
    writes them to control/counts.json."""
    counts: collections.Counter[tuple[str, int, str, int]] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[(code.co_filename, code.co_firstlineno, code.co_name, frame.f_lineno)] += 1
        return tracer

    def watch() -> None:  # not traced: threading.settrace only reaches threads started later
        while True:
            time.sleep(0.05)
            if (control / "reset").exists():
                counts.clear()
                (control / "reset").unlink()
            if (control / "dump").exists():
                snapshot = dict(counts)
                rows = [[f, line, name, at, n] for (f, line, name, at), n in snapshot.items()]
                (control / "counts.json").write_text(json.dumps(rows))
                (control / "dump").unlink()

    threading.Thread(target=watch, daemon=True).start()
    if argv[:1] != ["-m"]:
        raise SystemExit("expected: python -m module args")
    sys.argv = [argv[1], *argv[2:]]
    threading.settrace(tracer)
    sys.settrace(tracer)
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


def _signal(control: Path, name: str, patience: float = 60) -> None:
    """Drop a control file and wait until the traced process has taken it."""
    (control / name).touch()
    deadline = time.monotonic() + patience
    while (control / name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the traced server did not take {name!r}")
        time.sleep(0.05)


def _drive(port: int, unit: str, count: int, socks: list[socket.socket]) -> None:
    if unit == "conn":
        _close(port, count)
    elif unit == "h2":
        _h2(port, count)
    elif unit == "msg":
        _ws(socks, count)
    else:
        _http(socks, count, REQUESTS[unit])


def profile(
    server: Server, load: str, requests: int, lines: frozenset[str] = frozenset()
) -> collections.Counter[str]:
    """Bytecodes per function (as 'file:line name') while `server` serves `requests`;
    per source line ('file:line name @line') for the functions named in `lines`."""
    _, app, unit = LOADS[load]
    extra = ("--single-process",) if server.name.startswith("duoserve") else ()
    with tempfile.TemporaryDirectory() as tmp:
        control = Path(tmp)
        wrapper = (sys.executable, str(Path(__file__).resolve()), "--traced", tmp, "--")
        with serving(server, app, extra=extra, wrapper=wrapper, patience=60) as (port, _):
            socks: list[socket.socket] = []
            if unit == "msg":
                socks = [_ws_connect(port)]
            elif unit in REQUESTS:
                socks = [socket.create_connection(("127.0.0.1", port))]
            _drive(port, unit, WARM_UP, socks)
            _signal(control, "reset")
            _drive(port, unit, requests, socks)
            _signal(control, "dump")
            for sock in socks:
                sock.close()
            rows = json.loads((control / "counts.json").read_text())
    site = os.path.dirname(os.path.dirname(os.__file__))
    counts: collections.Counter[str] = collections.Counter()
    for filename, line, name, at, n in rows:
        short = filename.replace(str(Path.cwd()) + "/", "").replace(site + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        counts[f"{short}:{line} {name}" + (f" @{at}" if name in lines else "")] += n
    return counts


def _by_line(where: str) -> tuple[str, int]:
    """Sort key for 'file:line name @line' rows: by function, then by source line."""
    head, _, at = where.rpartition(" @")
    return head, int(at) if at.isdigit() else 0


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--traced"]:  # the server side, started by profile()
        _traced(Path(args_in[1]), args_in[4:])  # skip "--" and the interpreter path
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help="comma-separated names")
    parser.add_argument("--loads", default="asgi-hello,wsgi-hello,ws-small,asgi-close")
    parser.add_argument("--requests", type=int, default=100, help="counted requests")
    parser.add_argument("--top", type=int, default=15, help="functions listed per server")
    parser.add_argument(
        "--lines", default="", help="comma-separated function names to count per source line"
    )
    args = parser.parse_args(args_in)
    loads = args.loads.split(",")
    wanted = args.servers.split(",")
    unknown = set(loads) - set(LOADS) | set(wanted) - {s.name for s in SERVERS}
    if unknown:
        raise SystemExit(f"unknown load or server: {', '.join(sorted(unknown))}")
    for load, server, unit in plan(loads, wanted):
        lines = frozenset(filter(None, args.lines.split(",")))
        counts = profile(server, load, args.requests, lines)
        total = sum(counts.values()) / args.requests
        print(f"{load:11} {server.name:14} {total:8,.0f} bytecodes/{unit}", flush=True)
        for where, n in counts.most_common(args.top):
            print(f"    {n / args.requests:8,.1f}  {where}")
        if lines:
            for where, n in sorted(counts.items(), key=lambda item: _by_line(item[0])):
                if "@" in where:
                    print(f"    {n / args.requests:8,.1f}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
