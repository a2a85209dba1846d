"""WSGIAdapter: a PEP 3333 app served as an ASGI app, in threads, bodies streamed both ways.

WSGIAdapter: serves a PEP 3333 app as an ASGI app, running it in worker threads with
the request and response bodies streamed both ways under back-pressure."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ..config.settings import Config
from ..http1.headers import remember
from ..types import Environ, ExcInfo, Headers, Message, Receive, Scope, Send, WSGIApp
from .environ import ErrorStream, build_environ, environ_keys
from .input import InputStream, make_pull, spool_body
from .thread_pool import ThreadPool, call_async, post_last

_STATUS = re.compile(r"([1-9][0-9]{2})(?: [^\r\n\x00]*)?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile("[\r\n\x00]")
# Header lists checked recently, per adapter (apps send the same ones again and again);
# emptied when full.
_CHECKED_MAX = 256
# Iterators over a body already in memory (a list or tuple inside the app's result).
_IN_MEMORY: tuple[type, ...] = (type(iter([])), type(iter(())))
# RFC 9110 §7.6.1 connection-specific fields, which PEP 3333 forbids an app to set. Two are
# tolerated as gunicorn and waitress do, because real apps send them: `Connection: close`
# is honoured and `Transfer-Encoding: chunked` is the server's own framing anyway.
_HOP_BY_HOP = frozenset(
    {"keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"}
)
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
_FILE_BLOCK = 256 * 1024


class FileWrapper:
    """wsgi.file_wrapper. Served by the core with `http.response.zerocopysend` (sendfile when
    the socket allows) when the file has a descriptor; otherwise an ordinary iterable."""

    def __init__(self, filelike: IO[bytes], blksize: int = _FILE_BLOCK) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while data := read(self.blksize):
            yield data

    def fileno(self) -> int | None:
        """The descriptor of a regular file, or None when the core cannot sendfile it."""
        try:
            fd = self.filelike.fileno()
            return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
        except (AttributeError, OSError, ValueError):
            return None


class Responder:
    """start_response and write() for one request, called in the app thread. The status
    and headers go out with the first non-empty body chunk (PEP 3333), so an app may still
    replace them with exc_info until then."""

    def __init__(
        self,
        send_sync: Callable[[list[Message]], None],
        send_last: Callable[[list[Message]], None],
        seen_headers: dict[tuple[tuple[str, str], ...], Headers],
    ) -> None:
        self._send_sync = send_sync
        self._seen_headers = seen_headers
        # The end of the response: the thread goes on to close() without waiting for it
        # (measured: Django through wsgi.py 3,450 → 4,280 req/s; not waiting for body
        # chunks as well made it slower, as the thread then contends with the event loop
        # for the GIL while it runs the app's close()).
        self._send_last = send_last
        self.status: int | None = None
        self.headers: Headers = []
        self.started = False  # http.response.start is out

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        self.status = _check_status(status)
        self.headers = _check_headers(headers, self._seen_headers)
        return self.write

    def write(self, data: bytes) -> None:
        """The PEP's write() callable; returns once the data is handed to the socket."""
        if self.status is None:
            raise RuntimeError("write() called before start_response()")
        self.send_chunk(data)

    def send_chunk(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"a WSGI app must produce bytes, got {type(data).__name__}")
        if not data:
            return
        self._send_sync([*self.start_messages(), _body(data, True)])

    def finish(self) -> None:
        self._send_last([*self.start_messages(), _END])

    def early_hints(self, headers: list[tuple[str, str]]) -> None:
        """wsgi.early_hints: send a 103 Early Hints with these headers (usually Link) now,
        before the response; ignored once the response has started."""
        checked = _check_headers(headers, self._seen_headers)
        if checked and not self.started:
            self._send_sync([{"type": "http.response.early_hint", "headers": checked}])

    def start_messages(self) -> list[Message]:
        if self.started:
            return []
        if self.status is None:
            raise RuntimeError("the WSGI app produced a body before calling start_response()")
        self.started = True
        return [{"type": "http.response.start", "status": self.status, "headers": self.headers}]


