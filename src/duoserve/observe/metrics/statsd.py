"""StatsD (and DogStatsD) output: counters and gauges in UDP datagrams, never blocking.

What changed since the last flush as counters, the gauges as they are, in UDP datagrams sent
without blocking and dropped when they cannot go."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import ConfigError
from . import layout
from .totals import Lifecycle, Snapshot

# Payload per datagram: fits an Ethernet MTU with IP and UDP headers (what DogStatsD
# clients use); lines are joined with newlines, which StatsD servers split.
MAX_DATAGRAM = 1432

Labels = Sequence[tuple[str, str]]


def _life_counters(life: Lifecycle) -> dict[str, float]:
    counts = {"worker_starts": float(life.starts), "reloads": float(life.reloads)}
    for cause, count in life.exits.items():
        counts[f"worker_exits\0{cause}"] = float(count)
    return counts


class StatsdFormat:
    """Metric lines: labels as DogStatsD tags when there are constant tags (gunicorn's
    --dogstatsd-tags), else folded into the name (duoserve.requests.asgi.GET.2xx)."""

    def __init__(self, prefix: str, tags: Sequence[str]) -> None:
        if prefix and not prefix.endswith("."):
            prefix += "."
        self.prefix = prefix + "duoserve."
        self.tags = tuple(tags)

    def line(self, name: str, value: float, kind: str, labels: Labels = ()) -> str:
        text = f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
        if not self.tags:
            suffix = "".join(
                "." + (f"{k}_{v}" if k == "le" else v).replace(".", "_") for k, v in labels
            )
            return f"{self.prefix}{name}{suffix}:{text}|{kind}"
        tags = ",".join((*self.tags, *(f"{k}:{v}" for k, v in labels)))
        return f"{self.prefix}{name}:{text}|{kind}|#{tags}"


class StatsdState:
    """The counters as last sent, so each flush sends the increments since."""

    def __init__(self, fmt: StatsdFormat) -> None:
        self.fmt = fmt
        self._counters = [0.0] * layout.COUNTERS_END
        self._life: dict[str, float] = {}

    def lines(self, snapshot: Snapshot, life: Lifecycle) -> list[str]:
        out = list(self._counter_lines(snapshot.counters))
        life_now = _life_counters(life)
        for key, value in life_now.items():
            delta = value - self._life.get(key, 0.0)
            if delta > 0:
                name, _, cause = key.partition("\0")
                labels = (("cause", cause),) if cause else ()
                out.append(self.fmt.line(name, delta, "c", labels))
        self._life = life_now
        self._counters = list(snapshot.counters)
        line = self.fmt.line
        for gauge, value in zip(layout.GAUGES, snapshot.gauges, strict=True):
            out.append(line(gauge.name, value, "g"))
        out.append(line("workers", life.workers, "g"))
        out.append(line("workers_ready", life.workers_ready, "g"))
        out.append(line("ready", int(life.ready), "g"))
        return out

    def _counter_lines(self, counters: list[float]) -> Iterator[str]:
        before, line = self._counters, self.fmt.line

        def delta(offset: int) -> float:
            return counters[offset] - before[offset]

        for i, interface in enumerate(layout.INTERFACES):
            for m, method in enumerate(layout.METHOD_NAMES):
                for s, status in enumerate(layout.STATUS_CLASSES):
                    d = delta(layout.request_index(i, m, s))
                    if d > 0:
                        labels = (("interface", interface), ("method", method), ("status", status))
                        yield line("requests", d, "c", labels)
        if delta(layout.DURATION_COUNT) > 0:
            yield line("request_duration.count", delta(layout.DURATION_COUNT), "c")
            yield line("request_duration.sum_ms", delta(layout.DURATION_SUM) * 1000, "c")
            bounds = [*(str(b) for b in layout.BUCKETS), "inf"]
            for i, bound in enumerate(bounds):
                d = delta(layout.DURATION_BUCKETS + i)
                if d > 0:
                    yield line("request_duration.bucket", d, "c", (("le", bound),))
        for name, offset in (
            ("request_body_bytes", layout.REQUEST_BODY_BYTES),
            ("response_body_bytes", layout.RESPONSE_BODY_BYTES),
            ("websocket_sessions", layout.WEBSOCKET_SESSIONS),
        ):
            if delta(offset) > 0:
                yield line(name, delta(offset), "c")
        for i, status in enumerate(layout.PROTOCOL_NAMES):
            if delta(layout.PROTOCOL_ERRORS + i) > 0:
                yield line(
                    "protocol_errors", delta(layout.PROTOCOL_ERRORS + i), "c", (("status", status),)
                )
        for i, limit in enumerate(layout.REFUSALS):
            if delta(layout.REFUSED + i) > 0:
                yield line("refused", delta(layout.REFUSED + i), "c", (("limit", limit),))


def datagrams(lines: Sequence[str]) -> Iterator[bytes]:
    """Lines joined into datagrams of at most MAX_DATAGRAM bytes."""
    batch: list[bytes] = []
    size = 0
    for text in lines:
        data = text.encode()
        if batch and size + 1 + len(data) > MAX_DATAGRAM:
            yield b"\n".join(batch)
            batch, size = [], 0
        batch.append(data)
        size += len(data) + (1 if size else 0)
    if batch:
        yield b"\n".join(batch)


class StatsdSender:
    """A non-blocking UDP socket towards --statsd-host, resolved once at start-up."""

    def __init__(self, address: str, prefix: str, tags: Sequence[str]) -> None:
        host, sep, port_text = address.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"--statsd-host {address!r}: expected HOST:PORT")
        try:
            infos = socket.getaddrinfo(host, int(port_text), type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise ConfigError(f"--statsd-host {address!r}: unknown host ({exc.strerror})") from None
        family, _, proto, _, target = infos[0]
        self.address: Any = target
        self.sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        self.sock.setblocking(False)
        self.state = StatsdState(StatsdFormat(prefix, tags))

    def flush(self, snapshot: Snapshot, life: Lifecycle) -> None:
        for data in datagrams(self.state.lines(snapshot, life)):
            with contextlib.suppress(OSError):  # full buffer, nobody listening: best effort
                self.sock.sendto(data, self.address)

    def close(self) -> None:
        self.sock.close()
