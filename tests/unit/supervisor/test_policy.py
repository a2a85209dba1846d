"""The supervisor policy, table-driven: events in, actions out, no processes or clocks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from duoserve.supervisor.events import (
    Action,
    Command,
    Event,
    Exit,
    Heartbeat,
    Kill,
    Log,
    Ready,
    SignalReceived,
    Spawn,
    Stop,
    Stopping,
    Tick,
    WorkerExited,
    WorkerFailed,
    WorkerReady,
    WorkerStarted,
)
from duoserve.supervisor.policy import Supervisor
from duoserve.supervisor.workers import Limits


def started(*wids: int, at: float = 0.0) -> list[Event]:
    return [WorkerStarted(w, 100 + w, at) for w in wids]


def ready(*wids: int, at: float = 0.0) -> list[Event]:
    return [WorkerReady(w, at, "app:app (ASGI 3)") for w in wids]


def exited(*wids: int, at: float = 0.0, status: str = "exit code 0") -> list[Event]:
    return [WorkerExited(w, at, status) for w in wids]


def signal(command: Command, at: float = 0.0) -> list[Event]:
    return [SignalReceived(command, at)]


BOOTED = [*started(1, 2), *ready(1, 2)]  # two workers serving


@dataclass
class Case:
    name: str
    events: list[Event]
    expected: list[object]  # the actions after the setup, Log left out
    limits: Limits = field(default_factory=lambda: Limits(workers=2))


CASES = [
    Case(
        "boot: spawn then announce",
        [*started(1, 2), *ready(2), *ready(1)],
        [Ready("app:app (ASGI 3)", 2)],
    ),
    Case(
        "a dead worker is replaced", [*BOOTED, *exited(1, status="killed by SIGKILL")], [Spawn(3)]
    ),
    Case(
        "a boot failure stops everything and exits 1",
        [
            *started(1, 2),
            *ready(2),
            WorkerFailed(1, "no database"),
            *exited(1, status="exit code 3"),
            *exited(2),
        ],
        [Stopping(), Stop(2), Exit(1, "no database")],
    ),
    Case(
        "reload: old workers stop only once every new one is ready",
        [*BOOTED, *signal(Command.RELOAD), *started(3, 4), *ready(3), *ready(4)],
        [Spawn(3), Spawn(4), Stop(1), Stop(2)],
    ),
    Case(
        "reload: a new worker that fails to boot keeps the old ones",
        [
            *BOOTED,
            *signal(Command.RELOAD),
            *started(3, 4),
            *ready(4),
            *exited(3, status="exit code 3"),
        ],
        [Spawn(3), Spawn(4), Stop(4)],
    ),
    Case(
        "reload is ignored while starting",
        [*started(1, 2), *signal(Command.RELOAD)],
        [],
    ),
    Case(
        "max requests (+ jitter): replacement first, then the old one stops",
        [
            *BOOTED,
            Heartbeat(1, 1, requests=14),
            Heartbeat(1, 2, requests=15),
            *started(3),
            *ready(3),
        ],
        [Spawn(3), Stop(1)],
        Limits(workers=2, max_requests=10, max_requests_jitter=5),
    ),
    Case(
        "a replacement that fails to boot leaves the old worker serving, not recycled again",
        [
            *BOOTED,
            Heartbeat(1, 1, requests=15),
            *exited(3, status="exit code 3"),
            Heartbeat(1, 2, requests=99),
        ],
        [Spawn(3)],
        Limits(workers=2, max_requests=10, max_requests_jitter=5),
    ),
    Case(
        "memory limit",
        [*BOOTED, Heartbeat(2, 1, rss=300 << 20)],
        [Spawn(3)],
        Limits(workers=2, max_memory=200 << 20),
    ),
    Case(
        "lifetime (+ up to 10% jitter)",
        [*BOOTED, Tick(109), Tick(110)],
        [Spawn(3), Spawn(4)],
        Limits(workers=2, max_lifetime=100),
    ),
    Case(
        "watchdog: a silent worker is killed and replaced",
        [*BOOTED, Heartbeat(1, 4), Tick(6)],
        [Kill(2), Spawn(3)],
        Limits(workers=2, timeout_worker=5),
    ),
    Case(
        "watchdog during boot is a boot failure",
        [
            *started(1, 2),
            *ready(1),
            Heartbeat(1, 5),
            Tick(6),
            *exited(2, status="killed by SIGKILL"),
            *exited(1),
        ],
        [
            Kill(2),
            Stopping(),
            Stop(1),
            Exit(1, "worker 2 (pid 102) did not finish booting in 6.0s"),
        ],
        Limits(workers=2, timeout_worker=5),
    ),
    Case(
        "SIGTERM: graceful stop, exit 0 once all are gone",
        [*BOOTED, *signal(Command.STOP), *exited(1, 2)],
        [Stopping(), Stop(1), Stop(2), Exit(0)],
    ),
    Case(
        "a worker whose drain was cut (exit 4) or that was killed: the supervisor exits 4",
        [*BOOTED, *signal(Command.STOP), WorkerExited(1, 1, "exit code 4", 4), *exited(2)],
        [
            Stopping(),
            Stop(1),
            Stop(2),
            Exit(4, "worker 1 (pid 101) did not drain cleanly (exit code 4)"),
        ],
    ),
    Case(
        "a worker stopped before it was ready had nothing to cut: exit 0",
        [*started(1), *signal(Command.STOP), WorkerExited(1, 1, "killed by SIGTERM", -15)],
        [Stopping(), Stop(1), Exit(0)],
        Limits(workers=1),
    ),
    Case(
        "a worker that does not stop in time is killed",
        [*BOOTED, *signal(Command.STOP), Tick(29), Tick(31)],
        [Stopping(), Stop(1), Stop(2), Kill(1), Kill(2)],
        Limits(workers=2, stop_timeout=30),
    ),
    Case(
        "a second SIGINT kills at once",
        [*BOOTED, *signal(Command.STOP), *signal(Command.STOP), *exited(1, 2)],
        [Stopping(), Stop(1), Stop(2), Kill(1), Kill(2), Exit(0)],
    ),
    Case(
        "SIGQUIT kills at once",
        [*BOOTED, *signal(Command.QUIT), *exited(1, 2)],
        [Kill(1), Kill(2), Exit(0)],
    ),
    Case(
        "SIGTTIN / SIGTTOU, never below one",
        [
            *BOOTED,
            *signal(Command.INCREASE),
            *signal(Command.DECREASE),
            *signal(Command.DECREASE),
            *signal(Command.DECREASE),
        ],
        [Spawn(3), Stop(3), Stop(2)],
    ),
    Case(
        "stopped workers are not replaced",
        [*BOOTED, *signal(Command.DECREASE), *exited(2)],
        [Stop(2)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_policy(case: Case) -> None:
    policy = Supervisor(case.limits, 0.0, jitter=lambda n: n)
    setup = policy.start()
    assert setup == [Spawn(w) for w in range(1, case.limits.workers + 1)]
    actions: list[Action] = []
    for event in case.events:
        actions += policy.handle(event)
    announced = [Ready("app:app (ASGI 3)", 2)] if case.events[:4] == BOOTED else []
    assert [a for a in actions if not isinstance(a, Log)] == announced + case.expected


def test_logs_say_why() -> None:
    policy = Supervisor(Limits(workers=1, timeout_worker=5), 0.0)
    policy.start()
    for event in [*started(1), *ready(1)]:
        policy.handle(event)
    logs = [a.message for a in policy.handle(Tick(7)) if isinstance(a, Log)]
    assert logs == ["worker 1 (pid 101) is blocked (no heartbeat for 7.0s); killing it"]
    logs = [a.message for a in policy.handle(WorkerExited(1, 7, "killed by SIGKILL"))]
    assert any("killed by SIGKILL" in m for m in logs)


def test_next_deadline() -> None:
    policy = Supervisor(Limits(workers=1, timeout_worker=5, stop_timeout=30), 0.0)
    assert policy.next_deadline() == math.inf
    policy.start()
    for event in [*started(1), *ready(1), Heartbeat(1, 3)]:
        policy.handle(event)
    assert policy.next_deadline() == 8
    policy.handle(SignalReceived(Command.STOP, 4))
    assert policy.next_deadline() == 34
    assert Supervisor(Limits(), 0.0).next_deadline() == math.inf


def test_adopted_worker_counts_as_serving() -> None:
    policy = Supervisor(Limits(workers=1), 0.0)
    wid = policy.adopt(4321, 0.0, "app:app")
    assert policy.start() == []
    assert policy.handle(WorkerExited(wid, 1, "exit code 1")) == [
        Log(40, "worker 1 (pid 4321) died (exit code 1); replacing it"),
        Spawn(2),
    ]
