"""The package layout stays as issue 16 left it: small modules, each opening with a one-line
summary of its responsibility, and tests that use only the public names of other layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "duoserve"
TESTS = ROOT / "tests"
MAX_LINES = 420  # "about 400 lines a module at most" (DESIGN.md)
MAX_SUMMARY = 100  # ruff's line length: the summary line, quotes included

# One table is the single source of truth for every setting (its order is the CLI's and the
# settings reference's); everything around it lives in declare.py, checks.py and registry.py.
TOO_LONG_BY_DESIGN = {"config/settings.py"}
# Modules still to be split or given a one-line summary (none left). Each entry must
# still need it, so the lists only shrink.
TOO_LONG_PENDING: set[str] = set()
SUMMARY_PENDING: set[str] = set()

MODULES = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py"))


def summary_problem(source: str) -> str | None:
    """What is wrong with a module's opening docstring, or None when its first line is a
    whole summary (the docstring ends there, or a blank line follows) that fits the width."""
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=False)
    if doc is None:
        return "no module docstring"
    lines = doc.split("\n")
    if len(lines) > 1 and lines[1].strip():
        return "its first line wraps: a one-line summary, then a blank line"
    opening = source.splitlines()[tree.body[0].lineno - 1]
    if len(opening) > MAX_SUMMARY:
        return f"its summary line is {len(opening)} columns (at most {MAX_SUMMARY})"
    return None


@pytest.mark.parametrize("module", MODULES)
def test_module_opens_with_a_one_line_summary(module: str) -> None:
    problem = summary_problem((SRC / module).read_text())
    if module in SUMMARY_PENDING:
        assert problem is not None, f"{module} is fine now: take it off SUMMARY_PENDING"
    else:
        assert problem is None, f"{module}: {problem}"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_small(module: str) -> None:
    if module in TOO_LONG_BY_DESIGN:
        return
    lines = len((SRC / module).read_text().splitlines())
    if module in TOO_LONG_PENDING:
        assert lines > MAX_LINES, f"{module} is {lines} lines now: take it off TOO_LONG_PENDING"
    else:
        assert lines <= MAX_LINES, f"{module} is {lines} lines; split it by responsibility"


def test_summary_problems_are_found() -> None:
    assert summary_problem('"""One line."""\n') is None
    assert summary_problem('"""One line.\n\nMore."""\n') is None
    assert summary_problem('"""One line that\nwraps."""\n') is not None
    assert summary_problem("x = 1\n") == "no module docstring"
    assert summary_problem('"""' + "x" * 98 + '"""\n') is not None


def private_imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every private duoserve name or module the test imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "duoserve":
            assert node.module is not None
            found += [
                (node.lineno, f"{node.module}.{a.name}")
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
            if any(part.startswith("_") for part in node.module.split(".")[1:]):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.split(".")[0] == "duoserve"
                and any(part.startswith("_") for part in a.name.split(".")[1:])
            ]
    return found


def layer_of_test(path: Path) -> str | None:
    """The layer a unit test belongs to (tests/unit/<layer>/...), None for any other test."""
    parts = path.relative_to(TESTS).parts
    return parts[1] if len(parts) > 2 and parts[0] == "unit" else None


def test_no_test_imports_a_private_name_across_layers() -> None:
    crossings = []
    for path in sorted(TESTS.rglob("*.py")):
        layer = layer_of_test(path)
        for line, name in private_imports(path):
            if layer is None or name.split(".")[1] != layer:
                crossings.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not crossings, "test through the public interface instead:\n" + "\n".join(crossings)


def test_unit_tests_mirror_the_layers() -> None:
    layers = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    folders = {p.name for p in (TESTS / "unit").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= layers, f"tests/unit/ folders that are no layer: {sorted(folders - layers)}"
    loose = sorted(p.name for p in (TESTS / "unit").glob("test_*.py"))
    # At the top only what is not in a layer: the CLI (an entry point) and this file.
    assert loose == ["test_cli.py", "test_layout.py"], loose
