"""systemd integration without a dependency: socket activation and sd_notify."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping, MutableMapping

_FIRST_FD = 3  # SD_LISTEN_FDS_START


def activated_binds(environ: MutableMapping[str, str]) -> tuple[str, ...]:
    """The sockets systemd passed us (LISTEN_FDS/LISTEN_PID) as fd:// binds; the variables
    are removed so workers and the app's subprocesses do not claim them too."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return ()
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return ()
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    return tuple(f"fd://{fd}" for fd in range(_FIRST_FD, _FIRST_FD + count))


def notify(state: str, environ: Mapping[str, str]) -> None:
    """Tell systemd about a state change (READY=1, STOPPING=1) when it asked to be told."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.connect(address)
        sock.sendall(state.encode())
