"""Server CPU per WebSocket echo over HTTP/1.1 and over HTTP/2 (RFC 8441), one connection.

    python benchmarks/ws_h2_cpu.py --messages 20000 --size 64 --parallel 8

Starts `duoserve benchmarks.apps.asgi_app:app --single-process` (h2c) on a free port, opens
`--parallel` WebSockets (HTTP/1.1: one connection each; HTTP/2: streams of one connection),
keeps one message in flight on each, and reads the server's CPU time (user + system, from
/proc) around the echoes. Prints one line of JSON per protocol: echoes per second and server
µs of CPU per echo. The client (h2 and wsproto, pure Python) is slower than the server, so
the rate says little; the CPU per echo is the figure to compare.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the server does
    return sock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def h1_echoes(port: int, parallel: int, messages: int, payload: bytes) -> None:
    socks = []
    for _ in range(parallel):
        sock = connect(port)
        key = base64.b64encode(os.urandom(16))
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        ws = Connection(ConnectionType.CLIENT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        socks.append((sock, ws))
    for _ in range(messages // parallel):
        for sock, ws in socks:
            sock.sendall(ws.send(BytesMessage(payload)))
        for sock, ws in socks:
            while not any(isinstance(e, BytesMessage) for e in _events(ws, sock)):
                pass
    for sock, _ in socks:
        sock.close()


def _events(ws: Connection, sock: socket.socket) -> list[object]:
    ws.receive_data(sock.recv(65536))
    return list(ws.events())


def h2_echoes(port: int, parallel: int, messages: int, payload: bytes) -> None:
    sock = connect(port)
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams: dict[int, Connection] = {}
    for _ in range(parallel):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(
            sid,
            [
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":path", b"/ws"),
                (b":authority", b"127.0.0.1"),
                (b"sec-websocket-version", b"13"),
            ],
        )
        streams[sid] = Connection(ConnectionType.CLIENT)
    sock.sendall(conn.data_to_send())
    for _ in range(messages // parallel):
        for sid, ws in streams.items():
            conn.send_data(sid, ws.send(BytesMessage(payload)))
        sock.sendall(conn.data_to_send())
        waiting = set(streams)
        while waiting:
            for event in conn.receive_data(sock.recv(65536)):
                if isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    ws = streams[event.stream_id]
                    ws.receive_data(event.data)
                    if any(isinstance(e, BytesMessage) for e in ws.events()):
                        waiting.discard(event.stream_id)
            sock.sendall(conn.data_to_send())
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64, help="message bytes, up to 16000")
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    if not 0 < args.size <= 16_000:
        parser.error("--size: 1 to 16000 bytes (a message in one DATA frame)")
    port = free_port()
    command = [sys.executable, "-m", "duoserve", "benchmarks.apps.asgi_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--single-process"]
    command += ["--no-access-log", "--ws-ping-interval", "0"]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        payload = os.urandom(args.size)
        for name, run in (("http/1.1", h1_echoes), ("h2", h2_echoes)):
            run(port, args.parallel, args.parallel * 50, payload)  # warm-up
            cpu, start = cpu_seconds(server.pid), time.perf_counter()
            run(port, args.parallel, args.messages, payload)
            cpu, wall = cpu_seconds(server.pid) - cpu, time.perf_counter() - start
            done = args.messages // args.parallel * args.parallel
            result = {
                "protocol": name,
                "echoes_per_s": round(done / wall),
                "server_us_per_echo": round(cpu / done * 1e6, 1),
            }
            print(json.dumps(result), flush=True)
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    main()
