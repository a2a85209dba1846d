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


def test_bytecode_profile_counts_duoserve_functions() -> None:
    """bytecodes.py runs a real traced server: the total per request, then the functions
    that executed the most, duoserve's own among them."""
    script = BENCH.with_name("bytecodes.py")
    args = ["--servers", "duoserve", "--loads", "asgi-hello", "--requests", "20", "--top", "10"]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, *functions = done.stdout.strip().split("\n")
    name, server, total, unit = first.split()
    assert (name, server, unit) == ("asgi-hello", "duoserve", "bytecodes/req")
    assert int(total.replace(",", "")) > 300
    assert len(functions) == 10
    assert any("src/duoserve/" in line for line in functions)
