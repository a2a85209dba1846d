"""Results: medians, ratios to duoserve, the machine and versions, as text or Markdown."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from servers import Server
from workloads import Workload

BEGIN = "<!-- BEGIN benchmarks/bench.py output: regenerate, do not edit by hand -->"
END = "<!-- END benchmarks/bench.py output -->"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One server's runs of one workload: (value, p99 ms) and the server's CPU microseconds
    per request or message, per round; or the failure."""

    server: str
    runs: list[tuple[float, float]] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    memory: dict[int, tuple[float, int]] = field(default_factory=dict)
    error: str = ""

    def median(self) -> float:
        return statistics.median(v for v, _ in self.runs) if self.runs else 0.0

    def p99(self) -> float:
        return statistics.median(p for _, p in self.runs) if self.runs else 0.0

    def cpu_per_op(self) -> float:
        return statistics.median(self.cpu) if self.cpu else 0.0

    def spread(self) -> str:
        """Half the min-max range over the median: how much the rounds disagreed."""
        if len(self.runs) < 2 or not self.median():
            return "-"
        values = [v for v, _ in self.runs]
        return f"±{(max(values) - min(values)) / 2 / self.median() * 100:.0f}%"


def _ratio(base: float, value: float) -> str:
    return f"{base / value:.2f}" if base and value else "-"


def table(workload: Workload, rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one workload's table."""
    base = next((r for r in rows if r.server == "duoserve" and not r.error), None)
    if workload.kind == "memory":
        counts = sorted({c for r in rows for c in r.memory})
        header = ["server"]
        for count in counts:
            header += [f"KiB/conn at {count:,}", f"open at {count:,}"]
        header.append("duoserve/x")
        cells = []
        for row in rows:
            line = [row.server]
            for count in counts:
                kib, alive = row.memory.get(count, (0.0, 0))
                reached = count in row.memory
                line += [f"{kib:.1f}" if reached else "-", f"{alive:,}" if reached else "-"]
            last = counts[-1] if counts else 0
            if row.error or last not in row.memory:
                line.append(f"failed: {row.error[:80]}")
            else:
                theirs = base.memory.get(last, (0.0, 0))[0] if base else 0.0
                line.append(_ratio(theirs, row.memory[last][0]))
            cells.append(line)
        return header, cells
    unit = {"req/s": "req", "msgs/s": "msg"}.get(workload.unit, workload.unit)
    header = ["server", workload.unit, "spread", "p99 ms", f"CPU µs/{unit}", "duoserve/x"]
    header.append("CPU duoserve/x")  # below 1: duoserve spends less per request
    cells = []
    for row in rows:
        if row.error and not row.runs:
            cells.append([row.server, "-", "-", "-", "-", f"failed: {row.error[:60]}", "-"])
            continue
        ratio = _ratio(base.median(), row.median()) if base else "-"
        cpu = f"{row.cpu_per_op():,.1f}" if row.cpu else "-"
        cpu_ratio = _ratio(base.cpu_per_op(), row.cpu_per_op()) if base else "-"
        median, p99 = f"{row.median():,.0f}", f"{row.p99():.2f}"
        cells.append([row.server, median, row.spread(), p99, cpu, ratio, cpu_ratio])
    return header, cells


def text_table(workload: Workload, rows: list[Row], note: str) -> str:
    header, cells = table(workload, rows)
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    lines = [f"{workload.title} [{workload.name}] ({note})"]
    for line in [header, *cells]:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(padded))
    return "\n".join(lines)


def markdown_table(workload: Workload, rows: list[Row], note: str) -> str:
    header, cells = table(workload, rows)
    lines = [f"### {workload.title}", "", f"`{workload.name}`: {note}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| --- |" + " ---: |" * (len(header) - 1))
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    return "\n".join(lines)


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _commit() -> str:
    commit = _run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD") or "?"
    if _run("git", "-C", str(ROOT), "status", "--porcelain", "--", "src"):
        commit += " with local changes in src/"
    return commit


def machine() -> list[tuple[str, str]]:
    cpu = ""
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk = _run("wrk", "-v").splitlines()[0:1] if shutil.which("wrk") else []
    return [
        ("CPU", cpu or platform.processor() or "?"),
        ("cores", str(os.cpu_count())),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("load average at the end", " ".join(f"{x:.1f}" for x in os.getloadavg())),
        ("wrk", " ".join(wrk[0].split()[:2]) if wrk else "not installed"),
        ("duoserve commit", _commit()),
    ]


def versions(servers: Iterable[Server]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for server in servers:
        seen.setdefault(server.package, server.version())
    for extra in ("httptools", "uvloop", "h11", "wsproto", "anyio", "django", "fastapi"):
        with contextlib.suppress(PackageNotFoundError):
            seen.setdefault(extra, version(extra))
    return sorted(seen.items())


def markdown(blocks: list[str], command: str, servers: list[Server], when: str) -> str:
    lines = [BEGIN, "", f"Measured {when} with:", "", "```sh", command, "```", ""]
    lines += ["| machine | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in machine()]
    lines += ["", "| package | version |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in versions(servers)]
    lines += ["", *("\n\n".join(blocks).splitlines()), "", END]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, text: str) -> None:
    """Replace the marked block of `path` (the rest of the page is kept), or write it afresh."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + text + ("\n" + tail if tail else "")
    path.write_text(text)
