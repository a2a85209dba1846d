"""Access log fields and formats, JSON lines, --log-config files and --request-id, with
real requests over sockets and records read from a handler on the duoserve loggers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from duoserve import Config
from duoserve.errors import ConfigError
from duoserve.observe.access_log import compile_format
from duoserve.observe.logging import JsonFormatter, load_log_config
from tests.conftest import parse_response, running_server

pytestmark = pytest.mark.anyio


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access() -> Iterator[Collect]:
    logger = logging.getLogger("duoserve.access")
    handler = Collect()
    saved = logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.disabled = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.disabled = saved[1]


async def echo_id(scope: Any, receive: Any, send: Any) -> None:
    body = dict(scope["headers"]).get(b"x-request-id", b"none")
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_echo_id(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ.get("HTTP_X_REQUEST_ID", "none").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def test_access_fields(access: Collect) -> None:
    fmt = (
        '{client_ip} "{method} {path}" {query} {status} {bytes} {user_agent} {referer} '
        "{request_id} {interface} {http_version} {duration_ms:.0f} {worker}"
    )
    async with running_server(echo_id, access_log_format=fmt) as srv:
        async with httpx.AsyncClient() as client:
            headers = {"user-agent": "probe/1", "referer": "http://r/"}
            await client.get(f"{srv.url}/a%20b?x=1", headers=headers)
    (record,) = access.records
    message = record.getMessage()
    parts = message.split(" ")
    assert parts[0] == "127.0.0.1"
    assert message.split('"')[1] == "GET /a b"
    assert parts[4:12] == ["x=1", "201", "4", "probe/1", "http://r/", "-", "asgi", "1.1"]
    assert int(parts[-1]) > 0
    assert record.status == 201  # type: ignore[attr-defined]
    assert record.access["user_agent"] == "probe/1"  # type: ignore[attr-defined]
    assert set(record.access) == {  # type: ignore[attr-defined]
        "client_ip",
        "method",
        "path",
        "query",
        "status",
        "bytes",
        "user_agent",
        "referer",
        "request_id",
        "interface",
        "http_version",
        "duration_ms",
        "worker",
    }


async def test_default_format_and_json_lines(access: Collect) -> None:
    async with running_server(echo_id, log_format="json") as srv:
        async with httpx.AsyncClient() as client:
            await client.get(f"{srv.url}/p?q")
    (record,) = access.records
    assert record.getMessage().startswith("127.0.0.1:")
    assert '"GET /p?q HTTP/1.1" 201 4 ' in record.getMessage()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO" and data["logger"] == "duoserve.access"
    assert data["status"] == 201 and data["path"] == "/p" and data["query"] == "q"
    assert data["interface"] == "asgi" and data["timestamp"].endswith("Z")
    assert isinstance(data["duration"], float)


def test_json_formatter_exceptions_and_request_id() -> None:
    logger = logging.getLogger("duoserve.test-json")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("x",),
            __import__("sys").exc_info(),
            extra={"request_id": "abc"},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "failed x" and data["request_id"] == "abc"
    assert "ValueError: boom" in data["exception"]


async def test_request_id_propagated_generated_and_replaced(access: Collect) -> None:
    async with running_server(echo_id, request_id=True, access_log_format="{request_id}") as srv:
        async with httpx.AsyncClient() as client:
            r = await client.get(srv.url, headers={"x-request-id": "abc-123.DEF_~:+/="})
            assert r.text == "abc-123.DEF_~:+/=" == r.headers["x-request-id"]
            r = await client.get(srv.url)
            generated = r.headers["x-request-id"]
            assert r.text == generated and len(generated) == 32
            for bad in ("a" * 129, "has space", "semi;colon", 'quote"', ""):
                r = await client.get(srv.url, headers={"x-request-id": bad})
                assert r.text == r.headers["x-request-id"] != bad
                assert len(r.text) == 32
        # two ids in one request: neither is trusted
        raw = await srv.raw(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\r\nX-Request-ID: b\r\n"
            b"Connection: close\r\n\r\n"
        )
        _, headers, body = parse_response(raw)
        assert body == headers[b"x-request-id"] and len(body) == 32
    logged = [r.getMessage() for r in access.records]
    assert logged[0] == "abc-123.DEF_~:+/=" and logged[1] == generated


async def test_request_id_off_by_default_and_wsgi() -> None:
    async with running_server(echo_id) as srv, httpx.AsyncClient() as client:
        r = await client.get(srv.url, headers={"x-request-id": "keep"})
        assert r.text == "keep" and "x-request-id" not in r.headers
        r = await client.get(srv.url)
        assert r.text == "none"
    async with running_server(wsgi_echo_id, wsgi=True, request_id=True) as srv:  # type: ignore[arg-type]
        async with httpx.AsyncClient() as client:
            r = await client.get(srv.url, headers={"x-request-id": "from-proxy"})
            assert r.text == "from-proxy" == r.headers["x-request-id"]
            r = await client.get(srv.url, headers={"x-request-id": "bad id"})
            assert r.text == r.headers["x-request-id"] and len(r.text) == 32


async def test_request_id_on_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("broken")

    async with running_server(broken, request_id=True) as srv, httpx.AsyncClient() as client:
        r = await client.get(srv.url, headers={"x-request-id": "trace-1"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "trace-1"


async def test_no_access_log_no_records(access: Collect) -> None:
    async with running_server(echo_id, access_log=False) as srv, httpx.AsyncClient() as client:
        await client.get(srv.url)
    assert access.records == []


def test_bad_formats_are_config_errors() -> None:
    for fmt in ("{nope}", "{client.__class__}", "{status:q}", "{", "{0}", "{client[0]}"):
        with pytest.raises(ConfigError):
            compile_format(fmt)
    assert compile_format(Config().access_log_format) >= {"client", "status", "duration_ms"}


LOG_CONFIG = {
    "version": 1,
    "formatters": {"plain": {"format": "%(name)s|%(levelname)s|%(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain"}},
    "loggers": {"duoserve.test-config": {"handlers": ["file"], "level": "INFO"}},
}

TOML_CONFIG = """
version = 1
[formatters.plain]
format = "%(name)s|%(levelname)s|%(message)s"
[handlers.file]
class = "logging.FileHandler"
formatter = "plain"
filename = "{path}"
[loggers."duoserve.test-config"]
handlers = ["file"]
level = "INFO"
"""

INI_CONFIG = """
[loggers]
keys = root,target
[handlers]
keys = file
[formatters]
keys = plain
[logger_root]
handlers =
[logger_target]
qualname = duoserve.test-config
handlers = file
level = INFO
propagate = 0
[handler_file]
class = FileHandler
formatter = plain
args = ({path!r},)
[formatter_plain]
format = %(name)s|%(levelname)s|%(message)s
"""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    target = logging.getLogger("duoserve.test-config")
    root = logging.getLogger()
    saved_root = list(root.handlers), root.level
    yield
    for handler in list(target.handlers):
        target.removeHandler(handler)
        handler.close()
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])


@pytest.mark.parametrize("kind", ["json", "toml", "ini"])
def test_log_config_files(tmp_path: Path, kind: str, restore_logging: None) -> None:
    out = tmp_path / "out.log"
    config_file = tmp_path / f"logging.{kind}"
    if kind == "json":
        data = json.loads(json.dumps(LOG_CONFIG))
        data["handlers"]["file"]["filename"] = str(out)
        config_file.write_text(json.dumps(data))
    elif kind == "toml":
        config_file.write_text(TOML_CONFIG.replace("{path}", str(out)))
    else:
        config_file.write_text(INI_CONFIG.replace("{path!r}", repr(str(out))))
    load_log_config(str(config_file))
    logging.getLogger("duoserve.test-config").info("configured by %s", kind)
    for handler in logging.getLogger("duoserve.test-config").handlers:
        handler.flush()
    assert out.read_text() == f"duoserve.test-config|INFO|configured by {kind}\n"
    # duoserve's own loggers, which exist already, stay enabled
    assert not logging.getLogger("duoserve.error").disabled


def test_log_config_errors(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"version": 1, "handlers": {"h": {"class": "no.Such"}}}))
    listing = tmp_path / "list.json"
    listing.write_text("[]")
    for path in (bad_json, wrong, listing, tmp_path / "missing.toml", tmp_path / "x.yaml"):
        with pytest.raises(ConfigError, match="--log-config"):
            load_log_config(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_log_config(str(tmp_path / "missing.ini"))
