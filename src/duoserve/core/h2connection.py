"""The HTTP/2 connection driver: streams through the one HTTP cycle in workers, one writer.

Socket bytes go into the sans-IO H2ServerConnection; the connection's workers serve its
streams by the one HTTP cycle, and one writer task takes frames to the socket.

No protocol rule lives here (they are in `http2/`), and no ASGI semantics (they are in
`asgi.cycle`): this module moves bytes, starts and ends tasks, and applies the same
per-request features as HTTP/1.1 (limits, proxy headers, request ids, access log, metrics).
"""

from __future__ import annotations

import contextlib
import math
from collections import deque

import anyio
import anyio.abc
import anyio.lowlevel

from ..asgi.context import ServerContext
from ..asgi.scope import http_scope
from ..edge.proxy import resolve_proxy
from ..errors import ClientDisconnected
from ..http1.events import RequestHead
from ..http2 import events as ev
from ..http2.connection import H2ServerConnection
from ..net.streams import send_parts_within
from ..net.tasks import ConnectionTasks
from ..net.wakeup import Wakeup, running_loop
from ..types import ConnInfo
from .featured import serve_featured
from .h2connect import H2Tunnel, serve_connect
from .h2framing import H2Cycle
from .h2stream import H2Stream

_READ_SIZE = 64 * 1024
_HIGH_WATER = 64 * 1024  # queued output above which senders wait for the writer
_CLOSE_GRACE = 1.0  # for the last GOAWAY to leave before the socket closes
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


async def serve_h2(
    stream: anyio.abc.ByteStream,
    info: ConnInfo,
    ctx: ServerContext,
    received: bytes = b"",
    upgrade: tuple[RequestHead, bytes] | None = None,
) -> None:
    """Serve one HTTP/2 connection until either side ends it. `received`: bytes already
    read from it (the preface, when HTTP/1.1 parsing found it); `upgrade`: the request
    that asked for `Upgrade: h2c` and its decoded HTTP2-Settings (it becomes stream 1).
    The caller closes the stream."""
    driver = H2Driver(stream, info, ctx)
    await driver.run(received, upgrade)


async def serve_h2_connection(
    stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext
) -> None:
    """A connection that chose h2 by ALPN: served, then closed."""
    try:
        await serve_h2(stream, info, ctx)
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(*_STREAM_ERRORS):
            await stream.aclose()


