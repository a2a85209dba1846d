"""The HTTP/2 layer's cost per hello request, without sockets, tasks or an app.

An h2 client's header blocks, 32 GET requests per read (as `h2load -m 32` sends them),
are fed to `H2ServerConnection`; each request is answered with a 5-field head and 13
bytes, and its stream released. Prints the best time per request of five runs, or, with
`--instructions`, the machine instructions per request counted by valgrind's callgrind
(the difference between 60 and 10 batches, start-up cancelled out; repeatable where
times are not).

    python benchmarks/h2_sansio.py [--instructions] [--batches N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

import h2.config
import h2.connection

from duoserve.http2.connection import H2ServerConnection
from duoserve.http2.events import RequestHead
from duoserve.http2.limits import H2Limits

PER_READ = 32
REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8080"),
    (b":path", b"/"),
    (b"user-agent", b"h2load nghttp2/1.52.0"),
]
RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"13"),
    (b"server", b"duoserve"),
    (b"date", b"Mon, 07 Dec 2026 15:00:00 GMT"),
]


def client_reads(batches: int) -> tuple[bytes, list[bytes]]:
    """The client's preface and SETTINGS, then one read per batch of requests."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    client = h2.connection.H2Connection(config)
    client.initiate_connection()
    client.increment_flow_control_window(2**30 - 65_535)  # as h2load opens it
    first = client.data_to_send()
    reads = []
    sid = 1
    for _ in range(batches):
        for _ in range(PER_READ):
            client.send_headers(sid, REQUEST, end_stream=True)
            sid += 2
        reads.append(client.data_to_send())
    return first, reads


def serve(first: bytes, reads: list[bytes]) -> int:
    """Requests answered."""
    conn = H2ServerConnection(H2Limits())
    conn.initiate()
    conn.receive_data(first)
    conn.data_to_send()
    done = 0
    for data in reads:
        for event in conn.receive_data(data):
            if type(event) is RequestHead:
                # The whole response in one call, as the driver sends a response whose
                # body is all there (H2Stream.respond).
                conn.send_response(event.stream_id, RESPONSE, b"Hello, world!")
                conn.release(event.stream_id)
                done += 1
        conn.output()
    return done


def instructions(batches: int) -> int:
    """Instructions callgrind counts for this script serving `batches` reads."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    argv += [__file__, "--run", str(batches)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        sys.exit(f"no count from valgrind:\n{out[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # one counted run
    args = parser.parse_args()
    if args.run is not None:
        first, reads = client_reads(60)  # the same client work whatever is served
        serve(first, reads[: args.run])
        return
    if args.instructions:
        extra = instructions(60) - instructions(10)
        print(f"{extra // (50 * PER_READ):,} instructions per request")
        return
    first, reads = client_reads(args.batches)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        done = serve(first, reads)
        best = min(best, (time.perf_counter() - start) / done)
    print(f"{done:,} requests, {best * 1e6:.1f} us per request")


if __name__ == "__main__":
    main()
