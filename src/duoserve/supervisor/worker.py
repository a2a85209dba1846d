"""A worker process: the app loaded, the inherited sockets served, heartbeats sent.

Reset signals, load the app, serve the inherited sockets, and report readiness and
heartbeats to the supervisor over a pipe."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from ..app.interface import as_asgi
from ..app.loading import LoadedApp
from ..app.resolve import describe, resolve_app
from ..config.settings import Config
from ..core.server import Server
from ..errors import AppLoadError, ConfigError, own_error
from ..net.loop import backend_options
from ..net.sockets import BoundSocket, SocketKind
from ..types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from ..observe.metrics.recorder import Recorder

# Exit status of a worker that could not boot (the supervisor also gets the reason).
BOOT_FAILED = 3
# Signals that mean something to the supervisor only; a terminal's CTRL+C reaches the
# whole process group, and the supervisor turns it into SIGTERM for each worker.
_IGNORED = ("SIGINT", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2")
_DEFAULT = ("SIGTERM", "SIGQUIT", "SIGCHLD")


@dataclass(frozen=True, slots=True)
class SocketRef:
    """A listening socket as a worker finds it: an inherited fd, or (with --reuse-port,
    fd -1) an address to bind its own socket to."""

    fd: int
    kind: SocketKind
    display: str
    address: tuple[str, int] | None = None
    family: int = socket.AF_INET


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs, picklable for workers started as a fresh interpreter."""

    config: Config
    sockets: tuple[SocketRef, ...]
    channel: int  # write end of the pipe to the supervisor
    parent: int  # the supervisor's pid; a different parent means it is gone
    metrics_fd: int = -1  # this worker's metrics slot (metrics.block), -1 when off


class Channel:
    """One line per message to the supervisor; never blocks the event loop (a full pipe
    drops a heartbeat, which the next one replaces)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)

    def send(self, kind: str, payload: str = "") -> bool:
        line = f"{kind} {payload}".rstrip() + "\n"
        try:
            os.write(self.fd, line.encode())
        except BlockingIOError:
            return True
        except OSError:
            return False  # the supervisor is gone
        return True


class _Counter:
    """The app, counting the requests and WebSocket sessions it is given (--max-requests).
    Only there when --max-requests is set: otherwise nobody reads the count, and the
    wrapper would cost every request a call and a coroutine."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            self.count += 1
        await self.app(scope, receive, send)


def run(spec: WorkerSpec, preloaded: LoadedApp | None = None) -> int:
    """Serve until SIGTERM; returns the exit status (BOOT_FAILED when it never served,
    EXIT_DRAIN_CUT when the graceful timeout cut connections)."""
    _reset_signals()
    config = spec.config
    channel = Channel(spec.channel)
    set_title(f"duoserve: worker [{config.app}]")
    try:
        loaded = preloaded or resolve_app(config, None)
        app, config = as_asgi(loaded, config)
        sockets = [_open(ref, config) for ref in spec.sockets]
        recorder = None
        if spec.metrics_fd >= 0:
            from ..observe.metrics.block import attach
            from ..observe.metrics.recorder import make_recorder

            recorder = make_recorder(attach(spec.metrics_fd), loaded.interface, app)
        status: int = anyio.run(
            _serve,
            config,
            app,
            loaded,
            sockets,
            channel,
            spec.parent,
            recorder,
            backend=config.backend,
            backend_options=backend_options(config),
        )
    except BaseException as exc:
        own = own_error(exc)
        if own is None:
            raise
        if isinstance(own, AppLoadError) and own.show_traceback and own.__cause__ is not None:
            traceback.print_exception(own.__cause__, file=sys.stderr)
        channel.send("fail", json.dumps(str(own)))
        return BOOT_FAILED
    return status


async def _serve(
    config: Config,
    app: ASGIApp,
    loaded: LoadedApp,
    sockets: Sequence[BoundSocket],
    channel: Channel,
    parent: int,
    recorder: Recorder | None,
) -> int:
    counter = _Counter(app) if config.max_requests else None
    server = Server(
        config,
        app if counter is None else counter,
        sockets=sockets,
        websocket_enabled=loaded.interface != "wsgi",
        interface="wsgi" if loaded.interface == "wsgi" else "asgi",
        metrics=recorder,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(_stop_on_sigterm, server)
        tg.start_soon(_heartbeat, config, counter, server, channel, parent)
        if recorder is not None:
            tg.start_soon(recorder.sample, server.open_connections)

        async def serve_then_stop(
            *, task_status: anyio.abc.TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED
        ) -> None:
            await server.serve(task_status=task_status)
            tg.cancel_scope.cancel()

        await tg.start(serve_then_stop)
        channel.send("ready", describe(loaded, config, server))
    return server.exit_status


async def _stop_on_sigterm(
    server: Server, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            server.shutdown()


async def _heartbeat(
    config: Config, counter: _Counter | None, server: Server, channel: Channel, parent: int
) -> None:
    """Runs on the event loop, so a missing heartbeat means a blocked loop (the watchdog)."""
    interval = min(1.0, config.timeout_worker / 4) if config.timeout_worker else 1.0
    while True:
        served = counter.count if counter is not None else 0
        alive = channel.send("hb", f"{served} {_rss()}")
        if not alive or os.getppid() != parent:
            server.shutdown()  # orphaned: drain and exit rather than serve unsupervised
            return
        await anyio.sleep(interval)


def _rss() -> int:
    """Resident memory of this process in bytes (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _open(ref: SocketRef, config: Config) -> BoundSocket:
    if ref.fd >= 0:
        os.set_inheritable(ref.fd, False)  # not into the app's own subprocesses
        return BoundSocket(socket.socket(fileno=ref.fd), ref.kind, ref.display)
    assert ref.address is not None
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--reuse-port is not available on this platform")
    sock = socket.socket(ref.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if ref.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(ref.address)
        sock.listen(config.backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--reuse-port: cannot bind {ref.display}: {exc.strerror}") from None
    return BoundSocket(sock, ref.kind, ref.display)


def _reset_signals() -> None:
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for name in _IGNORED + _DEFAULT:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN if name in _IGNORED else signal.SIG_DFL)


def set_title(title: str) -> None:
    """Name the process in ps/top when setproctitle is installed."""
    with contextlib.suppress(ImportError):
        import setproctitle  # type: ignore[import-not-found,unused-ignore]

        setproctitle.setproctitle(title)
