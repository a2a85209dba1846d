"""Parser-neutral request events: what a codec hands the connection (no h11 types leak up)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from ..types import Headers


class RequestHead(NamedTuple):
    """A validated request head. `path` is the raw path (absolute-form already reduced to
    path), `query` the raw query string without '?', header names lower-cased. A NamedTuple:
    immutable like the other events, and built once per request at a fifth of the cost of a
    frozen dataclass."""

    method: bytes
    target: bytes
    path: bytes
    query: bytes
    http_version: str  # "1.0" or "1.1"
    headers: Headers
    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None  # lower-cased Upgrade token when Connection: upgrade was sent
    content_length: int | None
    chunked: bool


class Body(NamedTuple):
    """A piece of the request body. A NamedTuple too: one per body read, and a codec can
    build it with tuple.__new__ (no Python frame)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfRequest:
    pass


class Signal(enum.Enum):
    NEED_DATA = "need-data"  # feed more bytes
    PAUSED = "paused"  # the request is complete; the next one waits for start_next_cycle()
    CLOSED = "closed"  # the peer closed its sending side between requests


CodecEvent = RequestHead | Body | EndOfRequest | Signal
