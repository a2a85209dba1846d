"""The fixed table of one worker's metrics: what each float in its shared slot means.

What each float in its shared-memory slot means. Pure data, shared by the workers (which
write it) and the supervisor (which reads)."""

from __future__ import annotations

from dataclasses import dataclass

METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")
METHOD_NAMES = (*(m.decode() for m in METHODS), "OTHER")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
INTERFACES = ("asgi", "wsgi", "websocket")
# Request duration buckets in seconds (upper bounds; a last bucket takes the rest, +Inf).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The statuses the server itself answers a malformed request with; others count as "other".
PROTOCOL_STATUSES = (400, 408, 413, 414, 431, 505)
PROTOCOL_NAMES = (*(str(s) for s in PROTOCOL_STATUSES), "other")
# The limits whose refusals are a 503: --limit-concurrency, --limit-connections-per-ip.
REFUSALS = ("concurrency", "connections_per_ip")

_ALL_METHODS = len(METHOD_NAMES)
_CLASSES = len(STATUS_CLASSES)

# -- offsets into a slot (one float64 each) ---------------------------------------------
REQUESTS = 0  # [interface][method][status class]
DURATION_BUCKETS = REQUESTS + len(INTERFACES) * _ALL_METHODS * _CLASSES  # non-cumulative
DURATION_SUM = DURATION_BUCKETS + len(BUCKETS) + 1
DURATION_COUNT = DURATION_SUM + 1
REQUEST_BODY_BYTES = DURATION_COUNT + 1
RESPONSE_BODY_BYTES = REQUEST_BODY_BYTES + 1
PROTOCOL_ERRORS = RESPONSE_BODY_BYTES + 1
REFUSED = PROTOCOL_ERRORS + len(PROTOCOL_NAMES)
WEBSOCKET_SESSIONS = REFUSED + len(REFUSALS)
COUNTERS_END = WEBSOCKET_SESSIONS + 1  # everything before this only ever grows
# Gauges: the worker's current values, written by its sampler.
IN_FLIGHT = COUNTERS_END
CONNECTIONS = IN_FLIGHT + 1
WEBSOCKETS_OPEN = CONNECTIONS + 1
THREADS_BUSY = WEBSOCKETS_OPEN + 1
THREADS_QUEUED = THREADS_BUSY + 1
LOOP_LAG = THREADS_QUEUED + 1
SLOT_FLOATS = LOOP_LAG + 1
SLOT_BYTES = SLOT_FLOATS * 8


def request_index(interface: int, method: int, status_class: int) -> int:
    """Offset of requests_total{interface, method, status_class} (indexes into the tuples)."""
    return REQUESTS + (interface * _ALL_METHODS + method) * _CLASSES + status_class


@dataclass(frozen=True, slots=True)
class Gauge:
    """A gauge slot, and how the supervisor combines the workers' values."""

    offset: int
    name: str
    help: str
    combine: str = "sum"  # or "max"


GAUGES = (
    Gauge(IN_FLIGHT, "requests_in_flight", "HTTP requests being handled now."),
    Gauge(CONNECTIONS, "connections_open", "Client connections open now."),
    Gauge(WEBSOCKETS_OPEN, "websocket_sessions_open", "WebSocket sessions open now."),
    Gauge(THREADS_BUSY, "wsgi_threads_busy", "WSGI pool threads running a request now."),
    Gauge(THREADS_QUEUED, "wsgi_requests_queued", "WSGI requests waiting for a free thread."),
    Gauge(
        LOOP_LAG,
        "event_loop_lag_seconds",
        "How late the event loop ran a timer in the last second (the worst worker).",
        "max",
    ),
)
