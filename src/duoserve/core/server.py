"""One worker's server: listeners, the accept loop, lifespan, graceful drain.

Listeners, the accept loop with its connection limit, lifespan, and graceful drain on
shutdown."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute

from ..asgi.context import ABANDON_THREADS, FRESH_GRACE, ServerContext
from ..asgi.lifespan import Lifespan
from ..config.settings import Config
from ..edge.proxy import TrustedProxies
from ..edge.static import with_static
from ..errors import EXIT_DRAIN_CUT, StartupError
from ..http1.codec import codec_factory
from ..http2.limits import limits_from_config
from ..net.accept import AcceptedKind, accepted_kind, open_stream, wait_readable
from ..net.sockets import BoundSocket, bind_all, close_all
from ..net.tasks import ConnectionTasks
from ..net.tls import TLSSetup, https_url
from ..types import ASGIApp, ConnInfo, InterfaceName
from .admit import serve_accepted

_new_tuple = tuple.__new__  # builds a NamedTuple without its constructor's Python frame

if TYPE_CHECKING:
    from ..observe.metrics.recorder import Recorder

log = logging.getLogger("duoserve.error")

# Out of file descriptors: wait a little instead of spinning on accept().
_ACCEPT_BACKOFF = 0.5
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# The client gave up between SYN and accept(): nothing to serve, take the next one.
_TRANSIENT_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}
# Connections accepted back to back before the accept loop lets other tasks run.
_ACCEPT_BATCH = 64


class Server:
    """Serves `app` (an ASGI 3 callable) per `config` until `shutdown()` is called.

    Use inside an anyio task group: `addresses = await tg.start(server.serve)`; the
    addresses are the real ones (port 0 resolved). Sockets may be bound beforehand and
    passed in (the supervisor binds once for all workers); otherwise serve() binds them."""

    def __init__(
        self,
        config: Config,
        app: ASGIApp,
        *,
        sockets: Sequence[BoundSocket] | None = None,
        websocket_enabled: bool = True,
        interface: InterfaceName = "asgi",
        metrics: Recorder | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics  # installed into the context: the requests are observed
        self.app = with_static(app, config)
        self.websocket_enabled = websocket_enabled and config.ws != "none"
        self.interface: InterfaceName = interface  # "wsgi" for the WSGI adapter, in the access log
        self.addresses: list[str] = []
        self.lifespan_supported = False
        self._sockets = list(sockets) if sockets is not None else None
        self._stop_requested = False
        self._stop: anyio.Event | None = None
        self._open = 0
        self._all_closed: anyio.Event | None = None
        self.cut = 0  # connections still open when the drain stopped waiting for them

    @property
    def exit_status(self) -> int:
        """What the process exits with once serve() has returned: 0 when the drain was
        clean, EXIT_DRAIN_CUT when it cut connections."""
        return EXIT_DRAIN_CUT if self.cut else 0

    def open_connections(self) -> int:
        """Connections accepted and not yet closed (a gauge for the metrics)."""
        return self._open

    def shutdown(self) -> None:
        """Begin a graceful stop: no new connections; in-flight requests may finish."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        self._stop = anyio.Event()
        if self._stop_requested:
            self._stop.set()
        owned = self._sockets is None
        h2 = limits_from_config(config, self.websocket_enabled)
        tls = TLSSetup.from_config(config, http2=h2 is not None)
        trusted = TrustedProxies.parse(config.forwarded_allow_ips, config.proxy_headers_format)
        sockets = bind_all(config) if self._sockets is None else self._sockets
        try:
            listeners = [await anyio.abc.SocketListener.from_socket(s.sock) for s in sockets]
            self.addresses = [https_url(s.display, config) for s in sockets]
            state: dict[str, Any] = {}
            ctx = ServerContext(
                config=config,
                app=self.app,
                codec_factory=codec_factory(config),
                websocket_enabled=self.websocket_enabled,
                interface=self.interface,
                lifespan_state=state,
                trusted=trusted,
                tls=tls,
                h2=h2,
            )
            if self.metrics is not None:
                self.metrics.install(ctx)
            async with _unwrap_startup_error(), anyio.create_task_group() as tg:
                lifespan = Lifespan(self.app, config.lifespan, config.timeout_lifespan, state)
                try:
                    await lifespan.startup(tg)
                    self.lifespan_supported = lifespan.supported
                    task_status.started(self.addresses)
                    await self._serve_connections(listeners, ctx)
                finally:
                    with anyio.CancelScope(shield=True):
                        await lifespan.shutdown()
                    lifespan.close()
        finally:
            if owned:
                close_all(sockets)

    async def _serve_connections(
        self, listeners: list[anyio.abc.SocketListener], ctx: ServerContext
    ) -> None:
        assert self._stop is not None
        config = self.config
        slots = ConnectionSlots(config.limit_connections)
        # Set at the deadline: a cancelled WSGI request stops waiting for its thread.
        abandon = anyio.Event()
        token = ABANDON_THREADS.set(abandon)
        try:
            async with anyio.create_task_group() as group:
                connections = ctx.connections = ConnectionTasks(group)
                group.start_soon(_keep_defaults_current, ctx)  # ends with the group
                try:
                    async with anyio.create_task_group() as accepting:
                        for listener in listeners:
                            accepting.start_soon(
                                self._accept_loop, listener, connections, slots, ctx
                            )
                        await self._stop.wait()
                        accepting.cancel_scope.cancel()
                    for listener in listeners:
                        self._close_listener(listener, connections, slots, ctx)
                    await self._drain(ctx, connections, abandon)
                finally:
                    # Also when the accept loop failed or the server is cancelled.
                    self.cut = max(self.cut, self._open)
                    abandon.set()
                    with anyio.move_on_after(config.ws_close_timeout, shield=True):
                        await connections.aclose()
        finally:
            ABANDON_THREADS.reset(token)

    def _close_listener(
        self,
        listener: anyio.abc.SocketListener,
        connections: ConnectionTasks,
        slots: ConnectionSlots,
        ctx: ServerContext,
    ) -> None:
        """Stop listening, with no await between the last accept() and the close: what
        the kernel has queued is accepted and answered (with `Connection: close`) rather
        than reset when the socket closes. Beyond --limit-connections too: the listen
        backlog bounds them, and the drain deadline bounds how long they are served."""
        raw: socket.socket = listener.extra(SocketAttribute.raw_socket)
        kind = accepted_kind(raw)
        while True:
            try:
                client = _accept_now(raw, kind)
            except OSError:
                break
            if client is None:
                break
            slots.take()
            self._start(connections, client, slots, ctx)
        with contextlib.suppress(OSError):
            raw.close()

    async def _drain(
        self, ctx: ServerContext, connections: ConnectionTasks, abandon: anyio.Event
    ) -> None:
        """Graceful drain: idle keep-alive connections close now, busy ones after their
        current request. At the deadline the HTTP connections left are cancelled (apps
        cancelled, WSGI threads abandoned) and WebSockets get their close handshake."""
        config = self.config
        self._all_closed = anyio.Event()
        if self._open == 0:
            self._all_closed.set()
        ctx.begin_shutdown()
        with anyio.move_on_after(config.timeout_graceful_shutdown):
            with anyio.move_on_after(FRESH_GRACE):
                await self._all_closed.wait()
            ctx.end_fresh_grace()
            await self._all_closed.wait()
        if self._all_closed.is_set():
            return
        self.cut = self._open
        log.warning("graceful shutdown timed out; closing %d connection(s)", self._open)
        ctx.force_close.set()
        abandon.set()
        connections.cancel()
        with anyio.move_on_after(config.ws_close_timeout, shield=True):
            await self._all_closed.wait()

    async def _accept_loop(
        self,
        listener: anyio.abc.SocketListener,
        connections: ConnectionTasks,
        slots: ConnectionSlots,
        ctx: ServerContext,
    ) -> None:
        raw: socket.socket = listener.extra(SocketAttribute.raw_socket)
        kind = accepted_kind(raw)
        while True:
            # A burst of new connections is taken in one go: a loop turn per connection
            # (what acquiring the semaphore costs) made the last of 64 new clients wait for
            # 63 busy turns. Yield every _ACCEPT_BATCH so serving is not starved.
            for _ in range(_ACCEPT_BATCH):
                if not slots.free():
                    await slots.wait_free()  # the rest wait in the listen backlog
                try:
                    client = _accept_now(raw, kind)
                except OSError as exc:
                    if exc.errno in _TRANSIENT_ERRNOS:
                        continue
                    if exc.errno not in _RESOURCE_ERRNOS:
                        raise
                    log.warning("accept() failed: %s; retrying in %.1fs", exc, _ACCEPT_BACKOFF)
                    await anyio.sleep(_ACCEPT_BACKOFF)
                    continue
                if client is None:
                    await wait_readable(raw)
                    continue
                slots.take()  # no await since free(): the slot is still there
                self._start(connections, client, slots, ctx)
            await anyio.lowlevel.checkpoint()

    def _start(
        self,
        connections: ConnectionTasks,
        client: socket.socket,
        slots: ConnectionSlots,
        ctx: ServerContext,
    ) -> None:
        """Serve an accepted connection in its own task. It counts as open from now on,
        not from when its task first runs: the drain must not end before that."""
        self._open += 1
        connections.start(self._handle, client, slots, ctx)

    async def _handle(
        self, client: socket.socket, slots: ConnectionSlots, ctx: ServerContext
    ) -> None:
        """Serve one accepted connection (counted in `_open` by _start())."""
        try:
            info = conn_info(client)
            stream = await open_stream(
                client, close_timeout=self.config.timeout_io, tcp=info.client is not None
            )
        except BaseException as exc:
            with contextlib.suppress(OSError):
                client.close()
            self._closed_one(slots)
            if isinstance(exc, OSError):
                return  # the client left before its connection could be set up
            raise
        try:
            await serve_accepted(stream, info, ctx)
        except Exception:
            log.exception("unexpected error while serving a connection")
        finally:
            self._closed_one(slots)

    def _closed_one(self, slots: ConnectionSlots) -> None:
        slots.give()
        self._open -= 1
        if self._open == 0 and self._all_closed is not None:
            self._all_closed.set()


