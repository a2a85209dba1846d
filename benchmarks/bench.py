"""duoserve and its peers side by side on the same apps, interleaved round by round.

    python benchmarks/bench.py                  # every workload, every installed server
    python benchmarks/bench.py --quick          # fewer workloads, 1 round (about 2 minutes)
    python benchmarks/bench.py --workloads asgi-hello,ws-small --servers duoserve,uvicorn
    python benchmarks/bench.py --markdown docs/performance.md   # refresh the docs tables

Each round starts every server once per app (A B C A B C …) and runs that app's workloads
against it, so machine drift hits all servers alike; the report gives medians over rounds,
the spread between rounds, p99 latency and the ratio duoserve/x (above 1: duoserve is ahead;
for memory, below 1 is better). Load comes from `wrk` (HTTP) and benchmarks/wsload.py
(WebSocket). Peers are not duoserve dependencies; install them in a virtual environment of
their own (docs/performance.md): pip install -e . -r benchmarks/requirements.txt.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import memory
from report import Row, markdown, markdown_table, text_table, write_markdown
from servers import INSTALL_HINT, SERVERS, Server, serving
from targets import targets_markdown
from workloads import WORKLOADS, Workload, run_wrk, run_ws

Results = dict[tuple[str, str], Row]  # (workload, server) -> row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="workloads: "
        + ", ".join(w.name for w in WORKLOADS)
        + "; servers: "
        + ", ".join(dict.fromkeys(s.name for s in SERVERS)),
    )
    parser.add_argument("--workloads", default="", help="comma-separated names (default: all)")
    parser.add_argument("--servers", default="", help="comma-separated names (default: all)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: 3)")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default: 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default: 64)")
    parser.add_argument(
        "--ws-connections", type=int, default=16, help="WebSocket connections (default: 16)"
    )
    parser.add_argument("--idle", help="idle connection counts, memory (default: 1000,5000)")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, fewer workloads, 1,000 idle connections"
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or 2
    args.idle = args.idle or ("1000" if args.quick else "1000,5000")
    return args


def select(args: argparse.Namespace) -> list[tuple[Workload, list[Server]]]:
    """The workloads asked for, each with the installed servers that take part in it."""
    names = set(filter(None, args.workloads.split(",")))
    wanted = set(filter(None, args.servers.split(",")))
    unknown = names - {w.name for w in WORKLOADS} | wanted - {s.name for s in SERVERS}
    if unknown:
        raise SystemExit(f"unknown workload or server: {', '.join(sorted(unknown))}")
    for server in SERVERS:
        if server.missing() and (not wanted or server.name in wanted):
            print(
                f"skipping {server.name} ({server.interface}): {', '.join(server.missing())} "
                f"not installed; {INSTALL_HINT}",
                file=sys.stderr,
            )
    plan = []
    for workload in WORKLOADS:
        if (names and workload.name not in names) or (
            not names and args.quick and not workload.quick
        ):
            continue
        servers = [
            s
            for s in SERVERS
            if s.interface == workload.interface
            and not s.missing()
            and (not wanted or s.name in wanted)
            and (not workload.servers or s.name in workload.servers)
            and (workload.workers == 1 or s.multi_worker)
            and (workload.kind != "memory" or s.keeps_alive)
        ]
        if servers:
            plan.append((workload, servers))
    return plan


def measure_rounds(plan: list[tuple[Workload, list[Server]]], args: argparse.Namespace) -> Results:
    """Throughput workloads: per round, each server once per (app, workers), in turn."""
    results: Results = {}
    groups: dict[tuple[str, str, int], list[tuple[Workload, list[Server]]]] = {}
    for workload, servers in plan:
        if workload.kind != "memory":
            groups.setdefault((workload.interface, workload.app, workload.workers), []).append(
                (workload, servers)
            )
    for round_no in range(1, args.rounds + 1):
        for (_, app, workers), members in groups.items():
            order = list(dict.fromkeys(s for _, servers in members for s in servers))
            for server in order:
                mine = [w for w, servers in members if server in servers]
                run_server(server, app, workers, mine, args, results, round_no)
    return results


def run_server(
    server: Server,
    app: str,
    workers: int,
    workloads: list[Workload],
    args: argparse.Namespace,
    results: Results,
    round_no: int,
) -> None:
    rows = [results.setdefault((w.name, server.name), Row(server.name)) for w in workloads]
    try:
        with serving(server, app, workers) as (port, pid):
            run_wrk(port, workloads[0], 1, args.connections)  # warm-up
            for workload, row in zip(workloads, rows, strict=True):
                load: Callable[..., tuple[float, float]] = run_wrk
                connections = args.connections
                if workload.kind == "ws":
                    load, connections = run_ws, args.ws_connections
                try:
                    cpu_before = memory.tree_cpu(pid)
                    row.runs.append(load(port, workload, args.duration, connections))
                    spent = memory.tree_cpu(pid) - cpu_before
                    done = row.runs[-1][0] * args.duration
                    row.cpu.append(spent / done * 1e6 if done else 0.0)
                except Exception as exc:  # one failed measurement must not end the run
                    row.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    print(f"round {round_no}: {workload.name:14} {server.name:17} {row.error}")
                    continue
                value, p99 = row.runs[-1]
                print(
                    f"round {round_no}: {workload.name:14} {server.name:17} "
                    f"{value:10,.0f} {workload.unit:6}  p99 {p99:8.2f} ms  "
                    f"CPU {row.cpu[-1]:7.1f} µs",
                    flush=True,
                )
    except Exception as exc:
        for row in rows:
            row.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"round {round_no}: {server.name} on {app} failed: {rows[0].error}", flush=True)


def measure_memory(plan: list[tuple[Workload, list[Server]]], args: argparse.Namespace) -> Results:
    """RSS per idle keep-alive connection: one fresh server each, growing to each count."""
    counts = [int(c) for c in args.idle.split(",")]
    results: Results = {}
    for workload, servers in plan:
        if workload.kind != "memory":
            continue
        memory.raise_fd_limit(max(counts) + 1024)
        for server in servers:
            row = results.setdefault((workload.name, server.name), Row(server.name))
            try:
                with serving(server, workload.app, extra=server.idle_args) as (port, pid):
                    memory.measure(port, pid, counts, row.memory)
            except Exception as exc:
                row.error = (str(exc) or type(exc).__name__).splitlines()[0]
            shown = ", ".join(
                f"{kib:.1f} KiB/conn at {n:,} ({alive:,} open)"
                for n, (kib, alive) in row.memory.items()
            )
            print(f"memory: {workload.name:14} {server.name:17} {shown} {row.error}", flush=True)
    return results


def note(workload: Workload, args: argparse.Namespace) -> str:
    if workload.kind == "memory":
        return "RSS of the server's processes with idle keep-alive connections, minus baseline"
    rounds = f"median of {args.rounds} interleaved rounds"
    if workload.kind == "ws":
        return f"{args.ws_connections} connections, one message in flight each, {rounds}"
    return f"wrk -t1 -c{args.connections} -d{args.duration}s, {rounds}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = select(args)
    if args.list:
        for workload, servers in plan:
            print(f"{workload.name:14} {', '.join(s.name for s in servers)}")
        return 0
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk (https://github.com/wg/wrk)", file=sys.stderr)
        return 2
    # SIGTERM (timeout, CI) unwinds like CTRL+C, so the servers started so far are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    results = measure_rounds(plan, args)
    results.update(measure_memory(plan, args))
    blocks, tables = [], []
    for workload, servers in plan:
        rows = [
            results[(workload.name, s.name)] for s in servers if (workload.name, s.name) in results
        ]
        tables.append(text_table(workload, rows, note(workload, args)))
        blocks.append(markdown_table(workload, rows, note(workload, args)))
    goals = targets_markdown(results)
    if goals:
        blocks.insert(0, goals)
        tables.append(goals)
    print("\n" + "\n\n".join(tables))
    print(f"\n{time.monotonic() - started:.0f} s in all")
    if args.markdown:
        command = "python benchmarks/bench.py " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        used = list(dict.fromkeys(s for _, servers in plan for s in servers))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_markdown(args.markdown, markdown(blocks, command.strip(), used, when))
        print(f"tables written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
