"""The metrics pieces without processes: the policy's counts and readiness, the slot
totals, the exposition (read back by Prometheus's parser), StatsD lines, the endpoints."""

from __future__ import annotations

import pytest

from duoserve.config.settings import Config
from duoserve.errors import ConfigError
from duoserve.observe.metrics import block, layout
from duoserve.observe.metrics.endpoints import respond
from duoserve.observe.metrics.exposition import render
from duoserve.observe.metrics.recorder import Recorder
from duoserve.observe.metrics.statsd import MAX_DATAGRAM, StatsdFormat, StatsdState, datagrams
from duoserve.observe.metrics.totals import Lifecycle, Snapshot, Totals
from duoserve.supervisor.events import Command, Event, Heartbeat, SignalReceived, Stop, Tick
from duoserve.supervisor.policy import Supervisor
from duoserve.supervisor.workers import Limits
from tests.metrics.scrape import parse, total
from tests.unit.supervisor.test_policy import BOOTED, exited, ready, signal, started


def feed(sup: Supervisor, events: list[Event]) -> list[object]:
    actions: list[object] = []
    for event in events:
        actions += sup.handle(event)
    return actions


@pytest.mark.parametrize(
    ("limits", "events", "cause"),
    [
        (Limits(workers=2), exited(1, status="killed by SIGKILL"), "crash"),
        (Limits(workers=2, timeout_worker=5), [Tick(6.0), *exited(1, at=6.0)], "watchdog"),
        (
            Limits(workers=2, max_requests=10),
            [Heartbeat(1, 1.0, 10), *started(3, at=1.0), *ready(3, at=1.5), *exited(1, at=2.0)],
            "recycle",
        ),
        (
            Limits(workers=2),
            [*signal(Command.RELOAD), *started(3, 4), *ready(3, 4), *exited(1)],
            "reload",
        ),
        (Limits(workers=2), [*signal(Command.DECREASE), *exited(2)], "scale_down"),
        (Limits(workers=2), [*signal(Command.STOP), *exited(1)], "shutdown"),
    ],
)
def test_policy_counts_exits_by_cause(limits: Limits, events: list[Event], cause: str) -> None:
    sup = Supervisor(limits, 0.0, jitter=lambda n: 0)
    sup.start()
    feed(sup, BOOTED)
    feed(sup, events)
    assert {k: v for k, v in sup.exits.items() if v} == {cause: 1}


def test_policy_counts_starts_reloads_and_boot_failures() -> None:
    sup = Supervisor(Limits(workers=2), 0.0)
    sup.start()
    feed(sup, [*BOOTED, *signal(Command.RELOAD), *started(3), *exited(3)])
    assert (sup.starts, sup.reloads, sup.exits["boot_failure"]) == (3, 1, 1)


def test_readiness_follows_the_phase_and_the_ready_workers() -> None:
    sup = Supervisor(Limits(workers=2), 0.0)
    sup.start()
    assert sup.readiness() == (False, "starting")
    feed(sup, [*started(1, 2), *ready(1)])
    assert sup.readiness() == (False, "starting")  # not every initial worker yet
    feed(sup, ready(2))
    assert sup.readiness() == (True, "")
    feed(sup, exited(1, 2, status="killed by SIGKILL"))
    assert sup.readiness() == (False, "no worker is ready")
    feed(sup, [*started(3), *ready(3)])
    assert sup.readiness() == (True, "")
    feed(sup, signal(Command.STOP))
    assert sup.readiness() == (False, "shutting down")


def test_shutdown_delay_is_a_timer_before_the_stop() -> None:
    sup = Supervisor(Limits(workers=2, shutdown_delay=3.0), 0.0)
    sup.start()
    feed(sup, BOOTED)
    assert not any(isinstance(a, Stop) for a in feed(sup, signal(Command.STOP, at=1.0)))
    assert sup.readiness() == (False, "shutting down")
    assert sup.next_deadline() == 4.0
    assert feed(sup, signal(Command.RELOAD, at=2.0))[-1:] and sup.reloads == 0  # ignored
    assert not any(isinstance(a, Stop) for a in sup.handle(Tick(3.9)))
    assert [a for a in sup.handle(Tick(4.0)) if isinstance(a, Stop)] == [Stop(1), Stop(2)]


def test_a_second_sigterm_cuts_the_shutdown_delay_short() -> None:
    sup = Supervisor(Limits(workers=1, shutdown_delay=30.0), 0.0)
    sup.start()
    feed(sup, [*started(1), *ready(1)])
    feed(sup, signal(Command.STOP))
    actions = sup.handle(SignalReceived(Command.STOP, 1.0))
    assert Stop(1) in actions


