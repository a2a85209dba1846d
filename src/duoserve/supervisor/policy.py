"""Sans-IO supervisor policy: worker events and signals in, actions out; no clock, no OS."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

from ..errors import EXIT_DRAIN_CUT
from .events import (
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
from .workers import EXIT_CAUSES, Limits, Phase, State, TrackedWorker

# -- policy ---------------------------------------------------------------------------------


class Supervisor:
    """Decides which workers to start and stop. Feed it events with `handle()`, execute the
    actions it returns in order, and call `handle(Tick(now))` by `next_deadline()`."""

    def __init__(
        self,
        limits: Limits,
        now: float,
        *,
        jitter: Callable[[int], int] | None = None,
    ) -> None:
        self.limits = limits
        self.target = limits.workers
        self.phase = Phase.STARTING
        self.generation = 0
        self.reloading: int | None = None
        self.workers: dict[int, TrackedWorker] = {}
        self._now = now
        self._next_wid = 1
        self._jitter = jitter or (lambda n: random.randint(0, n))
        self._description = ""
        self._exit_status = 0
        self._exit_message = ""
        # What the metrics report: workers started, exits by cause, reloads begun.
        self.starts = 0
        self.exits = dict.fromkeys(EXIT_CAUSES, 0)
        self.reloads = 0
        self.stop_at = math.inf  # --shutdown-delay: when the stop a SIGTERM asked for begins

    # -- entry points -----------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Spawn the initial workers (fewer when some were adopted)."""
        return self._fill()

    def adopt(self, pid: int, now: float, description: str) -> int:
        """Take over a worker already serving (started before this supervisor existed)."""
        worker = self._new(self.generation, now)
        worker.pid, worker.state, worker.last_seen = pid, State.READY, now
        worker.served = True
        self.starts += 1
        self._description = description
        self.phase = Phase.RUNNING
        return worker.wid

    def next_deadline(self) -> float:
        """When the next Tick is due (inf: only events matter)."""
        deadlines = [self.stop_at if self.phase is not Phase.STOPPING else math.inf]
        for w in self.workers.values():
            if not w.killed:
                deadlines.append(w.stop_deadline)
                if self.limits.timeout_worker and w.state is not State.STOPPING:
                    deadlines.append(w.last_seen + self.limits.timeout_worker)
                if w.state is State.READY and w.replaced_by is None and not w.keep:
                    deadlines.append(w.retire_at)
        return min(deadlines)

    def readiness(self) -> tuple[bool, str]:
        """Whether traffic should come here (what /readyz says), and why not."""
        if self.phase is Phase.STARTING and self.stop_at == math.inf:
            return False, "starting"
        if self.phase is not Phase.RUNNING or self.stop_at < math.inf:
            return False, "shutting down"
        if not any(w.state is State.READY for w in self.workers.values()):
            return False, "no worker is ready"
        return True, ""

    def handle(self, event: Event) -> list[Action]:
        if self.phase is Phase.DONE:
            return []
        self._now = max(self._now, getattr(event, "now", self._now))
        if isinstance(event, WorkerStarted):
            if event.wid in self.workers:
                w = self.workers[event.wid]
                w.pid, w.started, w.last_seen = event.pid, event.now, event.now
                self.starts += 1
            return []
        if isinstance(event, WorkerFailed):
            if event.wid in self.workers:
                self.workers[event.wid].failure = event.message
            return []
        if isinstance(event, SignalReceived):
            return self._on_command(event.command)
        actions: list[Action] = []
        if isinstance(event, WorkerReady):
            actions += self._on_ready(event)
        elif isinstance(event, Heartbeat):
            actions += self._on_heartbeat(event)
        elif isinstance(event, WorkerExited):
            actions += self._on_exit(event)
        elif isinstance(event, Tick):
            actions += self._on_tick()
        if self.phase in (Phase.STARTING, Phase.RUNNING):
            actions += self._fill()
        return actions

    # -- events -----------------------------------------------------------------------------

    def _on_ready(self, event: WorkerReady) -> list[Action]:
        w = self.workers.get(event.wid)
        if w is None or w.state is not State.BOOTING:
            return []
        w.state, w.last_seen, w.served = State.READY, event.now, True
        self._description = self._description or event.description
        actions: list[Action] = [Log(logging.INFO, f"{w.name} ready")]
        if self.phase is Phase.STOPPING:
            return actions + self._stop(w, "shutdown")
        old = self.workers.get(w.replaces) if w.replaces is not None else None
        if old is not None:
            w.replaces = old.replaced_by = None
            actions += self._stop(old, "recycle")
        if w.generation == self.reloading:
            fresh = [x for x in self.workers.values() if x.generation == self.reloading]
            if len(fresh) >= self.target and all(x.state is State.READY for x in fresh):
                self.generation, self.reloading = w.generation, None
                actions.append(Log(logging.INFO, "reload complete; stopping the old workers"))
                for x in list(self.workers.values()):
                    if x.generation != self.generation:
                        actions += self._stop(x, "reload")
        if self.phase is Phase.STARTING:
            ready = [x for x in self.workers.values() if x.state is State.READY]
            if len(ready) >= self.target:
                self.phase = Phase.RUNNING
                actions.append(Ready(self._description, self.target))
        return actions

    def _on_heartbeat(self, event: Heartbeat) -> list[Action]:
        w = self.workers.get(event.wid)
        if w is None:
            return []
        w.last_seen = event.now
        limits = self.limits
        if w.request_limit and event.requests >= w.request_limit:
            return self._recycle(w, f"served {event.requests} requests")
        if limits.max_memory and event.rss > limits.max_memory:
            return self._recycle(w, f"uses {event.rss // 1048576} MiB of memory")
        return []

    def _on_exit(self, event: WorkerExited) -> list[Action]:
        w = self.workers.pop(event.wid, None)
        if w is None:
            return []
        cause = w.cause or ("boot_failure" if w.state is State.BOOTING else "crash")
        self.exits[cause] += 1
        actions: list[Action] = []
        if self.phase is Phase.STOPPING:
            if event.code and w.served and not self._exit_status:  # cut requests, or was cut
                self._exit_status = EXIT_DRAIN_CUT
                self._exit_message = f"{w.name} did not drain cleanly ({event.status})"
            actions.append(Log(logging.INFO, f"{w.name} exited ({event.status})"))
            if not self.workers:
                self.phase = Phase.DONE
                actions.append(Exit(self._exit_status, self._exit_message))
            return actions
        if w.state is State.BOOTING:
            return self._boot_failed(w, event.status)
        if w.state is State.STOPPING:
            level = logging.INFO if not (w.killed or event.code) else logging.WARNING
            return [Log(level, f"{w.name} exited ({event.status})")]
        actions.append(Log(logging.ERROR, f"{w.name} died ({event.status}); replacing it"))
        if w.replaced_by is not None and w.replaced_by in self.workers:
            self.workers[w.replaced_by].replaces = None
        return actions

    def _boot_failed(self, w: TrackedWorker, status: str) -> list[Action]:
        reason = w.failure or f"{w.name} exited during boot ({status})"
        if w.generation == self.reloading:
            self.reloading = None
            actions: list[Action] = [
                Log(logging.ERROR, f"reload failed, the old workers keep serving: {reason}")
            ]
            for x in list(self.workers.values()):
                if x.generation == w.generation:
                    actions += self._stop(x, "reload")
            return actions
        old = self.workers.get(w.replaces) if w.replaces is not None else None
        if old is not None:
            old.replaced_by, old.keep = None, True
            return [
                Log(logging.ERROR, f"{old.name} keeps serving; its replacement failed: {reason}")
            ]
        self._exit_status, self._exit_message = 1, reason
        return [Log(logging.ERROR, f"{w.name} failed to boot; stopping"), *self._stop_all()]

    def _on_tick(self) -> list[Action]:
        actions: list[Action] = []
        now, timeout = self._now, self.limits.timeout_worker
        if now >= self.stop_at and self.phase is not Phase.STOPPING:
            actions += [Log(logging.INFO, "shutting down gracefully"), *self._stop_all()]
        for w in list(self.workers.values()):
            if w.killed:
                continue
            if w.state is State.STOPPING:
                if now >= w.stop_deadline:
                    w.killed = True
                    actions.append(Log(logging.WARNING, f"{w.name} did not stop in time; killing"))
                    actions.append(Kill(w.wid))
            elif timeout and now - w.last_seen > timeout:
                silent = f"{now - w.last_seen:.1f}s"
                if w.state is State.BOOTING:
                    w.failure = f"{w.name} did not finish booting in {silent}"
                else:
                    w.state = State.STOPPING
                    self._unlink(w)
                message = f"{w.name} is blocked (no heartbeat for {silent}); killing it"
                w.killed, w.cause = True, "watchdog"
                actions += [Log(logging.ERROR, message), Kill(w.wid)]
            elif w.state is State.READY and now >= w.retire_at:
                actions += self._recycle(w, "reached --max-worker-lifetime")
        return actions

    def _on_command(self, command: Command) -> list[Action]:
        if command is Command.QUIT or (command is Command.STOP and self.phase is Phase.STOPPING):
            self.phase = Phase.STOPPING
            actions: list[Action] = [Log(logging.WARNING, "stopping at once")]
            for w in self.workers.values():
                if not w.killed:
                    w.killed, w.state = True, State.STOPPING
                    w.cause = w.cause or "shutdown"
                    actions.append(Kill(w.wid))
            return actions + self._maybe_done()
        if command is Command.STOP:
            delay = self.limits.shutdown_delay
            if delay and self.stop_at == math.inf:
                self.stop_at = self._now + delay
                message = f"stopping in {delay:g}s (--shutdown-delay); not ready meanwhile"
                return [Log(logging.INFO, message)]
            return [Log(logging.INFO, "shutting down gracefully"), *self._stop_all()]
        if self.phase is not Phase.RUNNING or self.stop_at < math.inf:
            phase = "stopping" if self.stop_at < math.inf else self.phase.value
            return [Log(logging.WARNING, f"{command.value} ignored while {phase}")]
        if command is Command.RELOAD:
            return self._reload()
        if command is Command.INCREASE:
            self.target += 1
            return [Log(logging.INFO, f"workers: {self.target}"), *self._fill()]
        if self.target == 1:
            return [Log(logging.WARNING, "workers: already 1; not stopping the last one")]
        self.target -= 1
        active = self._active()
        stop = self._stop(active[-1], "scale_down") if len(active) > self.target else []
        return [Log(logging.INFO, f"workers: {self.target}"), *stop]

    # -- helpers ----------------------------------------------------------------------------

    def _reload(self) -> list[Action]:
        actions: list[Action] = []
        if self.reloading is not None:
            actions.append(Log(logging.INFO, "reload restarted"))
            for x in list(self.workers.values()):
                if x.generation == self.reloading:
                    actions += self._stop(x, "reload")
        self.reloading = max(w.generation for w in self.workers.values()) + 1
        self.reloads += 1
        actions.append(Log(logging.INFO, f"reloading: starting {self.target} new worker(s)"))
        for _ in range(self.target):
            actions.append(Spawn(self._new(self.reloading, self._now).wid))
        return actions

    def _recycle(self, w: TrackedWorker, reason: str) -> list[Action]:
        if (
            w.state is not State.READY
            or w.replaced_by is not None
            or w.keep
            or self.phase is not Phase.RUNNING
            or self.reloading is not None
        ):
            return []
        new = self._new(self.generation, self._now)
        new.replaces, w.replaced_by = w.wid, new.wid
        message = f"{w.name} {reason}; starting worker {new.wid} to replace it"
        return [Log(logging.INFO, message), Spawn(new.wid)]

    def _active(self) -> list[TrackedWorker]:
        """Workers counted against the target: not stopping, not being replaced, not part
        of a pending reload."""
        return [
            w
            for w in self.workers.values()
            if w.state is not State.STOPPING
            and w.replaced_by is None
            and w.generation != self.reloading
        ]

    def _fill(self) -> list[Action]:
        missing = self.target - len(self._active())
        return [Spawn(self._new(self.generation, self._now).wid) for _ in range(missing)]

    def _new(self, generation: int, now: float) -> TrackedWorker:
        limits = self.limits
        w = TrackedWorker(self._next_wid, generation, started=now, last_seen=now)
        self._next_wid += 1
        if limits.max_requests:
            w.request_limit = limits.max_requests + self._jitter(limits.max_requests_jitter)
        if limits.max_lifetime:
            w.retire_at = now + limits.max_lifetime + self._jitter(int(limits.max_lifetime / 10))
        self.workers[w.wid] = w
        return w

    def _stop(self, w: TrackedWorker, cause: str) -> list[Action]:
        if w.state is State.STOPPING:
            return []
        w.state, w.cause = State.STOPPING, w.cause or cause
        w.stop_deadline = self._now + self.limits.stop_timeout
        self._unlink(w)
        return [Stop(w.wid)]

    def _unlink(self, w: TrackedWorker) -> None:
        """A stopping worker is nobody's replacement and needs none."""
        for other in (w.replaces, w.replaced_by):
            x = self.workers.get(other) if other is not None else None
            if x is not None:
                x.replaces = x.replaced_by = None
        w.replaces = w.replaced_by = None

    def _stop_all(self) -> list[Action]:
        first = self.phase is not Phase.STOPPING
        self.phase = Phase.STOPPING
        actions: list[Action] = [Stopping()] if first else []
        for w in list(self.workers.values()):
            actions += self._stop(w, "shutdown")
        return actions + self._maybe_done()

    def _maybe_done(self) -> list[Action]:
        if self.workers:
            return []
        self.phase = Phase.DONE
        return [Exit(self._exit_status, self._exit_message)]
