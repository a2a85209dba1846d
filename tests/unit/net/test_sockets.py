"""Binding: address syntax, real binds on loopback, and one-line failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from duoserve.config.settings import Config
from duoserve.errors import ConfigError, StartupError
from duoserve.net.sockets import bind_all, close_all, describe_binds, parse_bind


@pytest.mark.parametrize(
    ("text", "kind", "host", "port"),
    [
        ("127.0.0.1:80", "tcp", "127.0.0.1", 80),
        ("[::1]:8000", "tcp", "::1", 8000),
        (":9000", "tcp", "0.0.0.0", 9000),
        ("localhost:0", "tcp", "localhost", 0),
    ],
)
def test_parse_tcp(text: str, kind: str, host: str, port: int) -> None:
    spec = parse_bind(text)
    assert (spec.kind, spec.host, spec.port) == (kind, host, port)


@pytest.mark.parametrize(
    "text", ["nocolon", "::1:80", "[::1]80", "host:port", "h:70000", "unix:", "fd://x"]
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_bind(text)


def test_bind_port_zero_reports_real_port() -> None:
    bound = bind_all(Config(host="127.0.0.1", port=0))
    try:
        assert len(bound) == 1
        port = bound[0].sock.getsockname()[1]
        assert port != 0 and bound[0].display == f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        close_all(bound)


def test_describe_without_binding() -> None:
    assert describe_binds(Config(host="::1", port=0)) == ["http://[::1]:0"]


def test_address_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StartupError, match="already in use"):
            bind_all(Config(bind=("127.0.0.1:0", f"127.0.0.1:{port}")))


def test_unix_socket_replaces_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    bound = bind_all(Config(bind=(f"unix:{path}",)))
    try:
        assert bound[0].display == f"unix:{path}"
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
    finally:
        close_all(bound)
    assert not path.exists()


def test_unix_path_that_is_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "notasocket"
    path.write_text("keep me")
    with pytest.raises(StartupError, match="not a socket"):
        bind_all(Config(bind=(f"unix:{path}",)))
    assert path.read_text() == "keep me"


def test_inherited_fd() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    bound = bind_all(Config(bind=(f"fd://{listener.fileno()}",)))
    assert bound[0].display == f"fd://{listener.fileno()}"
    bound[0].sock.detach()
    listener.close()


def test_fd_that_is_not_listening() -> None:
    with socket.socket() as sock, pytest.raises(StartupError, match="not a listening"):
        bind_all(Config(bind=(f"fd://{sock.fileno()}",)))