def slot_with(values: dict[int, float]) -> block.Slot:
    slot = block.private()
    for offset, value in values.items():
        slot.values[offset] = value
    return slot


def test_totals_keep_what_an_exited_worker_counted_and_drop_its_gauges() -> None:
    totals = Totals()
    totals.add(1, slot_with({layout.DURATION_COUNT: 5, layout.IN_FLIGHT: 2, layout.LOOP_LAG: 0.5}))
    totals.add(2, slot_with({layout.DURATION_COUNT: 7, layout.IN_FLIGHT: 1, layout.LOOP_LAG: 0.1}))
    before = totals.snapshot()
    assert before.counters[layout.DURATION_COUNT] == 12
    gauges = dict(zip([g.name for g in layout.GAUGES], before.gauges, strict=True))
    assert gauges["requests_in_flight"] == 3  # summed
    assert gauges["event_loop_lag_seconds"] == 0.5  # the worst worker
    totals.fold(1)
    after = totals.snapshot()
    assert after.counters[layout.DURATION_COUNT] == 12
    assert after.gauges[0] == 1
    totals.close()


def test_a_slot_is_shared_through_its_descriptor() -> None:
    mine, fd = block.create()
    theirs = block.attach(fd)  # what a worker does (here in the same process)
    theirs.values[layout.WEBSOCKET_SESSIONS] += 3
    assert mine.read()[layout.WEBSOCKET_SESSIONS] == 3
    mine.close()
    theirs.close()


# (seconds, status, body bytes sent, Content-Length, method): what the metered path notes.
ONE_METHOD = [
    (0.001, 200, 10, None, b"GET"),
    (0.0011, 404, 5, None, b"GET"),
    (11.0, 0, 0, 7, b"GET"),
]
MIXED = [*ONE_METHOD, (0.3, 503, 1, 2, b"POST"), (0.0, 101, 0, None, b"BREW")]


@pytest.mark.parametrize("notes", [ONE_METHOD, MIXED], ids=["one-method", "mixed"])
@pytest.mark.parametrize("most", [None, 1, 2])
def test_a_fold_counts_what_each_request_noted(
    notes: list[tuple[float, int, int, int | None, bytes]], most: int | None
) -> None:
    recorder = Recorder(block.private(), "wsgi")
    for note in notes:
        recorder.request_path().note(note)
    while recorder.fold(most):
        pass
    values = recorder.slot.values
    expected = [0.0] * layout.COUNTERS_END
    for seconds, status, sent, length, method in notes:
        index = layout.METHODS.index(method) if method in layout.METHODS else len(layout.METHODS)
        klass = status // 100 - 1 if status else 3  # no response counts as a 4xx
        expected[layout.request_index(1, index, klass)] += 1
        bucket = next((i for i, b in enumerate(layout.BUCKETS) if seconds <= b), 13)
        expected[layout.DURATION_BUCKETS + bucket] += 1
        expected[layout.DURATION_SUM] += seconds
        expected[layout.DURATION_COUNT] += 1
        expected[layout.RESPONSE_BODY_BYTES] += sent
        expected[layout.REQUEST_BODY_BYTES] += length or 0
    assert list(values[: layout.COUNTERS_END]) == pytest.approx(expected)
    assert not recorder.fold()  # nothing left


def sample_snapshot() -> Snapshot:
    counters = [0.0] * layout.COUNTERS_END
    counters[layout.request_index(1, 2, 1)] = 4  # wsgi POST 2xx
    counters[layout.DURATION_BUCKETS + 0] = 1
    counters[layout.DURATION_BUCKETS + len(layout.BUCKETS)] = 3  # beyond 10 s
    counters[layout.DURATION_SUM] = 40.5
    counters[layout.DURATION_COUNT] = 4
    counters[layout.PROTOCOL_ERRORS + layout.PROTOCOL_STATUSES.index(413)] = 2
    return Snapshot(counters, [0.0] * len(layout.GAUGES))


LIFE = Lifecycle(healthy=True, ready=True, workers=2, workers_ready=2, starts=3, exits={"crash": 1})


def test_exposition_reads_back_with_prometheus_parser() -> None:
    samples = parse(render(sample_snapshot(), LIFE).decode())
    labels = {"interface": "wsgi", "method": "POST", "status": "2xx"}
    assert total(samples, "duoserve_requests_total", **labels) == 4
    assert total(samples, "duoserve_requests_total") == 4  # only the series that happened
    assert total(samples, "duoserve_request_duration_seconds_bucket", le="0.001") == 1
    assert total(samples, "duoserve_request_duration_seconds_bucket", le="10.0") == 1
    assert total(samples, "duoserve_request_duration_seconds_bucket", le="+Inf") == 4
    assert total(samples, "duoserve_request_duration_seconds_sum") == 40.5
    assert total(samples, "duoserve_protocol_errors_total", status="413") == 2
    assert total(samples, "duoserve_worker_exits_total", cause="crash") == 1
    assert total(samples, "duoserve_ready") == 1


