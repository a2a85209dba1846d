"""StaticFiles: the --static mounts, an ASGI app in front of the served app.

The --static mounts served by the core in front of the app (ASGI or WSGI), files streamed
with http.response.zerocopysend, opened and checked off the event loop."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import IO, Any

import anyio.to_thread

from ..config.settings import Config
from ..errors import ConfigError
from ..types import ASGIApp, Headers, Receive, Scope, Send
from .static_rules import (
    RangeNotSatisfiable,
    byte_range,
    content_type,
    etag,
    file_segments,
    http_date,
    not_modified,
    parse_mount,
    split_path,
)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Files up to this size are read in the same thread hop that opens them and sent as one
# body (most CSS/JS/icons); larger ones are streamed by the core in blocks.
_INLINE = 64 * 1024
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Opening a FIFO would wait for a writer; non-blocking, it opens and fails the S_ISREG check.
# (Regular files ignore the flag.)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True, slots=True)
class Mount:
    """One --static entry: URL prefix segments and the real path of its directory."""

    prefix: tuple[str, ...]
    root: str

    @property
    def url(self) -> str:
        return "/" + "/".join(self.prefix)


@dataclass(frozen=True, slots=True)
class _Found:
    file: IO[bytes] | None  # open for streaming; None when `data` holds the whole file
    data: bytes
    size: int
    mtime: float
    mtime_ns: int


def parse_mounts(config: Config) -> list[Mount]:
    """The mounts of --static, longest prefix first; ConfigError for a bad entry or a
    directory that does not exist (checked once, at startup)."""
    mounts = []
    for spec in config.static:
        try:
            prefix, directory = parse_mount(spec)
        except ValueError as exc:
            raise ConfigError(f"--static: {exc}") from None
        root = os.path.realpath(directory)
        if not os.path.isdir(root):
            raise ConfigError(f"--static: {directory!r} is not a directory")
        mounts.append(Mount(prefix, root))
    mounts.sort(key=lambda m: len(m.prefix), reverse=True)
    return mounts


def describe_mounts(mounts: list[Mount]) -> str:
    """For the startup log: "/static -> /srv/app/staticfiles, ..."."""
    return ", ".join(f"{m.url} -> {m.root}" for m in mounts)


def with_static(app: ASGIApp, config: Config) -> ASGIApp:
    """`app` itself when there is no --static, else the app behind StaticFiles."""
    if not config.static:
        return app
    return StaticFiles(app, parse_mounts(config), config.static_cache_control)


class StaticFiles:
    """An ASGI app in front of another. A request whose path is under a mount is answered
    here and never reaches the app; everything else passes through untouched."""

    def __init__(self, app: ASGIApp, mounts: list[Mount], cache_control: str) -> None:
        self.app = app
        self.mounts = mounts
        # Fast path for the app's requests: a raw path with no escapes that starts with no
        # mount prefix cannot be under one.
        self._starts = tuple(m.url.encode("utf-8") for m in mounts)
        self._extra: Headers = [(b"accept-ranges", b"bytes")]
        if cache_control:
            self._extra.append((b"cache-control", cache_control.encode("latin-1")))

    def describe(self) -> str:
        return describe_mounts(self.mounts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
            if b"%" not in raw and b"\\" not in raw and not raw.startswith(self._starts):
                return await self.app(scope, receive, send)
            segments = split_path(raw)
            if segments is None:
                if any(_under(raw, m) for m in self.mounts):
                    return await _plain(send, 404, b"Not Found")
            else:
                for mount in self.mounts:
                    n = len(mount.prefix)
                    if tuple(segments[:n]) == mount.prefix and len(segments) > n:
                        return await self._serve(mount, segments[n:], scope, send)
                    if tuple(segments) == mount.prefix:
                        return await _plain(send, 404, b"Not Found")
        await self.app(scope, receive, send)

    async def _serve(self, mount: Mount, rest: list[str], scope: Scope, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return await _plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
        names = file_segments(rest)
        found = None if names is None else await anyio.to_thread.run_sync(_open, mount, names)
        if found is None:
            return await _plain(send, 404, b"Not Found")
        try:
            await self._respond(found, names[-1] if names else "", scope, send)
        finally:
            if found.file is not None:
                await anyio.to_thread.run_sync(found.file.close)

    async def _respond(self, found: _Found, name: str, scope: Scope, send: Send) -> None:
        headers: Headers = scope["headers"]
        tag = etag(found.size, found.mtime_ns)
        validators: Headers = [
            (b"etag", tag),
            (b"last-modified", http_date(found.mtime)),
            *self._extra,
        ]
        if not_modified(headers, tag, found.mtime):
            await send({"type": "http.response.start", "status": 304, "headers": validators})
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            wanted = byte_range(headers, found.size, tag, found.mtime)
        except RangeNotSatisfiable:
            extra = [(b"content-range", b"bytes */%d" % found.size), *validators]
            return await _plain(send, 416, b"Range Not Satisfiable", extra)
        status = 200
        start, length = 0, found.size
        response: Headers = [(b"content-type", content_type(name)), *validators]
        if wanted is not None:
            status = 206
            start, length = wanted[0], wanted[1] - wanted[0] + 1
            response.append(
                (b"content-range", b"bytes %d-%d/%d" % (wanted[0], wanted[1], found.size))
            )
        response.append((b"content-length", b"%d" % length))
        await send({"type": "http.response.start", "status": status, "headers": response})
        if scope["method"] == "HEAD" or length == 0 or found.file is None:
            body = found.data[start : start + length] if scope["method"] != "HEAD" else b""
            await send({"type": "http.response.body", "body": body})
            return
        await send(
            {
                "type": "http.response.zerocopysend",
                "file": found.file,
                "offset": start,
                "count": length,
            }
        )


def _under(raw: bytes, mount: Mount) -> bool:
    """Whether a path that cannot be mapped still points below this mount."""
    prefix = mount.url.encode("utf-8")
    return raw == prefix or raw.startswith(prefix + b"/")


def _open(mount: Mount, names: list[str]) -> _Found | None:
    """Runs in a thread: the regular file `names` under the mount, or None. The real path
    must stay inside the directory, so a symlink pointing out of it is not followed."""
    path = os.path.realpath(os.path.join(mount.root, *names))
    if os.path.commonpath((path, mount.root)) != mount.root:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        file = os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None
    if info.st_size > _INLINE:
        return _Found(file, b"", info.st_size, info.st_mtime, info.st_mtime_ns)
    with file:
        try:
            data = file.read(_INLINE + 1)
        except OSError:
            return None
    # The size the validators and Content-Length describe is what was read.
    return _Found(None, data, len(data), info.st_mtime, info.st_mtime_ns)


async def _plain(send: Send, status: int, text: bytes, extra: Headers | None = None) -> None:
    body = text + b"\n"
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *(extra or ()),
    ]
    message: dict[str, Any] = {"type": "http.response.start", "status": status}
    message["headers"] = headers
    await send(message)
    await send({"type": "http.response.body", "body": body})
