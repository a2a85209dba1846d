"""WSGI hello world as a plain function."""

from __future__ import annotations

from collections.abc import Iterable

from duoserve.types import Environ, StartResponse

BODY = b"Hello, world!"


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
