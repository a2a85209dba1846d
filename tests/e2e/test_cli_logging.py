"""The duoserve command's logs as users get them: JSON lines, --log-config, custom access
formats, request ids and the static files line, from a subprocess over real sockets."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli_serve import ROOT, SERVING, duoserve

pytestmark = pytest.mark.e2e


def test_json_lines_for_server_and_access_logs(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("static text")
    # Two workers: the supervisor logs too, and the workers' access lines name their pid.
    args = ["tests.apps.wsgi_hello:app", "--port", "0", "--workers", "2", "--log-format", "json"]
    args += ["--request-id", "--static", f"/files={tmp_path}"]
    with duoserve(*args) as proc:
        url = proc.wait_for(r'"message": "duoserve .* on (?P<url>http://\S+) ')["url"]
        first = httpx.get(url + "/hello?x=1", headers={"x-request-id": "req-42"})
        assert first.text == "Hello, world!" and first.headers["x-request-id"] == "req-42"
        second = httpx.get(url + "/files/a.txt", headers={"user-agent": "probe"})
        assert second.text == "static text"
        proc.wait_for("/files/a.txt")
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
        lines = proc.output().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "logger", "message", "pid"} <= r.keys() for r in records)
    (static_line,) = [r for r in records if r["message"].startswith("static files: /files -> ")]
    supervisor = static_line["pid"]
    access = [r for r in records if r["logger"] == "duoserve.access"]
    assert [(r["path"], r["status"], r["interface"]) for r in access] == [
        ("/hello", 200, "wsgi"),
        ("/files/a.txt", 200, "wsgi"),
    ]
    assert access[0]["request_id"] == "req-42" and access[0]["query"] == "x=1"
    assert access[1]["user_agent"] == "probe" and len(access[1]["request_id"]) == 32
    assert access[1]["bytes"] == len("static text")
    assert all(r["worker"] == r["pid"] != supervisor for r in access)


def test_default_text_lines_for_server_and_access_logs() -> None:
    """The text format as users get it by default: the access line (written without a
    LogRecord) in the same form as the server's own lines, with the worker's pid."""
    args = ["tests.apps.wsgi_hello:app", "--port", "0", "--workers", "2"]
    with duoserve(*args) as proc:
        url = proc.wait_for(SERVING.pattern)["url"]
        assert httpx.get(url + "/hello?x=1").text == "Hello, world!"
        proc.wait_for("/hello")
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
        lines = proc.output().splitlines()
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] INFO "
    (access,) = [line for line in lines if "/hello" in line]
    found = re.fullmatch(
        stamp + r'127\.0\.0\.1:\d+ - "GET /hello\?x=1 HTTP/1\.1" 200 13 \d+\.\dms', access
    )
    assert found is not None, access
    served_line = next(line for line in lines if "serving" in line)
    supervisor = re.match(stamp, served_line)
    assert supervisor is not None and found.group(1) != supervisor.group(1)  # a worker's


def test_log_config_file_and_access_format(tmp_path: Path) -> None:
    out = tmp_path / "access.log"
    config = {
        "formatters": {"f": {"format": "%(levelname)s %(status)s %(method)s|%(message)s"}},
        "handlers": {
            "h": {"class": "logging.FileHandler", "filename": str(out), "formatter": "f"},
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "duoserve.access": {"handlers": ["h"], "level": "INFO", "propagate": False},
            "duoserve.error": {"handlers": ["stderr"], "level": "INFO"},
        },
    }
    (tmp_path / "log.json").write_text(json.dumps(config))
    args = ["tests.apps.asgi_hello:app", "--port", "0", "--log-config", str(tmp_path / "log.json")]
    args += ["--access-log-format", "{method} {path} -> {status} via {interface}"]
    with duoserve(*args) as proc:
        url = proc.wait_for(SERVING.pattern)["url"]
        assert httpx.get(url + "/x").status_code == 200
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(15) == 0
    assert out.read_text() == "INFO 200 GET|GET /x -> 200 via asgi\n"


@pytest.mark.parametrize(
    ("flag", "value", "error"),
    [
        ("--access-log-format", "{nope}", "unknown field {nope}"),
        ("--log-config", "/no/such/file.toml", "does not exist"),
        ("--static", "/s=/no/such/dir", "is not a directory"),
        ("--log-format", "xml", "must be one of text, json"),
    ],
)
def test_bad_logging_settings_fail_at_startup(flag: str, value: str, error: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "duoserve", "tests.apps.asgi_hello:app", "--port", "0", flag, value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert error in result.stderr
    assert "Traceback" not in result.stderr
