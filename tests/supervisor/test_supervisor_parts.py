"""The small parts around the policy: when to supervise, $WEB_CONCURRENCY, systemd
socket activation and sd_notify, and the reload file filter and poller."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from duoserve.config.settings import Config
from duoserve.config.sources import from_sources
from duoserve.errors import ConfigError
from duoserve.supervisor import needs_supervisor, supervise, systemd
from duoserve.supervisor.reload import StatPoller, watched


@pytest.mark.parametrize(
    ("settings", "environ", "expected"),
    [
        ({}, {}, True),  # crash recovery and the watchdog by default, with one worker too
        ({"workers": 2}, {}, True),
        ({"single_process": True}, {}, False),
        ({"single_process": True}, {"NOTIFY_SOCKET": "/run/notify"}, True),
        ({"single_process": True}, {"LISTEN_FDS": "1"}, True),
    ],
)
def test_needs_supervisor(
    settings: dict[str, object], environ: dict[str, str], expected: bool
) -> None:
    assert needs_supervisor(Config(**settings), environ) is expected


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"workers": 2}, "--workers above 1"),
        ({"reload": True}, "--reload"),
        ({"max_requests": 100}, "--max-requests"),
        ({"pid": "/tmp/x.pid"}, "--pid"),
    ],
)
def test_single_process_refuses_what_needs_a_supervisor(
    settings: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        needs_supervisor(Config(single_process=True, **settings), {})


def test_web_concurrency_sets_the_default_worker_count() -> None:
    assert from_sources({}, {"WEB_CONCURRENCY": "4"}).workers == 4
    assert from_sources({}, {"WEB_CONCURRENCY": "4", "DUOSERVE_WORKERS": "2"}).workers == 2
    assert from_sources({"workers": 3}, {"WEB_CONCURRENCY": "4"}).workers == 3
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY"):
        from_sources({}, {"WEB_CONCURRENCY": "many"})


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        supervise(Config(app="x:app", workers=0))


def test_socket_activation_only_for_this_process() -> None:
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert systemd.activated_binds(environ) == ("fd://3", "fd://4")
    assert environ == {}  # not passed on to workers
    other = {"LISTEN_PID": "1", "LISTEN_FDS": "2"}
    assert systemd.activated_binds(other) == ()


def test_sd_notify(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        systemd.notify("READY=1", {"NOTIFY_SOCKET": path})
        assert server.recv(100) == b"READY=1"
    systemd.notify("READY=1", {})  # not under systemd: nothing to do
    systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")})  # never raises


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("app.py", True),
        ("pkg/views.py", True),
        ("README.md", False),
        ("pkg/__pycache__/views.cpython-311.pyc", False),
        (".venv/lib/site.py", False),
        ("pkg/.hidden.py", False),
    ],
)
def test_reload_filter(path: str, expected: bool) -> None:
    assert watched(path, ("*.py",), (".*", "__pycache__", "*.pyc")) is expected


def test_stat_poller_reports_changes_once_a_second(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("a = 1\n")
    (tmp_path / "notes.txt").write_text("x\n")
    poller = StatPoller([str(tmp_path)], ("*.py",), (".*",), now=0.0)
    assert poller.deadline() == 1.0
    os.utime(tmp_path / "app.py", (1, 1))
    (tmp_path / "new.py").write_text("")
    (tmp_path / "notes.txt").write_text("y\n")
    assert poller.changes(0.5) == []  # not due yet
    changed = poller.changes(1.0)
    assert changed == [str(tmp_path / "app.py"), str(tmp_path / "new.py")]
    assert poller.changes(2.0) == []
