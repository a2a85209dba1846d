"""What a server's process tree spends: resident memory per idle keep-alive connection,
and CPU time."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import time
from pathlib import Path

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
SETTLE = 1.0  # seconds for the server to finish its bookkeeping before RSS is read


def raise_fd_limit(wanted: int) -> None:
    """Raise RLIMIT_NOFILE (inherited by the servers started later) or say why it cannot be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))  # works as root
            return
        raise RuntimeError(f"RLIMIT_NOFILE hard limit {hard} < {wanted}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (workers, helpers)."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by a process and its live
    descendants: what a server spent on a load, whoever else was busy on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return pids


def _one_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), 10)
    sock.sendall(REQUEST)
    data = b""
    while b"Hello, world!" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection before answering")
        data += chunk
    return sock


def _still_open(socks: list[socket.socket]) -> int:
    """Count connections the server has not closed (a closed one reads EOF at once)."""
    alive = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            alive += sock.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        sock.setblocking(True)
    return alive


def measure(port: int, pid: int, counts: list[int], results: dict[int, tuple[float, int]]) -> None:
    """Fill `results` for each count in turn: (KiB per connection over the baseline,
    connections still open); a server that fails part way keeps the counts it reached."""
    _one_request(port).close()
    time.sleep(SETTLE)
    baseline = tree_rss(pid)
    socks: list[socket.socket] = []
    try:
        for count in sorted(counts):
            while len(socks) < count:
                socks.append(_one_request(port))
            time.sleep(SETTLE)
            grown = tree_rss(pid) - baseline
            results[count] = (grown / 1024 / count, _still_open(socks))
    except OSError as exc:
        raise ConnectionError(f"at connection {len(socks) + 1:,}: {exc}") from exc
    finally:
        for sock in socks:
            sock.close()