class H2Driver:
    """One HTTP/2 connection's tasks and output buffer."""

    def __init__(self, stream: anyio.abc.ByteStream, info: ConnInfo, ctx: ServerContext) -> None:
        assert ctx.h2 is not None
        self.stream = stream
        self.info = info
        self.ctx = ctx
        self.h2 = H2ServerConnection(ctx.h2)
        self.streams: dict[int, H2Stream] = {}
        self._tasks: ConnectionTasks  # the workers' and tunnels' tasks, made in run()
        self._queue: deque[H2Stream] = deque()  # streams waiting for a worker
        self.loop = running_loop()  # for the Wakeups, made per wait (None on trio)
        self._now = anyio.current_time if self.loop is None else self.loop.time  # no lookup
        self._waiting = 0  # idle workers (one at most), from its wait until it runs again
        self._more: Wakeup | None = None  # the idle worker waits for streams queued
        self._starting = False  # a worker task is started but has not run yet
        self._out: list[bytes | memoryview] = []  # frames for the writer, in order
        self._queued = 0  # bytes in _out
        self._pending = False  # the sans-IO connection has output not yet in _out
        self._taken = 0  # how many times the writer has taken _out
        self._idle_writer: Wakeup | None = None  # the writer waits for something to send
        self._full: list[Wakeup] = []  # streams waiting for the writer to take _out
        self._sent: Wakeup | None = None  # for the last GOAWAY: the writer emptied _out
        self._reading: anyio.CancelScope | None = None
        self._writer_scope = anyio.CancelScope()  # the writer's, once it runs
        self._idle_wait: anyio.CancelScope | None = None  # a read: idle once no stream is busy
        self.dead = False  # the socket failed: nothing more to send
        config = ctx.config
        # The plain path when no per-request feature is on, as HTTP/1.1 has it.
        featureless = not (config.limit_concurrency or config.request_id or ctx.access is not None)
        self._plain = featureless and ctx.metrics is None
        trusted = ctx.trusted if config.proxy_headers else None
        self._trusted = trusted if trusted is not None and trusted.trusts(info.client) else None

    @property
    def peer(self) -> str:
        client = self.info.client
        return f"{client[0]}:{client[1]}" if client else "unix"

    # -- output ------------------------------------------------------------------------
    def queue_out(self) -> None:
        """The sans-IO connection has frames to send: the writer takes them when it runs,
        in one take per write rather than one per frame (a stream queues several)."""
        if not self._pending:
            self._pending = True
            writer = self._idle_writer
            if writer is not None:
                self._idle_writer = None
                writer.set()

    def _take_out(self) -> None:
        """Move what the sans-IO connection wants sent into the writer's queue."""
        self._pending = False
        pieces = self.h2.output()
        if pieces and not self.dead:
            self._out += pieces
            self._queued += sum(map(len, pieces))

    def must_drain(self) -> bool:
        if self._pending:
            self._take_out()
        return self._queued > _HIGH_WATER

    async def drain(self) -> None:
        """Past the high-water mark: until the writer has taken what is queued now (it
        fails the connection past timeout_io). Every stream waiting is let go when it does,
        rather than one at a time; each has a Wakeup of its own (one waiter each)."""
        if self.must_drain():
            taken = self._taken
            while taken == self._taken and not self.dead:
                self._full.append(room := Wakeup(self.loop))
                await room.wait()
        if self.dead:
            raise ClientDisconnected("the client has disconnected")

    def _spared(self) -> contextlib.AbstractContextManager[anyio.CancelScope]:
        """A block the graceful deadline does not cancel (ServerContext.force_close): the
        connection's reader and writer, which its WebSockets' close handshakes need. Its
        other streams are cancelled then, as the server's connections are (theirs are
        `within` them), and the reader ends once no stream is left. The server's last
        `aclose()` ends the block all the same."""
        connections = self.ctx.connections
        return anyio.CancelScope() if connections is None else connections.spared()

    async def _writer(self) -> None:
        ended = self._writer_scope  # cancelled when the connection ended before we ran
        try:
            with self._spared() as self._writer_scope:
                if not ended.cancel_called:
                    await self._write_all()
        except (TimeoutError, *_STREAM_ERRORS):
            self._fail()

    async def _write_all(self) -> None:
        timeout = self.ctx.config.timeout_io
        while True:
            if self._pending or self._out:  # queued while a write waited: one checkpoint
                await anyio.lowlevel.checkpoint()  # first for more, as an Event set did
            else:
                self._idle_writer = writer = Wakeup(self.loop)
                await writer.wait()
            while self._starting and self._queue:  # a worker about to serve: its first
                await anyio.lowlevel.checkpoint()  # output goes in this write, not the next
            if self._pending:
                self._take_out()
            pieces = self._out
            self._out = []
            self._queued = 0
            self._taken += 1
            if self._full:
                self._let_go()
            if pieces:  # one write, one system call, the frames not copied
                await send_parts_within(self.stream, pieces, timeout)
            if self._sent is not None and not self._out and not self._pending:
                self._sent.set()

    def _let_go(self) -> None:  # the streams waiting in drain()
        full = self._full
        self._full = []
        for room in full:
            room.set()

    def _fail(self) -> None:
        """The socket is gone or stalled: every stream learns the client left."""
        self.dead = True
        self._let_go()
        if self._sent is not None:
            self._sent.set()
        for port in self.streams.values():
            port.reset_by_peer()
        if self._reading is not None:
            self._reading.cancel()

    # -- the connection ----------------------------------------------------------------
    async def run(self, received: bytes, upgrade: tuple[RequestHead, bytes] | None) -> None:
        ctx = self.ctx
        h2 = self.h2
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer)
            # Workers in plain tasks on asyncio, the group's on trio; ended with the
            # connection, cancelled at the graceful deadline with the server's connections.
            self._tasks = ConnectionTasks(tg, ctx.connections)
            h2.initiate(None if upgrade is None else upgrade[1])
            if upgrade is not None:
                self._start_stream(tg, 1, upgrade[0])
            ctx.idle.add(self)  # a graceful stop calls cancel(): GOAWAY
            if ctx.stopping:
                self.cancel()
            try:
                if received:  # the ACK of the client's SETTINGS goes out now, not later
                    self._handle(tg, h2.receive_data(received))
                self.queue_out()
                await self._read(tg)
            finally:
                ctx.idle.discard(self)
                h2.close()
                self._take_out()
                if self._out and not self.dead:
                    self._sent = sent = Wakeup(self.loop)
                    self.queue_out()  # wakes the writer
                    with anyio.move_on_after(_CLOSE_GRACE, shield=True):
                        await sent.wait()
                with anyio.CancelScope(shield=True):
                    await self._tasks.aclose()  # cancels the group too
                    self._writer_scope.cancel()

    async def _read(self, tg: anyio.abc.TaskGroup) -> None:
        """Read and dispatch until the client leaves, the connection fails, it is idle past
        timeout_keep_alive (`idle`'s deadline while no stream is busy; one scope for every
        read, as each costs a backend lookup), or a graceful stop finds no stream left."""
        config = self.ctx.config
        h2 = self.h2
        with self._spared() as self._reading, anyio.CancelScope() as idle:
            while not h2.ended and not self.dead:
                if self._finished_stopping():
                    return
                if not h2.busy:
                    idle.deadline = self._now() + config.timeout_keep_alive
                elif idle.deadline != math.inf:
                    idle.deadline = math.inf
                self._idle_wait = idle
                try:
                    data = await self.stream.receive(_READ_SIZE)
                except _STREAM_ERRORS:
                    data = b""
                finally:
                    self._idle_wait = None
                if not data:
                    self._fail()
                    return
                self._handle(tg, h2.receive_data(data))
                self.queue_out()

    def _finished_stopping(self) -> bool:
        return self.h2.stopping and not self.h2.busy

    def cancel(self) -> None:
        """Graceful stop (ServerContext.begin_shutdown): GOAWAY; in-flight streams finish,
        new ones are refused; the connection closes once none is left."""
        self.h2.shutdown()
        self.queue_out()
        if not self.h2.busy and self._reading is not None:
            self._reading.cancel()

    def _handle(self, tg: anyio.abc.TaskGroup, events: list[ev.Event]) -> None:
        streams = self.streams
        for event in events:
            if isinstance(event, ev.BodyData):
                port = streams.get(event.stream_id)
                if port is None:  # its cycle is over: the credit goes back at once
                    self.h2.acknowledge(event.stream_id, len(event.data))
                else:
                    port.feed(event.data)
            elif isinstance(event, ev.RequestHead):
                assert event.view is not None  # inbound makes every head with its view
                self._start_stream(tg, event.stream_id, event.view)
            elif isinstance(event, ev.StreamEnded | ev.StreamReset | ev.WindowOpened):
                sid = event.stream_id
                if sid == 0:
                    for port in streams.values():
                        port.wake()
                elif (found := streams.get(sid)) is not None:
                    if isinstance(event, ev.StreamEnded):
                        found.feed_end()
                    elif isinstance(event, ev.StreamReset):
                        found.reset_by_peer()
                    else:
                        found.wake()
            elif isinstance(event, ev.ConnectionFailed):
                name = event.error_code.name
                self.ctx.error_log.info(
                    "%s: HTTP/2 connection closed: %s (%s)", self.peer, event.reason, name
                )
                self._lose_streams()
            else:  # GoAwayReceived: h2 sends nothing after it
                self._lose_streams()

    def _lose_streams(self) -> None:
        for port in self.streams.values():
            port.reset_by_peer()

    # -- one stream ---------------------------------------------------------------------
    def _start_stream(self, tg: anyio.abc.TaskGroup, stream_id: int, head: RequestHead) -> None:
        """Queue the stream for a worker; a CONNECT stream (a WebSocket, long-lived and
        spared at the graceful deadline) gets a task of its own."""
        if head.method == b"CONNECT":
            tunnel = H2Tunnel(self, stream_id, head)
            self.streams[stream_id] = tunnel
            self._tasks.start(self._serve, tunnel)
            return
        port = H2Stream(self, stream_id, head)
        self.streams[stream_id] = port
        self._queue.append(port)
        if (more := self._more) is not None:  # the idle worker's (inlined _wake_idle())
            self._more = None
            more.set()
        elif not (self._waiting or self._starting):  # none woken yet to run, none on its way
            self._starting = True
            self._tasks.start(self._work)

    async def _work(self) -> None:
        """Serve queued streams one after another. A task per stream cost about a tenth of
        a small request; most streams finish without waiting, so one worker serves a
        whole read's worth of them. Before it serves one that leaves others queued, it
        makes sure another worker is on its way (started, or one idle, woken): a stream
        that waits never holds up the next. One worker stays idle between reads."""
        self._starting = False
        queue = self._queue
        try:
            while True:
                while queue:
                    port = queue.popleft()
                    if queue and not self._starting:
                        if self._waiting:
                            self._wake_idle()
                        else:
                            self._starting = True
                            self._tasks.start(self._work)
                    try:
                        await self._serve(port)
                    except Exception as exc:  # a bug: this stream's, not the queue's
                        self.ctx.error_log.error("unexpected error in a stream", exc_info=exc)
                if self._waiting:
                    return  # one idle worker is enough
                self._waiting += 1
                try:
                    self._more = more = Wakeup(self.loop)
                    await more.wait()
                finally:
                    self._waiting -= 1
        finally:
            if not (self._waiting or self._starting):  # cancelled: no worker is left
                while queue:
                    self._done(queue.popleft())

    def _wake_idle(self) -> None:
        if (more := self._more) is not None:  # None once woken: it runs soon
            self._more = None
            more.set()

    async def _serve(self, port: H2Stream) -> None:
        """One request: the same features and cycle as HTTP/1.1's HTTPConnection._serve."""
        ctx = self.ctx
        config = ctx.config
        head = port.request
        try:
            limit = config.limit_request_body
            if limit and head.content_length is not None and head.content_length > limit:
                await port.send_error(413, "request body too large")
                return
            info = self.info
            if self._trusted is not None:
                info = resolve_proxy(info, head.headers, self._trusted)
            if type(port) is H2Tunnel:
                await serve_connect(port, info)
            elif self._plain:  # serve_featured() with none of its features: cycle.run() inline
                cycle = H2Cycle(port, head)
                scope = http_scope(head, info, config, ctx.lifespan_state)
                try:
                    await ctx.app(scope, cycle.receive, cycle.send)
                except Exception as exc:
                    await cycle.failed(exc)
                else:
                    if cycle.response_complete:
                        cycle.finished()
                    else:
                        await cycle.unfinished()
                if not port.closed:
                    await port.flush()
            elif await serve_featured(ctx, head, info, H2Cycle, port, port.send_error):
                await port.flush()
        finally:
            self._done(port)

    def _done(self, port: H2Stream) -> None:
        """The stream's cycle is over, or it was never served: its slot is free."""
        self.streams.pop(port.stream_id, None)
        if not port.closed and not self.dead:
            port.abort()
        self.h2.release(port.stream_id)
        self.queue_out()
        if not self.h2.busy:
            if self._finished_stopping() and self._reading is not None:
                self._reading.cancel()
            elif self._idle_wait is not None:  # idle from now: the keep-alive timeout
                timeout = self.ctx.config.timeout_keep_alive
                self._idle_wait.deadline = self._now() + timeout


__all__ = ["H2Driver", "serve_h2", "serve_h2_connection"]