def _accept_now(raw: socket.socket, kind: AcceptedKind) -> socket.socket | None:
    """Accept one connection if one is queued, else None. A plain non-blocking call with
    no await after it, so cancelling the loop (shutdown) can never lose a connection the
    kernel already handed over. Another process winning the race on a shared socket is
    None too. What socket.accept() does, with the listener's `kind` worked out once."""
    try:
        fd, _ = raw._accept()  # type: ignore[attr-defined]  # what socket.accept() wraps
    except BlockingIOError:
        return None
    client = kind.cls(*kind.args, fileno=fd)
    client.setblocking(False)
    return client


async def _keep_defaults_current(ctx: ServerContext) -> None:
    """Refresh the Server and Date headers just after each second begins, so that the
    response path reads them as an attribute instead of asking the clock every time."""
    while True:
        ctx.refresh_defaults()
        await anyio.sleep(1.0005 - time.time() % 1.0)


@contextlib.asynccontextmanager
async def _unwrap_startup_error() -> AsyncIterator[None]:
    """Raise a StartupError as itself, not inside the task group's exception group, so
    callers can catch it plainly."""
    try:
        yield
    except BaseException as exc:
        inner: Sequence[BaseException] = getattr(exc, "exceptions", ())
        if len(inner) == 1 and isinstance(inner[0], StartupError):
            raise inner[0] from None
        raise


