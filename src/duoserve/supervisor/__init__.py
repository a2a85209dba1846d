"""Multi-process mode: the sockets bound once, and worker processes kept serving them.

The main process binds the sockets once and keeps worker processes serving them (respawn,
watchdog, recycling, zero-downtime reload)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence

from ..app.interface import as_asgi
from ..app.resolve import resolve_app
from ..config.settings import Config
from ..edge.static import describe_mounts, parse_mounts
from ..errors import EXIT_DRAIN_CUT, ConfigError, StartupError
from ..net.sockets import BoundSocket, bind_all, close_all
from ..observe.metrics.listen import bind_metrics
from . import systemd
from .reload import make_watcher
from .runtime import Runtime
from .worker import SocketRef

__all__ = ["needs_supervisor", "socket_refs", "supervise"]


def needs_supervisor(config: Config, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether to run the supervisor rather than serve in this one process: always, unless
    --single-process asks otherwise and nothing that needs a supervisor is on."""
    if not config.single_process:
        return True
    needs = {
        "--workers above 1": config.workers != 1,
        "--max-requests": config.max_requests,
        "--max-worker-memory": config.max_worker_memory,
        "--max-worker-lifetime": config.max_worker_lifetime,
        "--reload": config.reload,
        "--preload": config.preload,
        "--reuse-port": config.reuse_port,
        "--pid": config.pid,
    }
    wanted = [name for name, on in needs.items() if on]
    if wanted:
        raise ConfigError(f"--single-process cannot be combined with {', '.join(wanted)}")
    # systemd activation and notification are handled by the supervisor.
    return bool(environ.get("LISTEN_FDS") or environ.get("NOTIFY_SOCKET"))


def supervise(config: Config, app: object | None = None) -> int:
    """Bind, run the workers until told to stop; 0, EXIT_DRAIN_CUT when the stop cut
    requests, or StartupError when the workers cannot boot."""
    if config.workers < 1:
        raise ConfigError("--workers must be at least 1")
    mounts = parse_mounts(config)  # a bad --static stops here, before any worker starts
    if mounts:
        logging.getLogger("duoserve.error").info("static files: %s", describe_mounts(mounts))
    loaded = None
    if config.preload or app is not None:
        loaded = resolve_app(config, app)
        as_asgi(loaded, config)  # refuse what cannot be served before starting workers
    activated = systemd.activated_binds(os.environ)
    if activated:
        config = config.with_changes(bind=activated)
    sockets = bind_all(config)
    metrics_socket = None
    try:
        metrics_socket = bind_metrics(config, sockets)
        refs = socket_refs(config, sockets)
        watcher = make_watcher(config, time.monotonic()) if config.reload else None

        def close_listeners() -> None:
            for bound in sockets:
                bound.sock.close()  # close_all() still removes a Unix socket's path

        runtime = Runtime(
            config,
            refs,
            preloaded=loaded,
            watcher=watcher,
            close_listeners=close_listeners,
            metrics_socket=metrics_socket,
        )
        result = runtime.run()
    finally:
        close_all(sockets)
        if metrics_socket is not None:
            metrics_socket.close()
    if result.status == EXIT_DRAIN_CUT:
        return result.status
    if result.status:
        raise StartupError(result.message)
    return 0


def socket_refs(config: Config, sockets: Sequence[BoundSocket]) -> list[SocketRef]:
    """How workers find the sockets. With --reuse-port each worker binds its own socket to
    each TCP address, and this process closes its own (it would queue connections that no
    worker accepts)."""
    refs: list[SocketRef] = []
    for bound in sockets:
        if config.reuse_port and bound.kind == "tcp":
            host, port = bound.sock.getsockname()[:2]
            refs.append(SocketRef(-1, "tcp", bound.display, (host, port), bound.sock.family))
            bound.sock.close()
        else:
            bound.sock.set_inheritable(False)  # systemd's fds are; only workers get them
            refs.append(SocketRef(bound.sock.fileno(), bound.kind, bound.display))
    return refs
