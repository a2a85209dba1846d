"""How a setting is declared: setting(), the presentation it carries, its flag and env names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "DUOSERVE_"


@dataclass(frozen=True, slots=True)
class SettingMeta:
    """How one setting is presented: CLI flag, env var, help text, docs section."""

    help: str
    section: str
    positional: bool = False
    metavar: str | None = None
    unit: str = ""


def setting(
    default: Any,
    help: str,
    section: str,
    *,
    positional: bool = False,
    metavar: str | None = None,
    unit: str = "",
) -> Any:
    meta = SettingMeta(help, section, positional, metavar, unit)
    if isinstance(default, list):
        raise TypeError("use a tuple for sequence defaults")
    return field(default=default, metadata={"duoserve": meta})


def flag_name(f: dataclasses.Field[Any]) -> str:
    return "--" + f.name.replace("_", "-")