def conn_info(sock: socket.socket) -> ConnInfo:
    """Client and server addresses as ASGI wants them ((host, port), or None), read from
    the accepted socket (a Unix socket's peer has no address). Raises OSError when the
    client has already gone."""
    remote = sock.getpeername()
    local = sock.getsockname()
    # An IP socket gives (host, port) as str and int, IPv6 with flow info and scope after.
    client = remote[:2] if type(remote) is tuple else None
    server: tuple[str, int | None] | None
    if type(local) is tuple:
        server = local[:2]
    elif local:
        server = (local if isinstance(local, str) else os.fsdecode(local), None)
    else:
        server = None
    return _new_tuple(ConnInfo, (client, server, "http", None, None, None))


class ConnectionSlots:
    """--limit-connections: a count of the connections that may still open. The accept
    loop takes one per connection it accepts and each connection gives its own back when
    it ends; an event exists only while the loop waits for one (cheaper per connection
    than a semaphore, which this replaced). The connections accepted while the listener
    closes are taken beyond the limit (the count goes below zero), so what they give back
    keeps it right."""

    __slots__ = ("_free", "_freed")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._freed: anyio.Event | None = None

    def free(self) -> bool:
        return self._free > 0

    def take(self) -> None:
        self._free -= 1

    async def wait_free(self) -> None:
        while self._free <= 0:
            if self._freed is None:
                self._freed = anyio.Event()
            await self._freed.wait()

    def give(self) -> None:
        self._free += 1
        freed = self._freed
        if freed is not None:
            self._freed = None
            freed.set()
