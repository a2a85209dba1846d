"""The supervisor's sum over workers: live slots plus what exited workers had counted.

The live slots, plus what exited workers had counted (folded in before their slot is
dropped, so no counter ever goes backwards)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from .block import Slot
from .layout import COUNTERS_END, GAUGES


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counter values (layout offsets below COUNTERS_END) and gauge values (in GAUGES
    order), summed (or maxed) over the workers at one moment."""

    counters: list[float]
    gauges: list[float]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What the process that serves the metrics knows beyond the slots: the workers,
    whether it takes traffic, and the supervisor's own counts."""

    healthy: bool
    ready: bool
    reason: str = ""  # why not ready
    workers: int = 1
    workers_ready: int = 1
    starts: int = 1
    exits: Mapping[str, int] = field(default_factory=dict)
    reloads: int = 0


class Totals:
    """Slots by worker key. Call fold() once the worker has exited (it writes no more)."""

    def __init__(self) -> None:
        self._retained = [0.0] * COUNTERS_END
        self._live: dict[Hashable, Slot] = {}

    def add(self, key: Hashable, slot: Slot) -> None:
        self._live[key] = slot

    def fold(self, key: Hashable) -> None:
        """Keep an exited worker's counters; forget its gauges and its slot."""
        slot = self._live.pop(key, None)
        if slot is None:
            return
        retained = self._retained
        for i, value in enumerate(slot.read()[:COUNTERS_END]):
            retained[i] += value
        slot.close()

    def close(self) -> None:
        """Unmap every slot (also what a forked worker does with its parent's)."""
        for slot in self._live.values():
            slot.close()
        self._live.clear()

    def snapshot(self) -> Snapshot:
        counters = list(self._retained)
        gauges = [0.0] * len(GAUGES)
        for slot in self._live.values():
            values = slot.read()
            for i in range(COUNTERS_END):
                counters[i] += values[i]
            for i, gauge in enumerate(GAUGES):
                value = values[gauge.offset]
                if gauge.combine == "max":
                    gauges[i] = max(gauges[i], value)
                else:
                    gauges[i] += value
        return Snapshot(counters, gauges)
