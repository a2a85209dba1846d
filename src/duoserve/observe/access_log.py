"""The access log: --access-log-format compiled once, one record per request.

--access-log-format compiled once, one record per request with its named fields (also
attached to the record for JSON lines and dictConfig formatters)."""

from __future__ import annotations

import logging
import os
import string
import time
from collections.abc import Callable
from typing import Any

from ..config.settings import Config
from ..errors import ConfigError
from ..http1.events import RequestHead
from ..http1.head import decode_path
from ..types import InterfaceName
from .logging import ServerHandler, TextFormatter

FIELDS = (
    "client",
    "client_ip",
    "method",
    "path",
    "query",
    "target",
    "http_version",
    "status",
    "bytes",
    "duration",
    "duration_ms",
    "user_agent",
    "referer",
    "request_id",
    "worker",
    "interface",
)
_SAMPLE: dict[str, Any] = dict.fromkeys(FIELDS, "-") | {
    "status": 200,
    "bytes": 0,
    "duration": 0.0,
    "duration_ms": 0.0,
    "worker": 1,
}


def compile_format(fmt: str) -> frozenset[str]:
    """The fields a format string uses; ConfigError for unknown fields, attribute or index
    access, or a format spec that does not fit the field (tried on sample values)."""
    used = set()
    try:
        for _, name, _, _ in string.Formatter().parse(fmt):
            if name is None:
                continue
            if name not in _SAMPLE:
                raise ConfigError(
                    f"--access-log-format: unknown field {{{name}}}; fields: {', '.join(FIELDS)}"
                )
            used.add(name)
        fmt.format_map(_SAMPLE)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ConfigError(f"--access-log-format: {exc}") from None
    return frozenset(used)


class AccessLog:
    """One per server. `enabled` is checked before any work is done for a request; every
    field is computed only when the format or the log output can show it."""

    __slots__ = ("_all", "_format", "_getters", "_logger", "_used", "interface")

    def __init__(self, config: Config, logger: logging.Logger, interface: InterfaceName) -> None:
        self._format = config.access_log_format
        self._used = compile_format(self._format)
        # JSON lines and user formatters (dictConfig) may show any field.
        self._all = config.log_format == "json" or bool(config.log_config)
        self._logger = logger
        self.interface = interface  # decided at start-up: the log never inspects the app
        wanted = FIELDS if self._all else sorted(self._used, key=FIELDS.index)
        getters = _GETTERS | {"interface": lambda *_: interface}
        self._getters = [(name, getters[name]) for name in wanted]  # each field's, once

    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def log(
        self,
        head: RequestHead,
        client: tuple[str, int] | None,
        status: int,
        sent: int,
        duration: float,
        request_id: bytes | None,
    ) -> None:
        fields = {
            name: get(head, client, status, sent, duration, request_id)
            for name, get in self._getters
        }
        message = self._format.format_map(fields)
        direct = self._direct()
        if direct is not None:
            handler, formatter = direct
            try:
                handler.write_line(formatter.line(message, time.time()))
                return
            except Exception:  # logging's path below reports it, as emit() would
                pass
        self._logger.info(message, extra={"access": fields, **fields})

    def _direct(self) -> tuple[ServerHandler, TextFormatter] | None:
        """The one handler a line may be written to without a LogRecord: ours, alone, with
        the text format, no filter on it or the logger, which does not propagate (anything
        else, a --log-config or a handler added by the program, takes logging's path)."""
        logger = self._logger
        handlers = logger.handlers
        if len(handlers) != 1 or logger.filters or logger.propagate or self._all:
            return None
        handler = handlers[0]
        formatter = handler.formatter
        if (
            type(handler) is not ServerHandler
            or handler.filters
            or handler.level > logging.INFO
            or type(formatter) is not TextFormatter
        ):
            return None
        return handler, formatter


# How each field is read from log()'s arguments (head, client, status, sent, duration,
# request_id); `interface` is the server's, added per AccessLog.
_GETTERS: dict[str, Callable[..., Any]] = {
    "client": lambda h, c, *_: f"{c[0]}:{c[1]}" if c else "unix",
    "client_ip": lambda h, c, *_: c[0] if c else "unix",
    "method": lambda h, *_: h.method.decode("ascii", "replace"),
    "path": lambda h, *_: decode_path(h.path),
    "query": lambda h, *_: h.query.decode("ascii", "replace"),
    "target": lambda h, *_: h.target.decode("ascii", "replace"),
    "http_version": lambda h, *_: h.http_version,
    "status": lambda h, c, status, *_: status,
    "bytes": lambda h, c, status, sent, *_: sent,
    "duration": lambda h, c, st, se, duration, *_: round(duration, 6),
    "duration_ms": lambda h, c, st, se, duration, *_: round(duration * 1000, 3),
    "request_id": lambda h, c, st, se, d, rid: rid.decode("ascii") if rid else "-",
    "worker": lambda *_: os.getpid(),
    "user_agent": lambda h, *_: _header(h, b"user-agent"),
    "referer": lambda h, *_: _header(h, b"referer"),
}


def _header(head: RequestHead, name: bytes) -> str:
    for key, value in head.headers:
        if key == name:
            return value.decode("latin-1")
    return "-"
