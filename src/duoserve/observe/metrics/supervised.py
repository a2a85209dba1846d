"""The metrics of a supervisor and its workers: slots folded, served and flushed.

A slot per worker, folded in when the worker exits, served by the select-loop listener and
flushed to StatsD on a timer."""

from __future__ import annotations

import math
import selectors
import socket
from collections.abc import Callable, Hashable

from ...config.settings import Config
from . import block
from .selectloop import SelectListener
from .statsd import StatsdSender
from .totals import Lifecycle, Snapshot, Totals


class SupervisorMetrics:
    """Owned by the supervisor's runtime. `lifecycle` reads the policy's view of the
    workers; everything else comes from the workers' slots."""

    def __init__(
        self,
        config: Config,
        sock: socket.socket | None,
        selector: selectors.BaseSelector,
        lifecycle: Callable[[], Lifecycle],
        now: float,
    ) -> None:
        self.totals = Totals()
        self._lifecycle = lifecycle
        self.listener = SelectListener(sock, self, selector) if sock is not None else None
        self.statsd = (
            StatsdSender(config.statsd_host, config.statsd_prefix, config.dogstatsd_tags)
            if config.statsd_host
            else None
        )
        self.interval = config.statsd_interval
        self._next_flush = now + self.interval if self.statsd is not None else math.inf

    # -- Source ----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self.totals.snapshot()

    def lifecycle(self) -> Lifecycle:
        return self._lifecycle()

    # -- workers ---------------------------------------------------------------------------
    def new_slot(self, key: Hashable) -> int:
        """A slot for a worker about to start; the fd is for it to attach (then close)."""
        slot, fd = block.create()
        self.totals.add(key, slot)
        return fd

    def worker_exited(self, key: Hashable) -> None:
        self.totals.fold(key)

    # -- the loop ------------------------------------------------------------------------------
    def deadline(self) -> float:
        listener = self.listener.deadline() if self.listener is not None else math.inf
        return min(listener, self._next_flush)

    def ready(self, fd: int, now: float) -> None:
        if self.listener is not None:
            self.listener.ready(fd, now)

    def tick(self, now: float) -> None:
        if self.listener is not None:
            self.listener.expire(now)
        if self.statsd is not None and now >= self._next_flush:
            self._next_flush = now + self.interval
            self.statsd.flush(self.snapshot(), self.lifecycle())

    def close(self) -> None:
        """At exit: a last StatsD flush (what the stop counted), then close everything."""
        if self.statsd is not None:
            self.statsd.flush(self.snapshot(), self.lifecycle())
            self.statsd.close()
        if self.listener is not None:
            self.listener.close()
        self.totals.close()

    def close_in_child(self) -> None:
        """In a forked worker: close the copies of the sockets and unmap every slot."""
        if self.listener is not None:
            self.listener.close_in_child()
        if self.statsd is not None:
            self.statsd.close()
        self.totals.close()
