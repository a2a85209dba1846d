"""Pure HTTP/1.1 response rules every codec shares: status lines, headers, body framing.

Header checks and defaults, body framing (Content-Length, chunked, close-delimited) and
error responses included."""

from __future__ import annotations

from http import HTTPStatus

from ..errors import ProtocolError
from ..types import Headers
from .headers import (
    FORBIDDEN_TRAILERS,
    Framing,
    HeaderBlock,
    HeaderCache,
    ResponseError,
    check_header,
    check_headers,
)

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}
# Built once at import and never changed: the status lines of every known status.
_STATUS_LINES: dict[tuple[str, int], bytes] = {
    (version, status): b"HTTP/%s %d %s\r\n" % (version.encode(), status, phrase)
    for version in ("1.0", "1.1")
    for status, phrase in _REASONS.items()
}


def reason_phrase(status: int) -> bytes:
    return _REASONS.get(status, b"")


def status_line(http_version: str, status: int) -> bytes:
    line = _STATUS_LINES.get((http_version, status))
    if line is None:
        if not 100 <= status <= 999:
            raise ResponseError(f"invalid status code {status!r}")
        line = b"HTTP/%s %d \r\n" % (http_version.encode(), status)
    return line


def body_allowed(method: bytes, status: int) -> bool:
    """RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304 responses."""
    return not (method == b"HEAD" or status < 200 or status in (204, 304))


class ResponseWriter:
    """Turns one response (head, body parts, end) into bytes, enforcing its framing.

    `keep_alive` starts as what the request allows and ends as whether the connection may
    carry another request after this response."""

    # One writer per response: what most responses leave as it is stays a class default
    # (no __slots__, on purpose, like HTTPCycle).
    framing = Framing.NONE
    status = 0
    _remaining = 0

    def __init__(self, method: bytes, http_version: str, keep_alive: bool) -> None:
        self.method = method
        self.http_version = http_version
        self.keep_alive = keep_alive

    def head(
        self,
        status: int,
        headers: Headers,
        defaults: Headers,
        *,
        chunked_ok: bool = True,
        chunked: bool = False,
        cache: HeaderCache | None = None,
        reuse: bool = True,
    ) -> bytes:
        """Status line and headers; picks the framing. `defaults` (Server, Date) are sent
        unless the app set a header of the same name. `chunked` asks for chunked framing
        on HTTP/1.1 even with a Content-Length (a response that will carry trailers). With
        a `cache`, header lists seen before are not checked again, and a head built before
        for the same status, headers, request and defaults (Date changes once a second) is
        reused as it is, unless `reuse` is false (a head that cannot recur, such as one
        carrying a request id, would only push the others out)."""
        if cache is not None and reuse:
            return self.cached_head(status, headers, defaults, cache, chunked_ok, chunked)
        if status < 200:
            raise ResponseError("use informational() for 1xx responses")
        self.status = status
        if cache is None:
            return self._head(status, check_headers(headers), defaults, chunked_ok, chunked)
        return self._head(status, cache.checked(headers), defaults, chunked_ok, chunked)

    def cached_head(
        self,
        status: int,
        headers: Headers,
        defaults: Headers,
        cache: HeaderCache,
        chunked_ok: bool = True,
        chunked: bool = False,
    ) -> bytes:
        """head() through `cache`: one lookup by status, request, framing choices and
        header pairs for a head built before (what nearly every response finds), else the
        head is built and kept there. The cycle calls it directly."""
        if status < 200:
            raise ResponseError("use informational() for 1xx responses")
        self.status = status
        key = (
            status,
            self.method,
            self.http_version,
            self.keep_alive,
            chunked_ok,
            chunked,
            *headers,
        )
        try:
            known = cache.heads.get(key)
        except TypeError:  # unhashable pairs (lists): built every time
            return self._head(status, check_headers(headers), defaults, chunked_ok, chunked)
        if known is not None:
            head, self.framing, self._remaining, self.keep_alive = known
            return head
        head = self._head(status, cache.checked(headers), defaults, chunked_ok, chunked)
        cache.keep_head(key, (head, self.framing, self._remaining, self.keep_alive))
        return head

    def _head(
        self, status: int, block: HeaderBlock, defaults: Headers, chunked_ok: bool, chunked: bool
    ) -> bytes:
        if block.close:
            self.keep_alive = False
        length = block.length
        app_chunked = block.chunked or (chunked and self.http_version == "1.1")
        parts = [status_line(self.http_version, status), block.lines]
        for name, value in defaults:
            if (name == b"server" and block.has_server) or (name == b"date" and block.has_date):
                continue
            parts.append(b"%s: %s\r\n" % (name, value))

        if not body_allowed(self.method, status):
            self.framing = Framing.NONE
            if self.method == b"HEAD" and length is None and app_chunked:
                parts.append(b"transfer-encoding: chunked\r\n")
        elif length is not None and not app_chunked:
            self.framing = Framing.LENGTH
            self._remaining = length
        elif self.http_version == "1.1" and chunked_ok:
            self.framing = Framing.CHUNKED
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self.framing = Framing.CLOSE
            self.keep_alive = False
        if length is not None and status not in (204, 304) and self.framing is not Framing.CHUNKED:
            parts.append(b"content-length: %d\r\n" % length)
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        elif self.http_version == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    def body(self, data: bytes) -> bytes:
        framing = self.framing
        if framing is Framing.LENGTH:
            self._remaining -= len(data)
            if self._remaining < 0:
                raise ResponseError("response body longer than its Content-Length")
            return data
        if framing is Framing.CHUNKED:
            if not data:
                return b""
            return b"%x\r\n%s\r\n" % (len(data), data)
        if framing is Framing.CLOSE:
            return data
        return b""  # HEAD and friends: the body is dropped

    def last(self, data: bytes) -> bytes:
        """body(data) + end() in one step: the final part of a body without trailers (with
        a Content-Length, the usual response, no other work)."""
        if self.framing is Framing.LENGTH:
            remaining = self._remaining - len(data)
            self._remaining = remaining
            if remaining:
                if remaining < 0:
                    raise ResponseError("response body longer than its Content-Length")
                self.keep_alive = False
                raise ResponseError(
                    f"response body shorter than its Content-Length ({remaining} missing)"
                )
            return data
        return self.body(data) + self.end()

    def raw_span(self, size: int) -> tuple[bytes, bytes]:
        """The framing around `size` body bytes the caller sends itself (sendfile): what
        goes before and after them. Counted like body(); not for bodies that are dropped."""
        framing = self.framing
        if framing is Framing.LENGTH:
            self._remaining -= size
            if self._remaining < 0:
                raise ResponseError("response body longer than its Content-Length")
        elif framing is Framing.CHUNKED and size:
            return b"%x\r\n" % size, b"\r\n"
        elif framing is Framing.NONE:
            raise ResponseError("this response carries no body")
        return b"", b""

    def end(self, trailers: Headers = ()) -> bytes:  # type: ignore[assignment]
        if self.framing is Framing.LENGTH and self._remaining > 0:
            self.keep_alive = False
            raise ResponseError(
                f"response body shorter than its Content-Length ({self._remaining} missing)"
            )
        if self.framing is Framing.CHUNKED:
            if not trailers:
                return b"0\r\n\r\n"
            lines = [b"0\r\n"]
            for name, value in trailers:
                name = name.lower()
                check_header(name, value)
                if name in FORBIDDEN_TRAILERS:
                    raise ResponseError(f"{name!r} is not allowed in trailers")
                lines.append(b"%s: %s\r\n" % (name, value))
            lines.append(b"\r\n")
            return b"".join(lines)
        return b""