class WSGIAdapter:
    """An ASGI app around a WSGI app. Each request runs in a thread of a pool bounded by
    `threads`; the thread reaches the event loop only to read body bytes as the app asks
    for them and to write response chunks, so both directions keep back-pressure."""

    def __init__(self, app: WSGIApp, config: Config, *, multiprocess: bool | None = None) -> None:
        self.app = app
        self.config = config
        self.multiprocess = config.workers > 1 if multiprocess is None else multiprocess
        self.errors = ErrorStream(logging.getLogger("duoserve.error"))
        self._threads = ThreadPool(config.threads, "duoserve-wsgi")
        self._seen_headers: dict[tuple[tuple[str, str], ...], Headers] = {}
        self._environ_keys = environ_keys()

    @property
    def thread_pool(self) -> ThreadPool:
        """The pool its requests run in (the metrics read its busy and queued counts)."""
        return self._threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return  # WSGI has no lifespan; the server runs lifespan "off" for it anyway
        if scope["type"] != "http":
            raise RuntimeError(f"a WSGI app cannot serve {scope['type']!r} connections")
        responder = Responder(
            lambda messages: call_async(_send_all, send, messages),
            lambda messages: post_last(_send_all, send, messages),
            self._seen_headers,
        )
        result = await self._threads.run(self._run, scope, receive, responder)
        if result is None:
            return
        try:
            if isinstance(result, FileWrapper):
                await _send_all(send, responder.start_messages())
                await send(
                    {
                        "type": "http.response.zerocopysend",
                        "file": result.filelike,
                        "more_body": False,
                    }
                )
            else:
                await _send_all(send, _whole_body(responder, result))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                await self._threads.run(close)

    def _run(
        self, scope: Scope, receive: Receive, responder: Responder
    ) -> FileWrapper | list[bytes] | tuple[bytes, ...] | None:
        """The app thread. Returns a finished result for the event loop to send itself (a
        list of bytes, or a file to sendfile); otherwise streams and returns None."""
        headers = scope["headers"]
        chunked = any(n == b"transfer-encoding" for n, _ in headers)
        has_body = chunked or any(n == b"content-length" and v != b"0" for n, v in headers)
        pull = make_pull(lambda: call_async(receive), has_body)
        body: Any
        if chunked and self.config.wsgi_chunked_input == "buffer":
            body, length = spool_body(pull, self.config.wsgi_input_spool)
            scope = {**scope, "headers": _with_length(headers, length)}
        else:
            body = InputStream(pull)
        try:
            environ = build_environ(
                scope, body, self.errors, multiprocess=self.multiprocess, keys=self._environ_keys
            )
            environ["wsgi.file_wrapper"] = FileWrapper
            if "http.response.early_hint" in scope.get("extensions", ()):
                environ["wsgi.early_hints"] = responder.early_hints
            return self._call(environ, responder)
        finally:
            self.errors.flush()
            if not isinstance(body, InputStream):
                body.close()

    def _call(
        self, environ: Environ, responder: Responder
    ) -> FileWrapper | list[bytes] | tuple[bytes, ...] | None:
        result: Iterable[bytes] = self.app(environ, responder.start_response)
        if type(result) in (list, tuple) and not responder.started:
            return result  # type: ignore[return-value]  # sent from the event loop: no hops
        if (
            isinstance(result, FileWrapper)
            and not responder.started
            and responder.status is not None
            and result.fileno() is not None
        ):
            return result
        try:
            chunks = iter(result)
            if type(chunks) in _IN_MEMORY and not responder.started:
                # The body is a list inside an object (a Django HttpResponse): taken
                # whole here, so that like a list it goes out from the event loop without
                # a thread crossing per chunk; close() runs here, before it is sent. A
                # generator is streamed as it produces, as before.
                return list(chunks)
            for chunk in chunks:
                responder.send_chunk(chunk)
            responder.finish()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return None


def _whole_body(responder: Responder, chunks: list[bytes] | tuple[bytes, ...]) -> list[Message]:
    """The messages for a body the app returned whole; with Content-Length when the app gave
    none, so that even HTTP/1.0 clients keep the connection."""
    for chunk in chunks:
        if not isinstance(chunk, bytes):
            raise TypeError(f"a WSGI app must produce bytes, got {type(chunk).__name__}")
    if responder.status is not None and not any(
        n == b"content-length" for n, _ in responder.headers
    ):
        responder.headers.append((b"content-length", b"%d" % sum(map(len, chunks))))
    messages = responder.start_messages()
    parts = [chunk for chunk in chunks if chunk]
    if parts:  # the last part ends the body: one send less than an empty end
        last = parts.pop()
        messages.extend(_body(chunk, True) for chunk in parts)
        messages.append(_body(last, False))
    else:
        messages.append(_END)
    return messages


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)


def _body(data: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def _with_length(headers: Headers, length: int) -> Headers:
    kept = [(n, v) for n, v in headers if n not in (b"transfer-encoding", b"content-length")]
    return [*kept, (b"content-length", b"%d" % length)]


def _check_status(status: str) -> int:
    if not isinstance(status, str) or not _STATUS.fullmatch(status):
        raise ValueError(f"invalid WSGI status {status!r}: expected e.g. '200 OK'")
    code = int(status[:3])
    if code < 200:
        raise ValueError(f"WSGI status {status!r}: informational responses are not allowed")
    return code


def _check_headers(
    headers: list[tuple[str, str]], seen: dict[tuple[tuple[str, str], ...], Headers]
) -> Headers:
    """The app's headers as ASGI wants them, or TypeError/ValueError. A list in `seen` is
    not checked again (the result is a copy: callers may add to it)."""
    if not isinstance(headers, list):
        raise TypeError(f"WSGI response headers must be a list, got {type(headers).__name__}")
    try:
        key = tuple(headers)
        known = seen.get(key)
    except TypeError:  # unhashable items: checked below, and refused
        return _check_header_list(headers)
    if known is None:
        known = _check_header_list(headers)
        remember(seen, key, known, _CHECKED_MAX)
    return list(known)


def _check_header_list(headers: list[tuple[str, str]]) -> Headers:
    checked: Headers = []
    for item in headers:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"WSGI response header must be a (name, value) tuple: {item!r}")
        name, value = item
        if not (isinstance(name, str) and isinstance(value, str)):
            raise TypeError(f"WSGI response header name and value must be str: {item!r}")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid WSGI response header name {name!r}")
        if name.lower() in _HOP_BY_HOP:
            raise ValueError(f"hop-by-hop header {name!r} is not allowed in a WSGI response")
        if _BAD_VALUE.search(value):
            raise ValueError(f"invalid value for WSGI response header {name!r}: {value!r}")
        try:
            # Whitespace around a value is not part of it (RFC 9110 §5.5); Django's WSGI
            # handler sends Set-Cookie values with a leading space.
            checked.append((name.lower().encode("ascii"), value.strip(" \t").encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(f"WSGI response header {name!r} is not latin-1: {value!r}") from None
    return checked
