"""Response header rules: name and value checks, banned fields, checked-block caches, Date."""

from __future__ import annotations

import enum
import re
import time
from email.utils import formatdate
from typing import Any, NamedTuple, TypeVar

from ..types import Headers

# RFC 9110 §5.1 token and §5.5 field value (no CR, LF or NUL; no leading/trailing space).
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


# Response headers head() interprets; all others are copied after one joint check.
_SPECIAL = frozenset({b"content-length", b"transfer-encoding", b"connection", b"server", b"date"})


# Header lines as check_header() accepts them, lower-cased names: one regex for them all.
_HEADER_LINES = re.compile(
    rb"(?:[!#$%&'*+\-.^_`|~0-9a-z]+: (?:[^\x00-\x20\x7f](?:[^\x00-\x08\x0a-\x1f\x7f]*"
    rb"[^\x00-\x20\x7f])?)?\r\n)*"
)


HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)


# RFC 9110 §6.5.1: fields a recipient must not take from trailers (framing, routing,
# authentication, request modifiers, response control data, content metadata).
FORBIDDEN_TRAILERS = HOP_BY_HOP | frozenset(
    {
        b"content-length",
        b"content-type",
        b"content-encoding",
        b"content-range",
        b"host",
        b"authorization",
        b"www-authenticate",
        b"set-cookie",
        b"cookie",
        b"cache-control",
        b"expires",
        b"date",
        b"location",
        b"retry-after",
        b"vary",
        b"age",
        b"max-forwards",
        b"expect",
        b"range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
    }
)


class ResponseError(Exception):
    """The app asked for a response HTTP cannot carry (bad header, wrong body length)."""


def check_header(name: bytes, value: bytes) -> None:
    if not _TOKEN.match(name):
        raise ResponseError(f"invalid response header name {name!r}")
    if _BAD_VALUE.search(value) or value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t"):
        raise ResponseError(f"invalid value for response header {name!r}: {value!r}")


class DateClock:
    """The Date header value, formatted at most once a second (one per server, no global)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


class Framing(enum.Enum):
    NONE = "none"  # no body may follow (HEAD, 1xx, 204, 304)
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"
    CLOSE = "close"  # body ends when the connection closes (HTTP/1.0, no length)


class HeaderBlock(NamedTuple):
    """An app's response headers, checked: the lines to send as they are, and what the
    framing needs to know."""

    lines: bytes
    length: int | None  # Content-Length (written by the framing, not in `lines`)
    chunked: bool  # the app asked for Transfer-Encoding: chunked
    close: bool  # the app sent Connection: close
    has_server: bool
    has_date: bool


def check_headers(headers: Headers) -> HeaderBlock:
    """Check an app's response headers (ResponseError if HTTP cannot carry them)."""
    lines: list[bytes] = []
    length: int | None = None
    chunked = close = has_server = has_date = False
    for name, value in headers:
        name = name.lower()
        if name not in _SPECIAL:
            lines.append(name + b": " + value + b"\r\n")  # checked below, all at once
            continue
        if name == b"content-length":
            if not value.isdigit():
                check_header(name, value)
            try:
                parsed = int(value)
            except ValueError:
                raise ResponseError(f"invalid Content-Length {value!r}") from None
            if parsed < 0 or (length is not None and parsed != length):
                raise ResponseError(f"invalid Content-Length {value!r}")
            length = parsed
            continue  # written once by the framing, unless it forbids it
        check_header(name, value)
        if name == b"transfer-encoding":
            if value.lower() != b"chunked":
                raise ResponseError(f"unsupported Transfer-Encoding {value!r}")
            chunked = True
            continue  # the framing writes its own
        if name == b"connection":
            close = close or b"close" in {t.strip() for t in value.lower().split(b",")}
            continue  # the framing writes its own
        if name == b"server":
            has_server = True
        else:
            has_date = True
        lines.append(b"%s: %s\r\n" % (name, value))
    block = b"".join(lines)
    if lines and not _HEADER_LINES.fullmatch(block):
        for name, value in headers:  # find the culprit for the error message
            check_header(name.lower(), value)
    return HeaderBlock(block, length, chunked, close, has_server, has_date)


K = TypeVar("K")


V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, size: int) -> None:
    """memo[key] = value, emptying `memo` first once it holds `size` entries: bounded, and
    cheaper than tracking use (the entries that recur are back at once)."""
    if len(memo) >= size:
        memo.clear()
    memo[key] = value


class HeaderCache:
    """Checked header lists of recent responses, and the heads built from them: apps send
    the same headers again and again. One per server; bounded (each map emptied when
    full). Heads embed the default headers (Date changes once a second): the owner calls
    forget_heads() whenever a new defaults list is in use, and looks heads up in `heads`
    by status, request, framing choices and header pairs (hashing the key raises
    TypeError for unhashable pairs)."""

    __slots__ = ("_blocks", "_size", "h2_heads", "heads")

    def __init__(self, size: int = 256) -> None:
        self._blocks: dict[Any, HeaderBlock] = {}
        self.heads: dict[tuple[Any, ...], tuple[bytes, Framing, int, bool]] = {}
        # HTTP/2 heads: the fields to HPACK-encode, the framing, the Content-Length.
        self.h2_heads: dict[tuple[Any, ...], tuple[Headers, Framing, int]] = {}
        self._size = size

    def forget_heads(self) -> None:
        self.heads.clear()
        self.h2_heads.clear()

    def keep_h2_head(self, key: tuple[Any, ...], value: tuple[Headers, Framing, int]) -> None:
        remember(self.h2_heads, key, value, self._size)

    def keep_head(self, key: tuple[Any, ...], value: tuple[bytes, Framing, int, bool]) -> None:
        remember(self.heads, key, value, self._size)

    def checked(self, headers: Headers) -> HeaderBlock:
        try:
            key = tuple(headers)
            block = self._blocks.get(key)
        except TypeError:  # unhashable pairs (lists): check them every time
            return check_headers(headers)
        if block is None:
            block = check_headers(key)  # type: ignore[arg-type]
            remember(self._blocks, key, block, self._size)
        return block
