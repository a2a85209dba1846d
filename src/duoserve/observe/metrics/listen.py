"""The metrics listener's socket: --metrics-bind checked and bound once, before the workers.

--metrics-bind checked (a TCP address, never one the app is bound to) and bound once, before
any worker starts."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

from ...config.settings import Config
from ...errors import ConfigError
from ...net.sockets import BoundSocket, bind_one, parse_bind

log = logging.getLogger("duoserve.error")


def bind_metrics(config: Config, app_sockets: Sequence[BoundSocket]) -> socket.socket | None:
    """The listening socket for --metrics-bind (None when it is off); StartupError when it
    cannot be bound, ConfigError when it is not HOST:PORT or is one of the app's ports."""
    if not config.metrics_bind:
        return None
    spec = parse_bind(config.metrics_bind)
    if spec.kind != "tcp":
        raise ConfigError(f"--metrics-bind {config.metrics_bind!r}: expected HOST:PORT")
    for bound in app_sockets:
        if bound.kind == "tcp" and spec.port and bound.sock.getsockname()[1] == spec.port:
            raise ConfigError(
                f"--metrics-bind {config.metrics_bind!r}: the app is served on that port; "
                "metrics need a port of their own"
            )
    bound = bind_one(config.metrics_bind, 64)
    log.info("metrics on %s/metrics (also /healthz, /readyz)", bound.display)
    return bound.sock
