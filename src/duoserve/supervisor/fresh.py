"""A worker in a fresh interpreter (after a reload or a handover): spawning it, its entry."""

from __future__ import annotations

import base64
import os
import pickle
import sys

from .worker import WorkerSpec
from .worker import run as run_worker


def start_fresh(spec: WorkerSpec) -> int:
    """posix_spawn a worker interpreter; it inherits exactly the sockets and its pipe."""
    fds = [ref.fd for ref in spec.sockets if ref.fd >= 0] + [spec.channel]
    if spec.metrics_fd >= 0:
        fds.append(spec.metrics_fd)
    argument = base64.b64encode(pickle.dumps(spec)).decode("ascii")
    # The directory holding the duoserve package (this module is duoserve/supervisor/runtime.py).
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "duoserve.supervisor", argument]
    inheritable = {fd: os.get_inheritable(fd) for fd in fds}
    try:
        for fd in fds:
            os.set_inheritable(fd, True)
        return os.posix_spawn(sys.executable, argv, env)
    finally:
        for fd, was in inheritable.items():
            os.set_inheritable(fd, was)


def fresh_main(argument: str) -> int:
    """Entry point of a fresh worker interpreter."""
    from ..observe.logging import configure

    spec: WorkerSpec = pickle.loads(base64.b64decode(argument))
    configure(spec.config)
    return run_worker(spec)
