"""Pure HTTP rules for serving files: paths, content types, validators, conditions, ranges.

URL-to-path mapping, content types, validators, conditional requests (RFC 9110 §13) and byte
ranges (RFC 9110 §14)."""

from __future__ import annotations

import mimetypes
import re
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from ..types import Headers

# A private table (the built-in one, not the machine's /etc/mime.types), so a file gets
# the same type on every host; plus types the stdlib table lacks or gets wrong for the web.
_TYPES = mimetypes.MimeTypes()
for _ext, _type in {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
}.items():
    _TYPES.add_type(_type, _ext)
# Compressed files are served as what they are, never with a Content-Encoding the client
# did not ask for.
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_CHARSET_TYPES = frozenset(
    {"text/javascript", "application/json", "application/manifest+json", "image/svg+xml"}
)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_ENCODED_SEPARATORS = (b"%2f", b"%5c", b"%00")


def parse_mount(spec: str) -> tuple[tuple[str, ...], str]:
    """("static", "css") and the directory from "/static/css=DIR"; ValueError when malformed."""
    prefix, sep, directory = spec.partition("=")
    if not sep or not prefix.startswith("/") or not directory:
        raise ValueError(f"expected /URL/PREFIX=DIRECTORY, got {spec!r}")
    segments = tuple(s for s in prefix.split("/") if s)
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"the URL prefix may not contain '.' or '..': {spec!r}")
    return segments, directory


def split_path(raw_path: bytes) -> list[str] | None:
    """The decoded segments of a raw request path, or None when a segment could name
    something other than a plain file name (encoded separators, NUL, backslash, invalid
    UTF-8). '.' and '..' are kept here so the caller can refuse them under a prefix."""
    if not raw_path.startswith(b"/"):
        return None
    lowered = raw_path.lower()
    if any(bad in lowered for bad in _ENCODED_SEPARATORS) or b"\\" in raw_path:
        return None
    segments = []
    for part in raw_path[1:].split(b"/"):
        try:
            text = (unquote_to_bytes(part) if b"%" in part else part).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if "\x00" in text or "\\" in text:
            return None
        segments.append(text)
    return segments


def file_segments(rest: list[str]) -> list[str] | None:
    """The path below a mount point, or None for anything but a plain relative file path:
    no empty, '.' or '..' segments (no listing, no escape) and no hidden files or
    directories such as .git or .env, except .well-known (RFC 8615)."""
    if not rest or any(not s or (s[0] == "." and s != ".well-known") for s in rest):
        return None
    return rest


def content_type(name: str) -> bytes:
    guessed, encoding = _TYPES.guess_type(name, strict=False)
    if encoding is not None:
        guessed = _ENCODED_TYPES.get(encoding, "application/octet-stream")
    if guessed is None:
        return b"application/octet-stream"
    if guessed.startswith("text/") or guessed in _CHARSET_TYPES:
        guessed += "; charset=utf-8"
    return guessed.encode("ascii")


def etag(size: int, mtime_ns: int) -> bytes:
    """A strong validator from size and modification time (no file read needed)."""
    return b'"%x-%x"' % (size, mtime_ns)


def http_date(mtime: float) -> bytes:
    return formatdate(int(mtime), usegmt=True).encode("ascii")


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _parse_date(value: bytes) -> float | None:
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def not_modified(headers: Headers, tag: bytes, mtime: float) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) wins over If-Modified-Since."""
    match = _header(headers, b"if-none-match")
    if match is not None:
        if match.strip() == b"*":
            return True
        return any(t.strip().removeprefix(b"W/") == tag for t in match.split(b","))
    since = _header(headers, b"if-modified-since")
    if since is not None:
        when = _parse_date(since)
        return when is not None and int(mtime) <= when
    return False


def byte_range(headers: Headers, size: int, tag: bytes, mtime: float) -> tuple[int, int] | None:
    """The one (start, end-inclusive) range asked for, or None for the whole file. Raises
    RangeNotSatisfiable for a range outside the file. Malformed, multi-range and stale
    If-Range requests get the whole file (RFC 9110 §14.2 allows ignoring Range)."""
    value = _header(headers, b"range")
    if value is None:
        return None
    if_range = _header(headers, b"if-range")
    if if_range is not None and if_range != tag:
        when = _parse_date(if_range)
        if when is None or int(mtime) != when:
            return None
    match = _RANGE.fullmatch(value.decode("latin-1").strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


class RangeNotSatisfiable(Exception):
    """The Range header asks only for bytes past the end of the file (416)."""
