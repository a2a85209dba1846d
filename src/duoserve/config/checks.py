"""The checks every Config passes when it is made, and the values derived from its settings."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError
from .declare import flag_name

_C = TypeVar("_C", bound="ConfigRules")


class ConfigRules:
    """The base of Config (settings.py, the declarations): what holds across settings,
    checked in __post_init__, and what is derived from them. It reads only the settings
    it names here."""

    __slots__ = ()

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    statsd_interval: float
    dogstatsd_tags: tuple[str, ...]
    metrics_bind: str
    statsd_host: str

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{flag_name(f)} must be a non-negative number, got {value}")
        if not 0.1 <= self.statsd_interval <= 3600:
            interval = self.statsd_interval
            raise ConfigError(f"--statsd-interval must be between 0.1 and 3600 s, got {interval}")
        if len(self.dogstatsd_tags) > 64 or any(len(t) > 200 for t in self.dogstatsd_tags):
            raise ConfigError("--dogstatsd-tags: at most 64 tags of at most 200 characters")

    @property
    def metrics_on(self) -> bool:
        """Whether workers record metrics (for the listener or for StatsD)."""
        return bool(self.metrics_bind or self.statsd_host)

    def with_changes(self: _C, **changes: Any) -> _C:
        return dataclasses.replace(self, **changes)
