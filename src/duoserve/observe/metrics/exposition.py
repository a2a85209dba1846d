"""The Prometheus text exposition format (0.0.4) of a Snapshot and a Lifecycle.

Written directly: no client library needed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from . import layout
from .totals import Lifecycle, Snapshot

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
PREFIX = "duoserve_"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _family(name: str, kind: str, help: str) -> Iterator[str]:
    yield f"# HELP {PREFIX}{name} {help}"
    yield f"# TYPE {PREFIX}{name} {kind}"


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def render(snapshot: Snapshot, life: Lifecycle) -> bytes:
    """The whole /metrics body."""
    return ("\n".join(lines(snapshot, life)) + "\n").encode()


def lines(snapshot: Snapshot, life: Lifecycle) -> Iterator[str]:
    c = snapshot.counters
    name = "requests_total"
    yield from _family(name, "counter", "HTTP requests and WebSocket handshakes answered.")
    for i, interface in enumerate(layout.INTERFACES):
        for m, method in enumerate(layout.METHOD_NAMES):
            for s, status_class in enumerate(layout.STATUS_CLASSES):
                value = c[layout.request_index(i, m, s)]
                if value:  # only the series that happened
                    labels = _labels(
                        (("interface", interface), ("method", method), ("status", status_class))
                    )
                    yield f"{PREFIX}{name}{labels} {_number(value)}"
    name = "request_duration_seconds"
    yield from _family(name, "histogram", "Time from a request's head to its response's end.")
    cumulative = 0.0
    bounds = [*(repr(b) for b in layout.BUCKETS), "+Inf"]
    for i, bound in enumerate(bounds):
        cumulative += c[layout.DURATION_BUCKETS + i]
        yield f'{PREFIX}{name}_bucket{{le="{bound}"}} {_number(cumulative)}'
    yield f"{PREFIX}{name}_sum {_number(c[layout.DURATION_SUM])}"
    yield f"{PREFIX}{name}_count {_number(c[layout.DURATION_COUNT])}"
    for name, offset, help in (
        ("request_body_bytes_total", layout.REQUEST_BODY_BYTES, "Request body bytes received."),
        ("response_body_bytes_total", layout.RESPONSE_BODY_BYTES, "Response body bytes sent."),
        ("websocket_sessions_total", layout.WEBSOCKET_SESSIONS, "WebSocket upgrade requests."),
    ):
        yield from _family(name, "counter", help)
        yield f"{PREFIX}{name} {_number(c[offset])}"
    name = "protocol_errors_total"
    yield from _family(name, "counter", "Malformed requests the server answered itself.")
    for i, status in enumerate(layout.PROTOCOL_NAMES):
        yield f'{PREFIX}{name}{{status="{status}"}} {_number(c[layout.PROTOCOL_ERRORS + i])}'
    name = "refused_total"
    yield from _family(name, "counter", "Requests or connections refused with a 503 by a limit.")
    for i, limit in enumerate(layout.REFUSALS):
        yield f'{PREFIX}{name}{{limit="{limit}"}} {_number(c[layout.REFUSED + i])}'
    for gauge, value in zip(layout.GAUGES, snapshot.gauges, strict=True):
        yield from _family(gauge.name, "gauge", gauge.help)
        yield f"{PREFIX}{gauge.name} {_number(value)}"
    for name, value, help in (
        ("workers", life.workers, "Worker processes alive."),
        ("workers_ready", life.workers_ready, "Worker processes serving."),
        ("ready", int(life.ready), "1 when the server takes traffic (what /readyz says)."),
    ):
        yield from _family(name, "gauge", help)
        yield f"{PREFIX}{name} {value}"
    name = "worker_starts_total"
    yield from _family(name, "counter", "Worker processes started.")
    yield f"{PREFIX}{name} {life.starts}"
    name = "worker_exits_total"
    yield from _family(name, "counter", "Worker processes that exited, by cause.")
    for cause, count in life.exits.items():
        yield f'{PREFIX}{name}{{cause="{cause}"}} {count}'
    name = "reloads_total"
    yield from _family(name, "counter", "Reloads begun (SIGHUP, or a change with --reload).")
    yield f"{PREFIX}{name} {life.reloads}"
