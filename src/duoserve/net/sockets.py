"""Bind listening sockets once, before serving, and describe them for the logs.

Once, so worker processes can inherit them; bind failures become one-line StartupErrors."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..config.settings import Config
from ..errors import ConfigError, StartupError

SocketKind = Literal["tcp", "unix", "fd"]
# Unix sockets are made reachable by any local user; restrict access with the directory.
UNIX_SOCKET_MODE = 0o666


@dataclass(frozen=True, slots=True)
class BindSpec:
    kind: SocketKind
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1


@dataclass(frozen=True, slots=True)
class BoundSocket:
    sock: socket.socket
    kind: SocketKind
    display: str
    path: str = ""  # Unix socket file, removed by close_all()


def bind_specs(config: Config) -> tuple[str, ...]:
    """The addresses to bind: --bind, else --host and --port."""
    if config.bind:
        return config.bind
    host = f"[{config.host}]" if ":" in config.host else config.host
    return (f"{host}:{config.port}",)


def parse_bind(text: str) -> BindSpec:
    """Parse HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N."""
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ConfigError(f"bind {text!r}: unix: needs a path, e.g. unix:/run/app.sock")
        return BindSpec("unix", path=path)
    if text.startswith("fd://"):
        try:
            fd = int(text[5:])
        except ValueError:
            raise ConfigError(f"bind {text!r}: fd:// needs a number, e.g. fd://3") from None
        return BindSpec("fd", fd=fd)
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"bind {text!r}: IPv6 addresses look like [::1]:8000")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise ConfigError(
                f"bind {text!r}: expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"
            )
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"bind {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"bind {text!r}: port must be between 0 and 65535")
    return BindSpec("tcp", host=host or "0.0.0.0", port=port)


def describe_binds(config: Config) -> list[str]:
    """How each address will be shown, without binding (port 0 as given)."""
    return [_display(parse_bind(text)) for text in bind_specs(config)]


def bind_all(config: Config) -> list[BoundSocket]:
    """Bind every address; on any failure close what was bound and raise StartupError."""
    specs = [parse_bind(text) for text in bind_specs(config)]
    bound: list[BoundSocket] = []
    try:
        for spec in specs:
            bound.append(_bind(spec, config.backlog))
    except BaseException:
        close_all(bound)
        raise
    return bound


def bind_one(text: str, backlog: int) -> BoundSocket:
    """Bind one address (StartupError when it cannot be bound)."""
    return _bind(parse_bind(text), backlog)


def close_all(sockets: Iterable[BoundSocket]) -> None:
    for bound in sockets:
        if bound.path:
            with contextlib.suppress(OSError):
                os.unlink(bound.path)
        bound.sock.close()


def _bind(spec: BindSpec, backlog: int) -> BoundSocket:
    if spec.kind == "fd":
        return _adopt_fd(spec.fd)
    if spec.kind == "unix":
        return _bind_unix(spec.path, backlog)
    return _bind_tcp(spec.host, spec.port, backlog)


def _bind_tcp(host: str, port: int, backlog: int) -> BoundSocket:
    where = f"port {port} on {host}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot bind {host}:{port}: unknown host ({exc.strerror})") from None
    family, _, proto, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{where} is already in use — is another server running? pick another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"permission denied binding {where}"
                + (" (ports below 1024 need privileges)" if 0 < port < 1024 else "")
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise StartupError(f"cannot bind {where}: no such address on this machine") from None
        raise StartupError(f"cannot bind {where}: {exc.strerror}") from None
    real_host, real_port = sock.getsockname()[:2]
    return BoundSocket(sock, "tcp", _display(BindSpec("tcp", host=real_host, port=real_port)))


def _bind_unix(path: str, backlog: int) -> BoundSocket:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # stale socket left by a previous run
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, UNIX_SOCKET_MODE)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = "it exists and is not a socket" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"cannot bind unix:{path}: {reason}") from None
    return BoundSocket(sock, "unix", f"unix:{path}", path=path)


def _adopt_fd(fd: int) -> BoundSocket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupError(f"cannot use fd://{fd}: {exc.strerror}") from None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        sock.detach()
        raise StartupError(f"fd://{fd} is not a listening stream socket")
    sock.setblocking(False)
    kind: SocketKind = "fd"
    return BoundSocket(sock, kind, f"fd://{fd}")


def _display(spec: BindSpec) -> str:
    if spec.kind == "unix":
        return f"unix:{spec.path}"
    if spec.kind == "fd":
        return f"fd://{spec.fd}"
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"http://{host}:{spec.port}"
