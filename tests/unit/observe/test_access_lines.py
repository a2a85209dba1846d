"""The access line written without a LogRecord is the line logging's path writes: the same
text format, the same stream, and logging's path whenever anything else could see it."""

from __future__ import annotations

import io
import logging
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from duoserve.config.settings import Config
from duoserve.observe.access_log import AccessLog
from duoserve.observe.logging import ServerHandler, TextFormatter

HEAD = SimpleNamespace(
    method=b"GET", path=b"/p", query=b"q=1", target=b"/p?q=1", http_version="1.1", headers=[]
)


@pytest.mark.parametrize("created", [0.0, 1_765_000_000.25, 1_765_000_000.999, 1_765_000_001.0])
def test_line_is_what_format_makes_of_the_record(created: float) -> None:
    formatter = TextFormatter()
    for _ in range(2):  # the second from the remembered time text
        record = logging.makeLogRecord({"msg": "a 100% line", "levelno": logging.INFO})
        record.levelname, record.created = "INFO", created
        assert formatter.line("a 100% line", created) == formatter.format(record)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> tuple[logging.Logger, io.StringIO]:
    """A logger set up as configure() sets duoserve.access up, on a stream of our own.
    Its handlers are set in the test's own phase: pytest's log capture adds handlers to
    every logger that does not propagate as each phase starts."""
    logger = logging.getLogger("duoserve.test-access-lines")
    stream = io.StringIO()
    handler = ServerHandler(stream)
    handler.setFormatter(TextFormatter())
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setattr(logger, "propagate", False)
    logger.setLevel(logging.INFO)
    monkeypatch.setattr(logger, "handlers", [])
    logger.our_handler = handler  # type: ignore[attr-defined]
    return logger, stream


def alone(logger: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> ServerHandler:
    handler: ServerHandler = logger.our_handler  # type: ignore[attr-defined]
    monkeypatch.setattr(logger, "handlers", [handler])
    return handler


def write(logger: logging.Logger, **config: Any) -> None:
    access = AccessLog(Config(app="x:y", **config), logger, "asgi")
    access.log(cast(Any, HEAD), ("127.0.0.1", 5000), 200, 13, 0.0012, None)


STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] ")


def test_the_direct_line_and_the_logging_line_are_the_same(
    served: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = served
    alone(logger, monkeypatch)
    write(logger)  # direct
    direct = stream.getvalue()
    passed: list[logging.LogRecord] = []
    logger.addFilter(lambda record: passed.append(record) or True)  # logging's path now
    write(logger)
    through_logging = stream.getvalue()[len(direct) :]
    assert len(passed) == 1  # only the second went through logging
    assert STAMP.match(direct) and STAMP.match(through_logging)
    assert STAMP.sub("", direct) == STAMP.sub("", through_logging)
    assert STAMP.sub("", direct).endswith(
        'INFO 127.0.0.1:5000 - "GET /p?q=1 HTTP/1.1" 200 13 1.2ms\n'
    )


@pytest.mark.parametrize(
    "change",
    ["another handler", "a handler filter", "a logger filter", "propagate", "json", "level"],
)
def test_anything_else_takes_loggings_path(
    served: tuple[logging.Logger, io.StringIO], change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = served
    ours = alone(logger, monkeypatch)
    handled: list[logging.LogRecord] = []
    monkeypatch.setattr(logger, "handle", handled.append)  # a LogRecord made and handled
    config: dict[str, Any] = {}
    if change == "another handler":
        monkeypatch.setattr(logger, "handlers", [ours, logging.NullHandler()])
    elif change == "a handler filter":
        monkeypatch.setattr(ours, "filters", [lambda record: True])
    elif change == "a logger filter":
        monkeypatch.setattr(logger, "filters", [lambda record: True])
    elif change == "propagate":
        monkeypatch.setattr(logger, "propagate", True)
    elif change == "json":
        config["log_format"] = "json"
    else:
        monkeypatch.setattr(ours, "level", logging.WARNING)
    write(logger, **config)
    assert len(handled) == 1
    assert stream.getvalue() == ""  # nothing written directly


def test_the_direct_path_writes_no_record(
    served: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = served
    alone(logger, monkeypatch)
    handled: list[logging.LogRecord] = []
    monkeypatch.setattr(logger, "handle", handled.append)
    write(logger)
    assert not handled and stream.getvalue().count("\n") == 1
