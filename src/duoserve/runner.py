"""Run one server process from a Config: load the app, bind, serve under signal handling."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .app.interface import as_asgi
from .app.loading import LoadedApp
from .app.resolve import describe, resolve_app
from .config.settings import Config
from .core.server import Server
from .edge.static import StaticFiles
from .errors import own_error
from .net.loop import backend_options
from .net.sockets import BoundSocket, bind_all, close_all
from .observe.logging import configure
from .types import ASGIApp
from .version import __version__

if TYPE_CHECKING:
    from .observe.metrics.inloop import LocalMetrics
    from .supervisor.handover import Handover

log = logging.getLogger("duoserve.error")


def run_config(config: Config, app: object | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit status (0, or EXIT_DRAIN_CUT
    when the stop cut connections). Raises the duoserve
    errors (AppLoadError, StartupError, ConfigError) for the CLI to print as one line."""
    configure(config)
    from .supervisor import needs_supervisor, supervise
    from .supervisor.handover import Handover

    if needs_supervisor(config):
        return supervise(config, app)
    loaded = resolve_app(config, app)
    asgi_app, config = as_asgi(loaded, config)
    sockets = bind_all(config)
    metrics: LocalMetrics | None = None
    try:
        if config.metrics_on:
            from .observe.metrics.block import private
            from .observe.metrics.inloop import LocalMetrics
            from .observe.metrics.listen import bind_metrics

            metrics = LocalMetrics(config, private(), bind_metrics(config, sockets))
        handover = Handover(config, sockets)
        status: int = anyio.run(
            _serve_with_signals,
            config,
            asgi_app,
            loaded,
            sockets,
            handover,
            metrics,
            backend=config.backend,
            backend_options=backend_options(config),
        )
        if handover.worker is not None:  # SIGHUP: a worker with fresh code took over
            return handover.supervise(metrics)
    except BaseException as exc:
        own = own_error(exc)
        if own is None:
            raise
        raise own from None
    finally:
        close_all(sockets)
        if metrics is not None and metrics.sock is not None:
            metrics.sock.close()
    return status


async def _serve_with_signals(
    config: Config,
    app: ASGIApp,
    loaded: LoadedApp,
    sockets: Sequence[BoundSocket],
    handover: Handover,
    metrics: LocalMetrics | None,
) -> int:
    recorder = None
    if metrics is not None:
        from .observe.metrics.recorder import make_recorder

        recorder = make_recorder(metrics.slot, loaded.interface, app)
    server = Server(
        config,
        app,
        sockets=sockets,
        websocket_enabled=loaded.interface != "wsgi",
        interface="wsgi" if loaded.interface == "wsgi" else "asgi",
        metrics=recorder,
    )
    loop = "uvloop" if backend_options(config) else config.backend
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, server, tg, handover, metrics)
        if metrics is not None and recorder is not None:
            tg.start_soon(metrics.run)
            tg.start_soon(recorder.sample, server.open_connections)

        async def serve_then_stop(
            *, task_status: anyio.abc.TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED
        ) -> None:
            await server.serve(task_status=task_status)
            tg.cancel_scope.cancel()

        addresses: list[str] = await tg.start(serve_then_stop)
        for address in addresses:
            log.info(
                "duoserve %s serving %s on %s — %s, 1 worker; CTRL+C to quit",
                __version__,
                describe(loaded, config, server),
                address,
                loop,
            )
        if isinstance(server.app, StaticFiles):
            log.info("static files: %s", server.app.describe())
        if metrics is not None:
            metrics.started()
    return server.exit_status


async def _watch_signals(
    server: Server, tg: anyio.abc.TaskGroup, handover: Handover, metrics: LocalMetrics | None
) -> None:
    """First SIGINT/SIGTERM: graceful stop (after --shutdown-delay, which a second one cuts
    short). A second SIGINT: stop at once. SIGHUP: hand over to a worker process running
    the current code (zero-downtime reload)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, *handover.signals) as signals:
        stopping = False
        stop_now = anyio.Event()
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum in handover.signals:
                tg.start_soon(handover.start, server)
            elif not stopping:
                stopping = True
                if metrics is not None:
                    metrics.stopping()  # /readyz says so before the listeners close
                tg.start_soon(_stop, server, handover, name, stop_now)
            elif not stop_now.is_set():
                stop_now.set()  # a second signal during --shutdown-delay: stop now
            elif signum == signal.SIGINT:
                log.warning("second SIGINT: exiting at once")
                handover.note_stop(immediate=True)
                tg.cancel_scope.cancel()
                return


async def _stop(server: Server, handover: Handover, name: str, now: anyio.Event) -> None:
    """The graceful stop, after --shutdown-delay (or once `now` is set)."""
    delay = server.config.shutdown_delay
    if delay:
        log.info(
            "%s received: stopping in %gs (--shutdown-delay); not ready meanwhile", name, delay
        )
        with anyio.move_on_after(delay):
            await now.wait()
        log.info("shutting down gracefully")
    else:
        log.info("%s received: shutting down gracefully", name)
    now.set()
    handover.note_stop(immediate=False)  # closes its copies of the listeners
    server.shutdown()
