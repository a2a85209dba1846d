"""The benchmark script's plan and option checks, without starting any server or load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=30
    )


def test_list_shows_the_plan_for_the_chosen_servers() -> None:
    done = bench("--list", "--servers", "duoserve", "--workloads", "asgi-hello,wsgi-hello,ws-small")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[:3] == [
        "asgi-hello     duoserve",
        "wsgi-hello     duoserve",
        "ws-small       duoserve",
    ]


def test_unknown_names_are_refused() -> None:
    done = bench("--list", "--workloads", "asgi-hello,nonsense")
    assert done.returncode != 0
    assert "unknown workload or server: nonsense" in done.stderr


def test_instruction_counter_refuses_unknown_names() -> None:
    script = BENCH.with_name("instructions.py")
    done = subprocess.run(
        [sys.executable, str(script), "--loads", "asgi-hello,nonsense", "--servers", "duoserve"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "unknown load or server: nonsense" in done.stderr
