"""The command line is generated from Config: every setting has its flag."""

from __future__ import annotations

import subprocess
import sys

import pytest

from duoserve.cli import build_parser, parse_config
from duoserve.config.declare import flag_name
from duoserve.config.settings import fields


def test_help_lists_every_setting() -> None:
    text = build_parser().format_help()
    for f in fields():
        if not f.metadata["duoserve"].positional:
            assert flag_name(f) in text, f.name


def test_only_explicit_flags_override_env() -> None:
    config, options = parse_config(["app:x", "--port", "1"], {"DUOSERVE_BACKLOG": "9"})
    assert (config.app, config.port, config.backlog) == ("app:x", 1, 9)
    assert not options.check


def test_bool_flags_and_repeated_bind() -> None:
    config, _ = parse_config(
        ["a:b", "--no-access-log", "--bind", "127.0.0.1:1", "--bind", "unix:/tmp/s"], {}
    )
    assert config.access_log is False
    assert config.bind == ("127.0.0.1:1", "unix:/tmp/s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a:b", "--port", "x"], "--port"),
        (["a:b", "--lifespan", "maybe"], "lifespan"),
        (["a:b", "--no-such-flag"], "unrecognized"),
        ([], "no app given"),
        (["a:b", "--config", "/nonexistent.toml"], "does not exist"),
    ],
)
def test_errors_are_one_line_with_status_1(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "duoserve", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("duoserve: error:") and message in lines[0]


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "duoserve", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == "duoserve 0.1.0"
