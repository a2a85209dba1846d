"""Metrics and health probes: per-worker counters in shared memory, summed and served.

Per-worker counters in shared memory, summed by the supervisor and served as Prometheus text
(--metrics-bind) or sent to StatsD."""
