"""The duoserve loggers (duoserve.error, duoserve.access) and their default set-up."""

from __future__ import annotations

import logging
import sys

from .config import Config

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

ERROR_LOGGER = "duoserve.error"
ACCESS_LOGGER = "duoserve.access"


def configure(config: Config) -> None:
    """Log to stderr, unless the embedding program already configured these loggers."""
    level = TRACE if config.log_level == "trace" else getattr(logging, config.log_level.upper())
    formatter = logging.Formatter(
        "[%(asctime)s] [%(process)d] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S %z"
    )
    for name in (ERROR_LOGGER, ACCESS_LOGGER):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(formatter)
            logger.addHandler(handler)
            logger.propagate = False
    logging.getLogger(ACCESS_LOGGER).disabled = not config.access_log
