"""Per-server and per-connection facts handed down the layers instead of long argument lists."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from .config import Config
from .types import ASGIApp

Scheme = Literal["http", "https"]


@dataclass(frozen=True, slots=True)
class ConnInfo:
    """Where a connection comes from and arrives at. `client`/`server` are None for
    peers without an address (Unix sockets give only the server path)."""

    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    scheme: Scheme = "http"
    tls: dict[str, Any] | None = None


@dataclass(slots=True)
class ServerContext:
    """What every connection of one server shares. `shutting_down` is set once a graceful
    stop begins; connections then finish their request and close."""

    config: Config
    app: ASGIApp
    codec_factory: Callable[[Config], Any]
    websocket_enabled: bool = True
    lifespan_state: dict[str, Any] = field(default_factory=dict)
    shutting_down: anyio.Event = field(default_factory=anyio.Event)
    error_log: logging.Logger = field(default_factory=lambda: logging.getLogger("duoserve.error"))
    access_log: logging.Logger = field(
        default_factory=lambda: logging.getLogger("duoserve.access")
    )
    in_flight: int = 0
