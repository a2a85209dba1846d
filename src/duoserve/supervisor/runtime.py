"""The supervisor's I/O: the policy run against real processes, pipes and signals.

Runs the policy against real processes: starts workers (fork, or a fresh interpreter),
turns signals, pipe messages and child exits into events, and executes the actions."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType

from ..app.loading import LoadedApp
from ..config.settings import Config
from ..net.loop import backend_options
from ..net.tls import https_url
from ..observe.metrics.block import Slot
from ..observe.metrics.supervised import SupervisorMetrics
from ..observe.metrics.totals import Lifecycle
from ..version import __version__
from . import events, policy, systemd
from .events import Command, Event
from .fresh import start_fresh
from .reload import Watcher
from .worker import SocketRef, WorkerSpec, set_title
from .worker import run as run_worker
from .workers import Limits

log = logging.getLogger("duoserve.error")

_COMMANDS = {
    "SIGTERM": Command.STOP,
    "SIGINT": Command.STOP,
    "SIGQUIT": Command.QUIT,
    "SIGHUP": Command.RELOAD,
    "SIGTTIN": Command.INCREASE,
    "SIGTTOU": Command.DECREASE,
}


def exit_status(status: int) -> str:
    """A waitpid status as the log shows it."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class Runtime:
    """The supervisor process. Signal handlers only enqueue; everything else happens in
    one select() loop that sleeps until a pipe, a signal or the policy's next deadline."""

    def __init__(
        self,
        config: Config,
        sockets: Sequence[SocketRef],
        *,
        preloaded: LoadedApp | None = None,
        watcher: Watcher | None = None,
        close_listeners: Callable[[], None] | None = None,
        metrics_socket: socket.socket | None = None,
    ) -> None:
        self.config = config
        self.sockets = tuple(sockets)
        # This process's copies of the listening sockets, closed as the final stop begins
        # (before the workers are told): kept open, the kernel would queue connections
        # into them that nobody accepts. Never on a reload: new workers share them.
        self.close_listeners = close_listeners
        self.preloaded = preloaded
        self.watcher = watcher
        self.policy = policy.Supervisor(Limits.from_config(config), time.monotonic())
        # Fork copies the parent's modules; once the parent's copy of the app is stale (a
        # reload after --preload, or a handover) workers start as fresh interpreters.
        self.fresh = False
        self.addresses = [https_url(ref.display, config) for ref in self.sockets]
        self._pids: dict[int, int] = {}  # wid -> pid
        self._wids: dict[int, int] = {}  # pid -> wid
        self._pipes: dict[int, tuple[int, bytearray]] = {}  # read fd -> (wid, partial line)
        self._signals: deque[int] = deque()
        self._events: deque[Event] = deque()
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe()
        for fd in (self._wake_read, self._wake_write):
            os.set_blocking(fd, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        if watcher is not None and (watch_fd := watcher.fileno()) is not None:
            self._selector.register(watch_fd, selectors.EVENT_READ)
        self.metrics: SupervisorMetrics | None = None
        if config.metrics_on:
            self.metrics = SupervisorMetrics(
                config, metrics_socket, self._selector, self.lifecycle, time.monotonic()
            )

    def lifecycle(self) -> Lifecycle:
        """The policy's view of the workers, for /healthz, /readyz and the metrics."""
        policy = self.policy
        ready, reason = policy.readiness()
        alive = sum(1 for w in policy.workers.values() if w.pid and w.pid in self._wids)
        serving = sum(1 for w in policy.workers.values() if w.state.value == "ready")
        return Lifecycle(
            healthy=alive > 0,
            ready=ready,
            reason=reason,
            workers=alive,
            workers_ready=serving,
            starts=policy.starts,
            exits=dict(policy.exits),
            reloads=policy.reloads,
        )

    def adopt(self, pid: int, channel: int, description: str, slot: Slot | None = None) -> None:
        """Supervise a worker started before this runtime (the single-process handover),
        with its metrics slot if it has one."""
        wid = self.policy.adopt(pid, time.monotonic(), description)
        if slot is not None and self.metrics is not None:
            self.metrics.totals.add(wid, slot)
        self._track(wid, pid, channel)
        self.fresh = True

    def request(self, command: Command) -> None:
        """Act on a command as soon as the loop runs (a signal that came before it)."""
        self._events.append(events.SignalReceived(command, time.monotonic()))

    def run(self) -> events.Exit:
        """Supervise until the policy says to exit."""
        previous = self._install_signals()
        set_title(f"duoserve: supervisor [{self.config.app}]")
        pid_file = self.config.pid
        if pid_file:
            with open(pid_file, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")
        try:
            result = self._execute(self.policy.start())
            while result is None:
                result = self._step()
            return result
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(-1)
            for pid in self._wids:  # only after an unexpected error in this loop
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if pid_file:
                with contextlib.suppress(OSError):
                    os.unlink(pid_file)
            if self.watcher is not None:
                self.watcher.close()
            if self.metrics is not None:
                self.metrics.close()
            for fd in [*self._pipes, self._wake_read, self._wake_write]:
                os.close(fd)
            self._selector.close()

    # -- the loop ---------------------------------------------------------------------------

    def _step(self) -> events.Exit | None:
        now = time.monotonic()
        deadline = self.policy.next_deadline()
        if self.watcher is not None:
            deadline = min(deadline, self.watcher.deadline())
        metrics = self.metrics
        if metrics is not None:
            deadline = min(deadline, metrics.deadline())
        timeout = None if deadline == float("inf") else max(0.0, deadline - now)
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
            elif key.fd in self._pipes:
                self._read(key.fd)
            elif key.data is not None and metrics is not None:
                metrics.ready(key.fd, time.monotonic())
        now = time.monotonic()
        while self._signals:
            signum = self._signals.popleft()
            if signum != signal.SIGCHLD:
                name = signal.Signals(signum).name
                log.info("%s received", name)
                command = _COMMANDS[name]
                self._events.append(events.SignalReceived(command, now))
                if command is Command.RELOAD:
                    self._reload_afresh()
        self._reap(now)
        if self.watcher is not None:
            changed = self.watcher.changes(now)
            if changed:
                log.info("reloading: %s changed", ", ".join(changed[:3]))
                self._events.append(events.SignalReceived(Command.RELOAD, now))
                self._reload_afresh()
        self._events.append(events.Tick(now))
        result = self._execute([])
        if metrics is not None:  # after the policy heard everything (a SIGTERM: not ready)
            metrics.tick(time.monotonic())
        return result

    def _execute(self, actions: list[events.Action]) -> events.Exit | None:
        pending = deque(actions)
        while pending or self._events:
            if not pending:
                pending.extend(self.policy.handle(self._events.popleft()))
                continue
            action = pending.popleft()
            if isinstance(action, events.Exit):
                return action
            self._do(action)
        return None

    def _do(self, action: events.Action) -> None:
        if isinstance(action, events.Spawn):
            self._spawn(action.wid)
        elif isinstance(action, events.Stop | events.Kill):
            pid = self._pids.get(action.wid)
            sig = signal.SIGTERM if isinstance(action, events.Stop) else signal.SIGKILL
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        elif isinstance(action, events.Log):
            log.log(action.level, action.message)
        elif isinstance(action, events.Ready):
            loop = "uvloop" if backend_options(self.config) else self.config.backend
            count = f"{action.workers} worker" + ("s" if action.workers != 1 else "")
            for address in self.addresses:
                log.info(
                    "duoserve %s serving %s on %s — %s, %s; CTRL+C to quit",
                    __version__,
                    action.description,
                    address,
                    loop,
                    count,
                )
            systemd.notify("READY=1", os.environ)
        elif isinstance(action, events.Stopping):
            if self.close_listeners is not None:
                self.close_listeners()
                self.close_listeners = None
            systemd.notify("STOPPING=1", os.environ)

    # -- workers ----------------------------------------------------------------------------

    def _reload_afresh(self) -> None:
        """After a reload, a preloaded app in this process is stale: stop forking it (an
        app object passed to run() cannot be re-imported, so it keeps being forked)."""
        if self.preloaded is not None and self.config.app:
            self.fresh = True

    def _spawn(self, wid: int) -> None:
        read, write = os.pipe()
        slot = self.metrics.new_slot(wid) if self.metrics is not None else -1
        spec = WorkerSpec(
            self.config, self.sockets, channel=write, parent=os.getpid(), metrics_fd=slot
        )
        try:
            pid = start_fresh(spec) if self.fresh else os.fork()
        except OSError as exc:
            os.close(read)
            os.close(write)
            if self.metrics is not None:
                os.close(slot)
                self.metrics.worker_exited(wid)
            now = time.monotonic()
            self._events.append(events.WorkerExited(wid, now, f"could not start: {exc}"))
            return
        if pid == 0:
            os.close(read)
            self._child(spec)
        os.close(write)
        if slot >= 0:
            os.close(slot)  # the worker has its own; this process keeps the mapping
        self._track(wid, pid, read)
        self._events.append(events.WorkerStarted(wid, pid, time.monotonic()))

    def _track(self, wid: int, pid: int, read: int) -> None:
        os.set_blocking(read, False)
        self._pids[wid], self._wids[pid] = pid, wid
        self._pipes[read] = (wid, bytearray())
        self._selector.register(read, selectors.EVENT_READ)

    def _child(self, spec: WorkerSpec) -> None:
        """In a forked worker: drop the supervisor's fds, serve, never return."""
        status = 1
        try:
            self._selector.close()
            for fd in [*self._pipes, self._wake_read, self._wake_write]:
                os.close(fd)
            if self.watcher is not None and (watch_fd := self.watcher.fileno()) is not None:
                os.close(watch_fd)
            if self.metrics is not None:
                self.metrics.close_in_child()
            status = run_worker(spec, self.preloaded)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)

    def _read(self, fd: int) -> bool:
        """Turn what a worker wrote into events; False once nothing more is waiting."""
        wid, buffer = self._pipes[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not data:  # the worker closed it (exited); waitpid reports the exit
            self._selector.unregister(fd)
            del self._pipes[fd]
            os.close(fd)
            return False
        buffer += data
        *lines, rest = bytes(buffer).split(b"\n")
        buffer[:] = rest
        now = time.monotonic()
        for line in lines:
            kind, _, payload = line.decode(errors="replace").partition(" ")
            if kind == "hb":
                requests, _, rss = payload.partition(" ")
                with contextlib.suppress(ValueError):
                    self._events.append(events.Heartbeat(wid, now, int(requests), int(rss)))
            elif kind == "ready":
                self._events.append(events.WorkerReady(wid, now, payload))
            elif kind == "fail":
                self._events.append(events.WorkerFailed(wid, str(json.loads(payload))))
        return True

    def _reap(self, now: float) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            wid = self._wids.pop(pid, None)
            if wid is None:
                continue
            del self._pids[wid]
            for fd, (owner, _) in list(self._pipes.items()):
                if owner == wid:  # what it said last (its boot error) comes before its exit
                    while self._read(fd):
                        pass
            code = os.waitstatus_to_exitcode(status)
            if self.metrics is not None:
                self.metrics.worker_exited(wid)  # it counts no more: keep what it counted
            self._events.append(events.WorkerExited(wid, now, exit_status(status), code))

    def _install_signals(self) -> dict[int, signal._HANDLER]:
        def enqueue(signum: int, frame: FrameType | None) -> None:
            self._signals.append(signum)

        previous: dict[int, signal._HANDLER] = {}
        for name in (*_COMMANDS, "SIGCHLD"):
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, enqueue)
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        return previous
