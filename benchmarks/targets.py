"""The speed targets duoserve sets itself against its peers, checked against one run."""

from __future__ import annotations

from dataclasses import dataclass

from report import Row


@dataclass(frozen=True)
class Target:
    workload: str
    peer: str
    ratio: float  # duoserve/peer must reach this (memory, p99: must stay at or below it)
    measure: str = "value"  # "value", "memory" (KiB/conn, largest count) or "p99"
    ours: str = "duoserve"  # which duoserve configuration the target is for

    def describe(self) -> str:
        what = {"value": "throughput", "memory": "KiB per idle connection", "p99": "p99"}
        sign = "≥" if self.measure == "value" else "≤"
        return (
            f"`{self.workload}` {what[self.measure]}: {self.ours}/{self.peer} {sign} {self.ratio}"
        )


TARGETS = [
    # Issue 13 (the lean request path), 1 worker, duoserve with its defaults.
    Target("asgi-hello", "uvicorn", 1.5),
    Target("asgi-hello", "granian", 1.0),
    Target("asgi-json", "uvicorn", 1.3),
    Target("asgi-post", "uvicorn", 1.3),
    Target("asgi-close", "uvicorn", 1.3),
    Target("fastapi-hello", "uvicorn", 1.1),
    Target("ws-small", "uvicorn", 1.2),
    Target("ws-64k", "uvicorn", 1.0),
    Target("wsgi-hello", "uvicorn-wsgi", 1.5),
    Target("django-wsgi", "granian-wsgi", 1.0),
    Target("asgi-hello", "uvicorn", 1.0, "p99"),
    Target("asgi-memory", "uvicorn", 1.0, "memory"),
    Target("asgi-hello", "uvicorn-h11", 1.2, ours="duoserve-h11"),
    # Issue 8's, not raised since.
    Target("asgi-hello", "hypercorn", 2.0, ours="duoserve-h11"),
    Target("wsgi-hello", "gunicorn-sync", 2.0),
    Target("wsgi-hello", "waitress", 3.0),
]


def _number(row: Row, measure: str) -> float:
    if measure == "memory":
        return row.memory[max(row.memory)][0] if row.memory else 0.0
    return row.p99() if measure == "p99" else row.median()


def targets_markdown(results: dict[tuple[str, str], Row]) -> str:
    """A table of the targets this run can judge: the measured ratio and whether it is met."""
    lines = [
        "### Targets",
        "",
        "From issues 13 and 8 (1 worker); the ASGI and WSGI targets against uvicorn,",
        "uvicorn-wsgi and granian are meant for duoserve with its `speed` extra",
        "(httptools, uvloop).",
        "",
        "| target | measured | met |",
        "| --- | ---: | :---: |",
    ]
    for target in TARGETS:
        ours = results.get((target.workload, target.ours))
        theirs = results.get((target.workload, target.peer))
        if ours is None or theirs is None:
            continue
        a, b = _number(ours, target.measure), _number(theirs, target.measure)
        if not a or not b:
            continue
        ratio = a / b
        met = ratio >= target.ratio if target.measure == "value" else ratio <= target.ratio
        lines.append(f"| {target.describe()} | {ratio:.2f} | {'yes' if met else 'no'} |")
    return "\n".join(lines) if len(lines) > 8 else ""
