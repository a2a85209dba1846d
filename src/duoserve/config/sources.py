"""Where settings come from: flags over DUOSERVE_* variables over the TOML file, each parsed."""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import ConfigError
from .declare import ENV_PREFIX
from .registry import choices, field_type
from .settings import Config, fields

_TRUE = {"1", "true", "yes", "on"}


_FALSE = {"0", "false", "no", "off"}


def parse_value(f: dataclasses.Field[Any], raw: Any, origin: str) -> Any:
    """Convert a raw value (string from env/CLI, or TOML value) to the field's type."""
    hint = field_type(f)
    where = f"{origin}: {f.name.replace('_', '-')}"
    allowed = choices(f)
    if allowed is not None:
        text = str(raw).lower()
        if text not in allowed:
            raise ConfigError(f"{where} must be one of {', '.join(allowed)}; got {raw!r}")
        return text
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{where} must be true or false; got {raw!r}")
    if hint is int or hint is float:
        conv: Callable[[Any], Any] = hint
        if isinstance(raw, bool):
            raise ConfigError(f"{where} must be a number; got {raw!r}")
        try:
            value = conv(raw)
        except (TypeError, ValueError):
            kind = "a whole number" if hint is int else "a number"
            raise ConfigError(f"{where} must be {kind}; got {raw!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number; got {raw!r}")
        if value < 0:
            raise ConfigError(f"{where} must not be negative; got {raw!r}")
        return value
    if typing.get_origin(hint) is tuple:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, list | tuple):
            return tuple(str(item) for item in raw)
        raise ConfigError(f"{where} must be a list of strings; got {raw!r}")
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be a string; got {raw!r}")
        return raw
    raise TypeError(f"unsupported setting type {hint!r}")  # pragma: no cover


def from_sources(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    config_file: str | None = None,
    cwd: str = ".",
) -> Config:
    """Merge the sources: command line > DUOSERVE_* environment > file > defaults.

    `cli` holds only values given explicitly (already typed). The file is `config_file`
    (TOML; a pyproject.toml is read from its [tool.duoserve] table), else a
    [tool.duoserve] table in cwd/pyproject.toml when there is one."""
    by_name = {f.name: f for f in fields()}
    values: dict[str, Any] = {}
    for key, raw in _read_file(config_file, cwd).items():
        name = key.replace("-", "_")
        if name not in by_name:
            raise ConfigError(f"unknown setting {key!r} in the config file{_suggest(name)}")
        values[name] = parse_value(by_name[name], raw, "config file")
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name not in by_name:
            raise ConfigError(f"unknown environment variable {var}{_suggest(name, env=True)}")
        values[name] = parse_value(by_name[name], raw, var)
    values.update(cli)
    if "workers" not in values and environ.get("WEB_CONCURRENCY"):
        values["workers"] = parse_value(
            by_name["workers"], environ["WEB_CONCURRENCY"], "$WEB_CONCURRENCY"
        )
    if not {"host", "port", "bind"} & values.keys() and environ.get("PORT"):
        port = environ["PORT"]
        if not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"$PORT must be a port number; got {port!r}")
        values["bind"] = (f"0.0.0.0:{int(port)}",)
    return Config(**values)


def _read_file(config_file: str | None, cwd: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = Path(config_file) if config_file else Path(cwd) / "pyproject.toml"
    if config_file is None and not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("duoserve", {})
        if not isinstance(table, dict):
            raise ConfigError(f"[tool.duoserve] in {str(path)!r} must be a table")
        return cast(dict[str, Any], table)
    return data


def _suggest(name: str, *, env: bool = False) -> str:
    close = difflib.get_close_matches(name, [f.name for f in fields()], n=1)
    if not close:
        return ""
    best = close[0]
    return f"; did you mean {ENV_PREFIX + best.upper() if env else best.replace('_', '-')!r}?"
