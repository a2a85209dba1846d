"""What the policy knows of each worker: the limits it enforces, its state and phase, exits."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ..config.settings import Config


@dataclass(frozen=True, slots=True)
class Limits:
    """The settings the policy needs, in seconds and bytes (0 = off)."""

    workers: int = 1
    timeout_worker: float = 0.0
    stop_timeout: float = 30.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_memory: int = 0
    max_lifetime: float = 0.0
    shutdown_delay: float = 0.0

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        # The worker bounds its own stop (drain, WebSocket close, lifespan shutdown); the
        # supervisor's deadline is the backstop for a worker that cannot, plus a margin.
        stop = config.timeout_graceful_shutdown + config.ws_close_timeout + config.timeout_lifespan
        return cls(
            workers=max(1, config.workers),
            timeout_worker=config.timeout_worker,
            stop_timeout=stop + 5.0,
            max_requests=config.max_requests,
            max_requests_jitter=config.max_requests_jitter,
            max_memory=config.max_worker_memory,
            max_lifetime=config.max_worker_lifetime,
            shutdown_delay=config.shutdown_delay,
        )


class State(enum.Enum):
    BOOTING = "booting"
    READY = "ready"
    STOPPING = "stopping"


# Why a worker exited, as the metrics count it (duoserve_worker_exits_total{cause}).
EXIT_CAUSES = (
    "crash",  # died while serving
    "boot_failure",  # exited before it was ready
    "recycle",  # --max-requests, --max-worker-memory, --max-worker-lifetime
    "watchdog",  # killed for a blocked event loop (--timeout-worker)
    "reload",  # SIGHUP or --reload replaced it
    "scale_down",  # SIGTTOU
    "shutdown",  # the server stopped
)


class Phase(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"


@dataclass(slots=True)
class TrackedWorker:
    wid: int
    generation: int
    started: float
    pid: int = 0
    state: State = State.BOOTING
    last_seen: float = 0.0
    request_limit: int = 0
    retire_at: float = math.inf
    stop_deadline: float = math.inf
    killed: bool = False
    failure: str = ""
    replaces: int | None = None  # the worker this one is recycling
    replaced_by: int | None = None  # the replacement booting for this one
    keep: bool = False  # its replacement failed to boot: do not recycle it again
    served: bool = False  # it became ready (so it may have had requests to cut)
    cause: str = ""  # why it was stopped or killed (EXIT_CAUSES); "" = nobody asked

    @property
    def name(self) -> str:
        return f"worker {self.wid} (pid {self.pid})" if self.pid else f"worker {self.wid}"
