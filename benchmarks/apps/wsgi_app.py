"""WSGI app served by every WSGI server in the benchmark: the same routes as asgi_app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from asgi_app import CHUNK, CHUNKS, DOCUMENT, HELLO


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [HELLO]
    if path == "/json":
        body = json.dumps(DOCUMENT).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path == "/stream":
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", "1048576")],
        )
        return stream()
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Not found!!!!"]


def stream() -> Iterator[bytes]:
    for _ in range(CHUNKS):
        yield CHUNK
