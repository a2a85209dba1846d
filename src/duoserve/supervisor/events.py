"""What the supervisor policy hears (events) and says (actions): plain frozen records."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Command(enum.Enum):
    """What a signal to the main process asks for."""

    STOP = "stop"  # SIGTERM, SIGINT: graceful
    QUIT = "quit"  # SIGQUIT (or a second SIGINT): immediate
    RELOAD = "reload"  # SIGHUP, or a source change with --reload
    INCREASE = "increase"  # SIGTTIN
    DECREASE = "decrease"  # SIGTTOU


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerStarted:
    wid: int
    pid: int
    now: float


@dataclass(frozen=True, slots=True)
class WorkerReady:
    """Lifespan startup is complete and the worker is accepting."""

    wid: int
    now: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    wid: int
    now: float
    requests: int = 0
    rss: int = 0


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """The worker's own account of why it cannot boot, sent just before it exits."""

    wid: int
    message: str


@dataclass(frozen=True, slots=True)
class WorkerExited:
    wid: int
    now: float
    status: str  # "exit code 1", "killed by SIGKILL"
    code: int = 0  # the exit code, or minus the signal that killed it


@dataclass(frozen=True, slots=True)
class SignalReceived:
    command: Command
    now: float


@dataclass(frozen=True, slots=True)
class Tick:
    now: float


Event = (
    WorkerStarted | WorkerReady | Heartbeat | WorkerFailed | WorkerExited | SignalReceived | Tick
)


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    wid: int


@dataclass(frozen=True, slots=True)
class Stop:
    """Graceful: the worker stops accepting, drains, runs lifespan shutdown and exits."""

    wid: int


@dataclass(frozen=True, slots=True)
class Kill:
    wid: int


@dataclass(frozen=True, slots=True)
class Log:
    level: int
    message: str


@dataclass(frozen=True, slots=True)
class Ready:
    """Every initial worker is serving: announce it (log, sd_notify READY=1)."""

    description: str
    workers: int


@dataclass(frozen=True, slots=True)
class Stopping:
    """The server began stopping (sd_notify STOPPING=1)."""


@dataclass(frozen=True, slots=True)
class Exit:
    status: int
    message: str = ""


Action = Spawn | Stop | Kill | Log | Ready | Stopping | Exit
