"""Machine instructions a server executes per request or message, counted by valgrind.

    python benchmarks/instructions.py                          # duoserve and uvicorn, all loads
    python benchmarks/instructions.py --servers duoserve,uvicorn-h11 --loads asgi-hello

Throughput and CPU time move with whatever else the machine is doing; an instruction count
does not (callgrind counts the same total for the same program and input). Each server runs
under `valgrind --tool=callgrind` twice, serving a few and then many more requests (or
WebSocket echoes) from one sequential client over four keep-alive connections (asgi-close:
a new connection per request); the
difference between the two totals divided by the extra requests is the cost of one request,
start-up and shut-down cancelled out. Slow (valgrind runs Python ~50x slower), so the counts
are small; needs valgrind (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from servers import SERVERS, Server, serving
from wsload import Reader, frame

# load name -> (interface, app, what one unit is)
LOADS = {
    "asgi-hello": ("asgi", "asgi_app:app", "req"),
    "wsgi-hello": ("wsgi", "wsgi_app:app", "req"),
    "ws-small": ("asgi", "asgi_app:app", "msg"),
    "asgi-close": ("asgi", "asgi_app:app", "conn"),
    "asgi-post": ("asgi", "asgi_app:app", "post"),
    "asgi-json": ("asgi", "asgi_app:app", "json"),
    "wsgi-json": ("wsgi", "wsgi_app:app", "json"),
    "fastapi-hello": ("asgi", "fastapi_app:app", "req"),
    "asgi-browser": ("asgi", "asgi_app:app", "browser"),
    "h2-hello": ("asgi", "asgi_app:app", "h2"),
}
DEFAULT_SERVERS = "duoserve,duoserve-h11,uvicorn,uvicorn-h11,uvicorn-wsgi"
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
REQUEST_CLOSE = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
# What benchmarks/post.lua sends: 1 KiB to /echo, which sends it back.
REQUEST_POST = (
    b"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: 1024\r\n\r\n" + b"x" * 1024
)
# About 1 KB of JSON, encoded by the app per request.
REQUEST_JSON = b"GET /json HTTP/1.1\r\nHost: bench\r\n\r\n"
# The request each keep-alive unit sends.
# GET / with the fields a browser sends (Chromium's, about 560 bytes of head).
REQUEST_BROWSER = (
    b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="156", "Not.A/Brand";v="99"\r\nsec-ch-ua-mobile: ?0\r\n'
    b'sec-ch-ua-platform: "Linux"\r\nUpgrade-Insecure-Requests: 1\r\n'
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/156.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"*/*;q=0.8\r\nSec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\nCookie: sessionid=8f1c2e7a9b3d4c5e6f708192a3b4c5d6; "
    b"csrftoken=Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe\r\n\r\n"
)
REQUESTS = {"req": REQUEST, "post": REQUEST_POST, "json": REQUEST_JSON, "browser": REQUEST_BROWSER}
CONNECTIONS = 4


def _http(socks: list[socket.socket], count: int, request: bytes = REQUEST) -> None:
    for i in range(count):
        sock = socks[i % len(socks)]
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += _recv(sock)


def _h2(port: int, count: int) -> None:
    """HTTP/2 hello: h2load (nghttp2-client) over one h2c connection, 32 streams at once,
    as h2load_bench.py runs it per connection."""
    subprocess.run(
        ["h2load", "-c", "1", "-m", "32", "-n", str(count), f"http://127.0.0.1:{port}/"],
        check=True,
        capture_output=True,
    )


def _close(port: int, count: int) -> None:
    """A new connection per request, closed by the server after its answer."""
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(REQUEST_CLOSE)
            while sock.recv(1 << 20):
                pass


def _ws_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    if not data.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {data[:40]!r}")
    return sock


def _ws(socks: list[socket.socket], count: int) -> None:
    message = frame(b"m" * 64)
    readers = [Reader() for _ in socks]
    for i in range(count):
        sock, reader = socks[i % len(socks)], readers[i % len(socks)]
        sock.sendall(message)
        while not reader.feed(_recv(sock)):
            pass


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(1 << 20)
    if not data:
        raise ConnectionError("server closed the connection")
    return data


def count(server: Server, load: str, units: int, out_dir: Path) -> int:
    """Instructions the server's processes executed, start to exit, serving `units`."""
    _, app, unit = LOADS[load]
    for old in out_dir.glob("cg.*"):
        old.unlink()
    wrapper = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.%p")
    extra = ("--single-process",) if server.name.startswith("duoserve") else ()
    with serving(server, app, extra=extra, wrapper=wrapper, patience=180) as (port, _):
        socks: list[socket.socket] = []
        if unit == "conn":
            _close(port, units)
        elif unit == "h2":
            _h2(port, units)
        elif unit == "msg":
            socks = [_ws_connect(port) for _ in range(CONNECTIONS)]
            _ws(socks, units)
        else:
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
            _http(socks, units, REQUESTS[unit])
        for sock in socks:
            sock.close()
    total = 0
    for path in out_dir.glob("cg.*"):  # one file per process (forked workers too)
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total += int(line.split()[1])
                break
    return total


def plan(loads: list[str], wanted: list[str]) -> Iterator[tuple[str, Server, str]]:
    """(load, server, unit) for each installed server of the load's interface; the
    WebSocket and new-connection loads skip the h11 and WSGI variants."""
    for load in loads:
        interface, _, unit = LOADS[load]
        for server in SERVERS:
            if server.name not in wanted or server.interface != interface or server.missing():
                continue
            if unit not in REQUESTS and server.name.endswith(("-h11", "-wsgi")):
                continue
            if unit == "h2" and not server.name.startswith("duoserve"):
                continue  # the HTTP/2 servers are compared in h2load_bench.py
            yield load, server, unit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help="comma-separated names")
    parser.add_argument("--loads", default=",".join(LOADS), help="comma-separated names")
    parser.add_argument("--few", type=int, default=300, help="requests in the first run")
    parser.add_argument("--many", type=int, default=1500, help="requests in the second run")
    args = parser.parse_args(argv)
    loads = args.loads.split(",")
    unknown = set(loads) - set(LOADS) | set(args.servers.split(",")) - {s.name for s in SERVERS}
    if unknown:
        raise SystemExit(f"unknown load or server: {', '.join(sorted(unknown))}")
    if args.few >= args.many:
        raise SystemExit("--many must be larger than --few")
    if shutil.which("valgrind") is None:
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    wanted = args.servers.split(",")
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for load, server, unit in plan(loads, wanted):
            few = count(server, load, args.few, Path(tmp))
            many = count(server, load, args.many, Path(tmp))
            per = (many - few) / (args.many - args.few)
            rows.append((load, server.name, per))
            print(f"{load:11} {server.name:14} {per:10,.0f} instructions/{unit}", flush=True)
    print()
    for load in dict.fromkeys(r[0] for r in rows):
        mine = {name: per for where, name, per in rows if where == load}
        base = next((per for name, per in mine.items() if name == "duoserve"), None)
        for name, per in mine.items():
            ratio = f"{per / base:.2f}" if base else "-"
            print(f"{load:11} {name:14} {per:10,.0f}   x/duoserve {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
