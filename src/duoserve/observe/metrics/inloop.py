"""--single-process metrics: the process's own slot, served from its own event loop.

The process's own slot, served from its own event loop (an anyio listener beside the app's)
and flushed to StatsD from a task there."""

from __future__ import annotations

import contextlib
import socket

import anyio
import anyio.abc

from ...config.settings import Config
from .block import Slot
from .endpoints import CLIENT_TIMEOUT, MAX_CLIENTS, MAX_REQUEST, complete, respond
from .statsd import StatsdSender
from .totals import Lifecycle, Snapshot, Totals


class LocalMetrics:
    """The Source of a single process: one slot, ready once serving until told to stop."""

    def __init__(self, config: Config, slot: Slot, sock: socket.socket | None) -> None:
        self.slot = slot
        self.sock = sock
        self.totals = Totals()
        self.totals.add("self", slot)
        self.statsd = (
            StatsdSender(config.statsd_host, config.statsd_prefix, config.dogstatsd_tags)
            if config.statsd_host
            else None
        )
        self.interval = config.statsd_interval
        self._reason = "starting"

    def started(self) -> None:
        self._reason = ""

    def stopping(self) -> None:
        """Not ready from now on: the stop has begun (a load balancer should stop sending)."""
        self._reason = "shutting down"

    # -- Source ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self.totals.snapshot()

    def lifecycle(self) -> Lifecycle:
        ready = not self._reason
        return Lifecycle(
            healthy=True, ready=ready, reason=self._reason, workers_ready=int(ready), starts=1
        )

    # -- tasks ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the listener and flush StatsD until cancelled; a last flush at the end."""
        try:
            async with anyio.create_task_group() as tg:
                if self.sock is not None:  # a copy: a SIGHUP handover keeps the original
                    tg.start_soon(self._serve, self.sock.dup())
                if self.statsd is not None:
                    tg.start_soon(self._flush_forever, self.statsd)
        finally:
            if self.statsd is not None:
                self.statsd.flush(self.snapshot(), self.lifecycle())
                self.statsd.close()

    async def _flush_forever(self, sender: StatsdSender) -> None:
        while True:
            await anyio.sleep(self.interval)
            sender.flush(self.snapshot(), self.lifecycle())

    async def _serve(self, sock: socket.socket) -> None:
        listener = await anyio.abc.SocketListener.from_socket(sock)
        limiter = anyio.CapacityLimiter(MAX_CLIENTS)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                if limiter.available_tokens == 0:
                    return
                async with limiter:
                    with anyio.move_on_after(CLIENT_TIMEOUT):
                        data = b""
                        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                            while not complete(data):
                                data += await stream.receive(MAX_REQUEST + 1)
                            await stream.send(respond(data, self))

        async with listener:
            await listener.serve(handle)