def informational(http_version: str, status: int, headers: Headers) -> bytes:
    """A 1xx response (100 Continue, 101 Switching Protocols, 103 Early Hints)."""
    if not 100 <= status < 200:
        raise ResponseError(f"{status} is not an informational status")
    parts = [status_line(http_version, status)]
    for name, value in headers:
        name = name.lower()
        check_header(name, value)
        parts.append(b"%s: %s\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)


def error_response(status: int, defaults: Headers, detail: str = "") -> bytes:
    """A short plain-text answer to bad input; the connection closes after it."""
    text = reason_phrase(status).decode() or "Error"
    body = (f"{status} {text}" + (f": {detail}" if detail else "") + "\n").encode(
        "utf-8", "replace"
    )
    writer = ResponseWriter(b"GET", "1.1", keep_alive=False)
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    return writer.head(status, headers, defaults) + body


class ResponseSide:
    """The sending half every codec shares: one ResponseWriter per response, built with
    the current request's method and version, and the keep-alive verdict it reaches.
    Codecs set `_method` and `_version` as they parse each request head."""

    __slots__ = ("_method", "_version", "keep_alive", "writer")

    def __init__(self) -> None:
        self._method = b"GET"
        self._version = "1.1"
        self.keep_alive = True
        self.writer: ResponseWriter | None = None

    def begin_response(self, method: bytes, http_version: str) -> ResponseWriter:
        self.writer = ResponseWriter(method, http_version, self.keep_alive)
        return self.writer

    def send_informational(self, status: int, headers: Headers) -> bytes:
        return informational("1.1", status, headers)

    def send_response(self, status: int, headers: Headers, defaults: Headers = ()) -> bytes:  # type: ignore[assignment]
        """Head of a response to the current request (a new writer each time)."""
        writer = self.begin_response(self._method, self._version)
        return writer.head(status, headers, defaults)

    def send_body(self, data: bytes) -> bytes:
        assert self.writer is not None, "send_response() first"
        return self.writer.body(data)

    def send_end(self, trailers: Headers = ()) -> bytes:  # type: ignore[assignment]
        assert self.writer is not None, "send_response() first"
        data = self.writer.end(trailers)
        self.keep_alive = self.writer.keep_alive
        return data

    def _fail(self, status: int, detail: str) -> ProtocolError:
        self.keep_alive = False
        return ProtocolError(status, detail)
