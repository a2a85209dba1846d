"""Per-server and per-connection facts handed down the layers instead of long argument lists."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ..config.settings import Config
from ..http1.headers import DateClock, HeaderCache
from ..net.head_wait import Cancellable
from ..net.tasks import ConnectionTasks
from ..types import ASGIApp, Headers, InterfaceName

if TYPE_CHECKING:
    from ..edge.proxy import TrustedProxies
    from ..http2.limits import H2Limits
    from ..net.tls import TLSSetup
    from ..observe.access_log import AccessLog
    from ..observe.metrics.recorder import Recorder

# A connection accepted just before the listener closed usually has its first request
# already on the wire: it gets this long to start it (capped by timeout_request_head)
# instead of being cut like an idle keep-alive connection.
FRESH_GRACE = 1.0

# Set by the server for its connection tasks at the graceful deadline (wsgi.thread_pool reads
# it; the server never imports the WSGI layer): once the event is set, a cancelled run()
# returns without waiting for its thread.
ABANDON_THREADS: contextvars.ContextVar[anyio.Event | None] = contextvars.ContextVar(
    "duoserve_abandon_threads", default=None
)


@dataclass(slots=True)
class ServerContext:
    """What every connection of one server shares. `shutting_down` is set once a graceful
    stop begins: idle connections are closed (their waits are in `idle`), new ones that
    have not sent their first request yet get `FRESH_GRACE` seconds more (their waits are
    in `fresh`), busy ones finish their request and close. `force_close` is set when the
    graceful timeout runs out: the HTTP connections left are cancelled at once, and
    WebSockets (which run in `connections.spared()`) send their close frame and get
    ws_close_timeout for the handshake."""

    config: Config
    app: ASGIApp
    codec_factory: Callable[[Config], Any]
    websocket_enabled: bool = True
    interface: InterfaceName = "asgi"  # what the app is, for the access log
    lifespan_state: dict[str, Any] = field(default_factory=dict)
    shutting_down: anyio.Event = field(default_factory=anyio.Event)
    stopping: bool = False  # shutting_down.is_set(), read on every request without a call
    force_close: anyio.Event = field(default_factory=anyio.Event)
    idle: set[Cancellable] = field(default_factory=set)
    fresh: set[Cancellable] = field(default_factory=set)
    connections: ConnectionTasks | None = None  # set by the server once it accepts
    date_clock: DateClock = field(default_factory=DateClock)
    header_cache: HeaderCache = field(default_factory=HeaderCache)
    error_log: logging.Logger = field(default_factory=lambda: logging.getLogger("duoserve.error"))
    access_log: logging.Logger = field(default_factory=lambda: logging.getLogger("duoserve.access"))
    in_flight: int = 0
    # The network edge (proxy.py, tls.py, edge.py): whose proxy headers and PROXY protocol
    # headers are believed, the TLS context, open connections per client address.
    trusted: TrustedProxies | None = None
    tls: TLSSetup | None = None
    h2: H2Limits | None = None  # HTTP/2 served, with these bounds (--http2)
    per_ip: dict[str, int] = field(default_factory=dict)
    access: AccessLog | None = field(init=False, default=None)  # None when --no-access-log
    metrics: Recorder | None = field(init=False, default=None)  # --metrics-bind, --statsd-host
    # Server and Date headers for every response, per the settings: one list a second,
    # shared by every response in it (a caller that adds to it makes a copy first), kept
    # current by the server calling refresh_defaults() every second, as a plain attribute
    # for the response path to read.
    defaults: Headers = field(init=False, default_factory=list)
    _defaults_date: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        if self.config.access_log:
            from ..observe.access_log import AccessLog

            self.access = AccessLog(self.config, self.access_log, self.interface)
        self.refresh_defaults()

    def refresh_defaults(self) -> None:
        """Rebuild `defaults` when the Date has moved on; the cached response heads, which
        embed them, are forgotten with them."""
        date = self.date_clock.value()
        if date is self._defaults_date:
            return
        headers: Headers = []
        if self.config.server_header:
            headers.append((b"server", b"duoserve"))
        if self.config.date_header:
            headers.append((b"date", date))
        self.defaults = headers
        self._defaults_date = date
        self.header_cache.forget_heads()

    def begin_shutdown(self) -> None:
        """Close idle connections now; new ones have FRESH_GRACE to start a request (the
        server calls end_fresh_grace() after it)."""
        self.stopping = True
        self.shutting_down.set()
        for wait in list(self.idle):
            wait.cancel()

    def end_fresh_grace(self) -> None:
        """FRESH_GRACE after begin_shutdown(): end the waits for a first request (and for a
        PROXY header or TLS handshake) still going on."""
        for wait in list(self.fresh):
            wait.cancel()
