"""SIGHUP in single-process mode: a worker with fresh code takes over from this server.

Boot a worker with fresh code beside this process's server, and once it serves, drain this
server and become the worker's supervisor."""

from __future__ import annotations

import json
import logging
import math
import os
import select
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ..config.settings import Config
from ..core.server import Server
from ..errors import EXIT_DRAIN_CUT, StartupError
from ..net.sockets import BoundSocket
from .events import Command
from .fresh import start_fresh
from .runtime import Runtime, exit_status
from .worker import SocketRef, WorkerSpec

if TYPE_CHECKING:
    from ..observe.metrics.block import Slot
    from ..observe.metrics.inloop import LocalMetrics

log = logging.getLogger("duoserve.error")


class Handover:
    """Owned by the single-process runner; `worker` is set once a new worker serves."""

    def __init__(self, config: Config, sockets: Sequence[BoundSocket]) -> None:
        self.config = config
        # Copies of the listening fds: this process's server closes its own when it drains.
        self.refs = tuple(SocketRef(os.dup(s.sock.fileno()), s.kind, s.display) for s in sockets)
        self.worker: tuple[int, int, str] | None = None  # pid, pipe, description
        self.command: Command | None = None
        self._busy = False
        self._slot: Slot | None = None  # the new worker's metrics slot

    @property
    def signals(self) -> tuple[signal.Signals, ...]:
        """SIGHUP, when the app can be imported afresh (not an object given to run())."""
        hup: signal.Signals | None = getattr(signal, "SIGHUP", None)
        return (hup,) if hup is not None and self.config.app else ()

    def note_stop(self, *, immediate: bool) -> None:
        """The server is stopping; a worker already handed over must stop too. This
        process's copies of the listeners close now (unless a worker is booting on them):
        left open, they would queue connections that nobody accepts."""
        self.command = Command.QUIT if immediate else Command.STOP
        if not self._busy:
            self._close_refs()

    def _close_refs(self) -> None:
        for ref in self.refs:
            os.close(ref.fd)
        self.refs = ()

    async def start(self, server: Server) -> None:
        if self._busy or self.worker is not None or self.command is not None:
            return
        self._busy = True
        log.info("SIGHUP received: starting a worker with the current code")
        try:
            worker = await anyio.to_thread.run_sync(self._boot, abandon_on_cancel=True)
        finally:
            self._busy = False
        if worker is None:
            return
        if self.command is not None:  # stopped meanwhile: do not hand over
            self._close_refs()
            os.kill(worker[0], signal.SIGTERM)
            await anyio.to_thread.run_sync(os.waitpid, worker[0], 0)
            os.close(worker[1])
            return
        self.worker = worker
        log.info("worker (pid %d) ready; this process drains and supervises it", worker[0])
        server.shutdown()

    def supervise(self, metrics: LocalMetrics | None = None) -> int:
        """Supervise the new worker; `metrics`, this process's, carry on in the runtime:
        what this process counted is kept, and the metrics listener stays the same."""
        assert self.worker is not None
        pid, pipe, description = self.worker
        runtime = Runtime(
            self.config.with_changes(workers=1),
            self.refs,
            close_listeners=self._close_refs,
            metrics_socket=metrics.sock if metrics is not None else None,
        )
        if runtime.metrics is not None and metrics is not None:
            runtime.metrics.totals.add("handed over", metrics.slot)
            runtime.metrics.worker_exited("handed over")
        runtime.adopt(pid, pipe, description, self._slot)
        if self.command is not None:
            runtime.request(self.command)
        try:
            result = runtime.run()
        finally:
            self._close_refs()
        if result.status == EXIT_DRAIN_CUT:
            return result.status
        if result.status:
            raise StartupError(result.message)
        return 0

    def _boot(self) -> tuple[int, int, str] | None:
        """Start the worker and wait for its verdict (in a thread: this blocks)."""
        read, write = os.pipe()
        slot, slot_fd = None, -1
        if self.config.metrics_on:
            from ..observe.metrics.block import create

            slot, slot_fd = create()
        spec = WorkerSpec(
            self.config, self.refs, channel=write, parent=os.getpid(), metrics_fd=slot_fd
        )
        try:
            pid = start_fresh(spec)
        except OSError as exc:
            os.close(read)
            if slot is not None:
                slot.close()
            log.error("reload failed, the old code keeps serving: %s", exc)
            return None
        finally:
            os.close(write)
            if slot_fd >= 0:
                os.close(slot_fd)
        self._slot = slot
        silence = self.config.timeout_worker or math.inf
        deadline, buffer, failure = time.monotonic() + silence, b"", ""
        while True:
            ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
            data = os.read(read, 65536) if ready else b""
            if not data:
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    failure = failure or f"the new worker sent nothing for {silence:g}s"
                status = exit_status(os.waitpid(pid, 0)[1])
                os.close(read)
                if self._slot is not None:
                    self._slot.close()
                    self._slot = None
                log.error("reload failed, the old code keeps serving: %s", failure or status)
                return None
            deadline = time.monotonic() + silence
            *lines, rest = (buffer + data).split(b"\n")
            buffer = rest
            for line in lines:
                kind, _, payload = line.decode(errors="replace").partition(" ")
                if kind == "ready":
                    return pid, read, payload
                if kind == "fail":
                    failure = str(json.loads(payload))