def test_statsd_sends_increments_and_gauges() -> None:
    state = StatsdState(StatsdFormat("app", ()))
    first = state.lines(sample_snapshot(), LIFE)
    assert "app.duoserve.requests.wsgi.POST.2xx:4|c" in first
    assert "app.duoserve.request_duration.sum_ms:40500|c" in first
    assert "app.duoserve.request_duration.bucket.le_0_001:1|c" in first
    assert "app.duoserve.worker_exits.crash:1|c" in first
    assert "app.duoserve.workers:2|g" in first
    again = state.lines(sample_snapshot(), LIFE)  # nothing happened since
    assert not [line for line in again if line.endswith("|c")]
    assert "app.duoserve.workers:2|g" in again


def test_dogstatsd_puts_labels_in_tags_and_datagrams_fit() -> None:
    lines = StatsdState(StatsdFormat("", ("env:prod",))).lines(sample_snapshot(), LIFE)
    assert "duoserve.requests:4|c|#env:prod,interface:wsgi,method:POST,status:2xx" in lines
    packed = list(datagrams(lines * 20))
    assert len(packed) > 1 and all(len(d) <= MAX_DATAGRAM for d in packed)
    assert b"\n".join(packed).split(b"\n") == [line.encode() for line in lines * 20]


class FixedSource:
    def __init__(self, life: Lifecycle) -> None:
        self.life = life

    def snapshot(self) -> Snapshot:
        return sample_snapshot()

    def lifecycle(self) -> Lifecycle:
        return self.life


@pytest.mark.parametrize(
    ("request_head", "life", "status", "body"),
    [
        (b"GET /readyz HTTP/1.1\r\n\r\n", LIFE, b"200", b"ready\n"),
        (
            b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
            Lifecycle(healthy=True, ready=False, reason="starting"),
            b"503",
            b"not ready: starting\n",
        ),
        (b"GET /healthz?x=1 HTTP/1.0\r\n\r\n", LIFE, b"200", b"ok\n"),
        (b"GET /healthz HTTP/1.1\r\n\r\n", Lifecycle(healthy=False, ready=False), b"503", None),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", LIFE, b"200", b""),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", LIFE, b"405", None),
        (b"GET /other HTTP/1.1\r\n\r\n", LIFE, b"404", None),
        (b"nonsense\r\n\r\n", LIFE, b"400", None),
        (b"GET /" + b"a" * 9000, LIFE, b"431", None),
    ],
)
def test_endpoints(request_head: bytes, life: Lifecycle, status: bytes, body: bytes | None) -> None:
    response = respond(request_head, FixedSource(life))
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.split()[1] == status
    assert b"Connection: close" in head
    if body is not None:
        assert rest == body


@pytest.mark.parametrize(
    "settings",
    [{"statsd_interval": 0.0}, {"statsd_interval": 7200.0}, {"dogstatsd_tags": ("x",) * 65}],
)
def test_metrics_settings_are_bounded(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Config(**settings)  # type: ignore[arg-type]


def test_metrics_bind_refuses_the_apps_port() -> None:
    from duoserve.net.sockets import bind_all
    from duoserve.observe.metrics.listen import bind_metrics

    config = Config(port=0)
    sockets = bind_all(config)
    try:
        port = sockets[0].sock.getsockname()[1]
        with pytest.raises(ConfigError, match="port of their own"):
            bind_metrics(config.with_changes(metrics_bind=f"127.0.0.1:{port}"), sockets)
        with pytest.raises(ConfigError, match="HOST:PORT"):
            bind_metrics(config.with_changes(metrics_bind="unix:/tmp/x.sock"), sockets)
    finally:
        for bound in sockets:
            bound.sock.close()


def exposed_names() -> set[str]:
    return {name for name, _ in parse(render(sample_snapshot(), LIFE).decode())}


def test_the_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads(Path("docs/grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"duoserve_[a-z_]+", expr)}
    assert used and used <= exposed_names(), used - exposed_names()


def test_the_metrics_reference_lists_every_family() -> None:
    from pathlib import Path

    from prometheus_client.parser import text_string_to_metric_families

    reference = Path("docs/metrics.md").read_text()
    text = render(sample_snapshot(), LIFE).decode()
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix("duoserve_")
        shown = f"`{name}_total`" if family.type == "counter" else f"`{name}`"
        assert shown in reference, name
