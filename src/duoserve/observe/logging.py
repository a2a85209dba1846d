"""The duoserve loggers, their text and JSON-lines formats, and --log-config files.

The duoserve loggers (duoserve.error, duoserve.access), their text and JSON-lines formats,
and --log-config files (dictConfig as JSON or TOML, fileConfig as INI)."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..config.settings import Config
from ..errors import ConfigError

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

ERROR_LOGGER = "duoserve.error"
ACCESS_LOGGER = "duoserve.access"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (ISO 8601, UTC), level, logger, message, pid;
    the access fields for access records, `request_id` when known, `exception` text."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            data.update(access)
        else:
            request_id = getattr(record, "request_id", None)
            if request_id is not None:
                data["request_id"] = request_id
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str)


def _iso(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class TextFormatter(logging.Formatter):
    """The text format; `line()` is what format() makes of an INFO record of a message
    without arguments, made without the record (and the time text once per second)."""

    def __init__(self) -> None:
        super().__init__(
            "[%(asctime)s] [%(process)d] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S %z"
        )
        self._stamp = (-1, "")  # (whole second, its asctime), replaced whole

    def line(self, message: str, created: float) -> str:
        second, stamp = self._stamp
        if int(created) != second:
            stamp = time.strftime(self.datefmt or "", self.converter(created))
            self._stamp = (int(created), stamp)
        return f"[{stamp}] [{os.getpid()}] {logging.getLevelName(logging.INFO)} {message}"


class ServerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure()` installs. While it is the access logger's only one, with
    no filter and the text format, an access line is written by `write_line` without a
    LogRecord: the record and the handler's calls cost about as much as the request."""

    def write_line(self, line: str) -> None:
        """emit() of a formatted line: written and flushed under the handler's lock."""
        self.acquire()
        try:
            stream = self.stream
            stream.write(line + self.terminator)
            stream.flush()
        finally:
            self.release()


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(config: Config) -> None:
    """Log to stderr, unless the embedding program already configured these loggers or
    --log-config names a file that configures logging instead."""
    from .access_log import compile_format

    compile_format(config.access_log_format)  # a bad format fails at startup
    if config.log_config:
        load_log_config(config.log_config)
    else:
        level = TRACE if config.log_level == "trace" else getattr(logging, config.log_level.upper())
        formatter = make_formatter(config.log_format)
        for name in (ERROR_LOGGER, ACCESS_LOGGER):
            logger = logging.getLogger(name)
            logger.setLevel(level)
            if not logger.handlers:
                handler = ServerHandler(sys.stderr)
                handler.setFormatter(formatter)
                logger.addHandler(handler)
                logger.propagate = False
    logging.getLogger(ACCESS_LOGGER).disabled = not config.access_log


def load_log_config(path_text: str) -> None:
    """dictConfig from a .json or .toml file, fileConfig from .ini/.conf/.cfg. Loggers that
    exist already (duoserve's own) stay enabled unless the file says otherwise."""
    path = Path(path_text)
    suffix = path.suffix.lower()
    try:
        if suffix in (".ini", ".conf", ".cfg"):
            if not path.is_file():
                raise ConfigError(f"--log-config: {path_text!r} does not exist")
            logging.config.fileConfig(path, disable_existing_loggers=False)
            return
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib

            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(
                f"--log-config: {path_text!r} must end in .json, .toml, .ini, .conf or .cfg"
            )
        if not isinstance(data, dict):
            raise ConfigError(f"--log-config: {path_text!r} must hold a dictConfig mapping")
        data.setdefault("version", 1)
        data.setdefault("disable_existing_loggers", False)
        logging.config.dictConfig(data)
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(f"--log-config: {path_text!r} does not exist") from None
    except Exception as exc:  # json, toml, configparser and dictConfig errors alike
        raise ConfigError(
            f"--log-config: cannot configure logging from {path_text!r}: {exc}"
        ) from None
