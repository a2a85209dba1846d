"""How each setting is presented: env var names, types, choices and docs sections."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterator
from typing import Any, Literal

from .declare import ENV_PREFIX, SettingMeta
from .settings import Config, fields


def meta(f: dataclasses.Field[Any]) -> SettingMeta:
    result: SettingMeta = f.metadata["duoserve"]
    return result


def env_name(f: dataclasses.Field[Any]) -> str:
    return ENV_PREFIX + f.name.upper()


@functools.cache
def _type_hints() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def field_type(f: dataclasses.Field[Any]) -> Any:
    return _type_hints()[f.name]


def choices(f: dataclasses.Field[Any]) -> tuple[str, ...] | None:
    hint = field_type(f)
    if typing.get_origin(hint) is Literal:
        return tuple(str(a) for a in typing.get_args(hint))
    return None


def iter_sections() -> Iterator[tuple[str, list[dataclasses.Field[Any]]]]:
    """Fields grouped by docs section, in declaration order."""
    seen: dict[str, list[dataclasses.Field[Any]]] = {}
    for f in fields():
        seen.setdefault(meta(f).section, []).append(f)
    yield from seen.items()
