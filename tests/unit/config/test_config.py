"""Settings: one declaration, typed parsing, and the precedence of their sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from duoserve.config.declare import flag_name
from duoserve.config.registry import env_name
from duoserve.config.settings import Config, fields
from duoserve.config.sources import from_sources, parse_value
from duoserve.errors import ConfigError


def field(name: str):  # type: ignore[no-untyped-def]
    return next(f for f in fields() if f.name == name)


def test_every_setting_has_help_flag_and_env() -> None:
    for f in fields():
        assert f.metadata["duoserve"].help
        assert flag_name(f).startswith("--")
        assert env_name(f) == "DUOSERVE_" + f.name.upper()


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("port", "8080", 8080),
        ("timeout_keep_alive", "2.5", 2.5),
        ("access_log", "off", False),
        ("access_log", "YES", True),
        ("interface", "WSGI", "wsgi"),
        ("bind", "127.0.0.1:1, unix:/tmp/x", ("127.0.0.1:1", "unix:/tmp/x")),
        ("bind", ["a:1", "b:2"], ("a:1", "b:2")),
    ],
)
def test_parse_value(name: str, raw: object, expected: object) -> None:
    assert parse_value(field(name), raw, "test") == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("port", "eighty", "whole number"),
        ("port", "-1", "negative"),
        ("timeout_io", "nan", "number"),
        ("access_log", "maybe", "true or false"),
        ("lifespan", "sometimes", "one of auto, on, off"),
        ("port", True, "number"),
    ],
)
def test_parse_value_errors(name: str, raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_value(field(name), raw, "test")


def test_negative_values_are_refused_in_config() -> None:
    with pytest.raises(ConfigError, match="non-negative"):
        Config(timeout_keep_alive=-1)


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    toml = tmp_path / "duoserve.toml"
    toml.write_text('port = 1\nroot-path = "/file"\nbacklog = 7\n')
    env = {"DUOSERVE_ROOT_PATH": "/env", "DUOSERVE_PORT": "2"}
    config = from_sources({"port": 3}, env, config_file=str(toml))
    assert (config.port, config.root_path, config.backlog) == (3, "/env", 7)
    assert from_sources({}, env, config_file=str(toml)).port == 2
    assert from_sources({}, {}, config_file=str(toml)).port == 1
    assert from_sources({}, {}, cwd=str(tmp_path)).port == 8000


def test_pyproject_tool_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.duoserve]\nlimit_request_body = 100\n")
    assert from_sources({}, {}, cwd=str(tmp_path)).limit_request_body == 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("prot = 1\n", "did you mean 'port'"),
        ("port = 'x'\n", "whole number"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_file_errors(tmp_path: Path, content: str, message: str) -> None:
    toml = tmp_path / "duoserve.toml"
    toml.write_text(content)
    with pytest.raises(ConfigError, match=message):
        from_sources({}, {}, config_file=str(toml))


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        from_sources({}, {}, config_file="/nonexistent/duoserve.toml")


def test_unknown_env_var_is_an_error() -> None:
    with pytest.raises(ConfigError, match="DUOSERVE_TIMEOUT_KEEP_ALIVE"):
        from_sources({}, {"DUOSERVE_TIMEOUT_KEEPALIVE": "1"})


def test_port_env_binds_all_interfaces() -> None:
    assert from_sources({}, {"PORT": "5000"}).bind == ("0.0.0.0:5000",)


@pytest.mark.parametrize("explicit", [{"port": 1}, {"host": "::1"}, {"bind": ("unix:/x",)}])
def test_explicit_bind_beats_port_env(explicit: dict[str, object]) -> None:
    assert from_sources(explicit, {"PORT": "5000"}).bind == explicit.get("bind", ())


def test_bad_port_env() -> None:
    with pytest.raises(ConfigError, match=r"\$PORT"):
        from_sources({}, {"PORT": "web"})
