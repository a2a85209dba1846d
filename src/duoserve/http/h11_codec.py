"""H1Codec over h11: a head pre-scan enforcing our limits and RFC 9112 rules where h11 is lax,
h11 for parsing, and the shared ResponseWriter for the way out."""

from __future__ import annotations

import re

import h11

from ..config import Config
from ..errors import ProtocolError
from ..types import Headers
from .events import Body, CodecEvent, EndOfRequest, RequestHead, Signal
from .framing import ResponseWriter, informational

# method SP request-target SP HTTP-version (RFC 9112 §3); only the version is read here.
_VERSION = re.compile(rb" HTTP/(\d+)\.(\d+)$")
_MIGHT_SWITCH = h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]  # exported at runtime
# RFC 3986 host (reg-name, IPv4, IP-literal) with an optional port (RFC 9110 §7.2).
_HOST = re.compile(
    rb"^(?:\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._~-]+)?\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$"
)


class H11Codec:
    """One instance per connection. A fresh h11.Connection parses each request, so the bytes
    that follow a request (pipelined requests, WebSocket frames) are always ours to hand on."""

    __slots__ = (
        "_body_limit",
        "_body_seen",
        "_buf",
        "_eof",
        "_fields_limit",
        "_h11",
        "_head_limit",
        "_line_limit",
        "_max_incomplete",
        "_method",
        "_version",
        "keep_alive",
        "writer",
    )

    def __init__(self, config: Config) -> None:
        self._line_limit = config.limit_request_line
        self._head_limit = config.limit_request_head
        self._fields_limit = config.limit_request_fields
        self._body_limit = config.limit_request_body
        self._max_incomplete = max(config.limit_request_head, 16 * 1024)
        self._buf = bytearray()
        self._eof = False
        self._h11: h11.Connection | None = None
        self._body_seen = 0
        self.keep_alive = True
        self.writer: ResponseWriter | None = None
        self._method = b"GET"
        self._version = "1.1"

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._h11 is None:
            if data:
                self._buf += data
            else:
                self._eof = True
        else:
            self._h11.receive_data(data)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        if self._h11 is None:
            return len(self._buf)
        return len(self._h11.trailing_data[0])

    @property
    def trailing_data(self) -> bytes:
        """Bytes after the current request (after a 101: the new protocol's first bytes)."""
        if self._h11 is None:
            return bytes(self._buf)
        return self._h11.trailing_data[0]

    @property
    def response_started(self) -> bool:
        return self.writer is not None

    def next_event(self) -> CodecEvent:
        conn = self._h11
        if conn is None:
            return self._scan_head()
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            self.keep_alive = False
            raise ProtocolError(exc.error_status_hint, str(exc)) from None
        if type(event) is h11.Data:
            self._body_seen += len(event.data)
            if self._body_limit and self._body_seen > self._body_limit:
                self.keep_alive = False
                raise ProtocolError(413, "request body larger than the server accepts")
            return Body(bytes(event.data))
        if type(event) is h11.EndOfMessage:
            return EndOfRequest()
        if event is h11.NEED_DATA:
            return Signal.NEED_DATA
        if event is h11.PAUSED:
            return Signal.PAUSED
        return Signal.CLOSED  # h11.ConnectionClosed after a complete request

    def _scan_head(self) -> CodecEvent:
        """Find one complete request head in our buffer and check it before h11 sees it.
        Checks here hold however the bytes were split into reads."""
        buf = self._buf
        # RFC 9112 §2.2: ignore at least one empty line before the request line.
        strip = 0
        while buf.startswith(b"\r\n", strip) or buf.startswith(b"\n", strip):
            strip += 2 if buf[strip] == 0x0D else 1
        if strip:
            del buf[:strip]
        if not buf:
            return Signal.CLOSED if self._eof else Signal.NEED_DATA
        line_end = buf.find(b"\n")
        if line_end == -1:
            if len(buf) > self._line_limit:
                raise self._fail(414, "request line too long")
            if self._eof:
                raise self._fail(400, "connection closed inside the request line")
            return Signal.NEED_DATA
        if line_end > self._line_limit:
            raise self._fail(414, "request line too long")
        version = _VERSION.search(bytes(buf[:line_end]).rstrip(b"\r"))
        if version is not None and version.group(1) != b"1":
            raise self._fail(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        end = _head_end(buf, line_end)
        if end == -1:
            if len(buf) > self._head_limit:
                raise self._fail(431, "request head too large")
            if self._eof:
                raise self._fail(400, "connection closed inside the request head")
            return Signal.NEED_DATA
        if end > self._head_limit:
            raise self._fail(431, "request head too large")
        if buf.count(b"\n", 0, end) - 2 > self._fields_limit:
            raise self._fail(431, "too many header fields")

        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_incomplete)
        conn.receive_data(bytes(buf))
        buf.clear()
        if self._eof:
            conn.receive_data(b"")
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._fail(exc.error_status_hint, str(exc)) from None
        if not isinstance(event, h11.Request):  # pragma: no cover - head is complete
            raise self._fail(400, "malformed request")
        self._h11 = conn
        self._body_seen = 0
        return self._build_head(event)

    def _build_head(self, req: h11.Request) -> RequestHead:
        http_version = "1.0" if req.http_version == b"1.0" else "1.1"
        headers: Headers = list(req.headers)
        hosts = 0
        host_ok = True
        content_length: int | None = None
        chunked = False
        connection_tokens: set[bytes] = set()
        expect_continue = False
        upgrade: bytes | None = None
        for name, value in headers:
            if name == b"host":
                hosts += 1
                host_ok = host_ok and bool(_HOST.match(value))
            elif name == b"content-length":
                content_length = int(value)  # h11 has validated it
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"connection":
                connection_tokens.update(t.strip() for t in value.lower().split(b","))
            elif name == b"expect":
                expect_continue = value.lower() == b"100-continue"
            elif name == b"upgrade":
                upgrade = value.lower().strip()
        if chunked and content_length is not None:
            # RFC 9112 §6.3: a smuggling signature; answer and close.
            raise self._fail(400, "both Content-Length and Transfer-Encoding")
        if chunked and http_version == "1.0":
            # RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; the framing is faulty.
            raise self._fail(400, "Transfer-Encoding in an HTTP/1.0 request")
        if http_version == "1.1" and hosts != 1:
            raise self._fail(400, "exactly one Host header is required")
        if not host_ok:
            raise self._fail(400, "invalid Host header")
        if self._body_limit and content_length is not None and content_length > self._body_limit:
            raise self._fail(413, "request body larger than the server accepts")
        if http_version == "1.1":
            keep_alive = b"close" not in connection_tokens
        else:
            keep_alive = b"keep-alive" in connection_tokens
        if b"upgrade" not in connection_tokens:
            upgrade = None
        self.keep_alive = keep_alive
        self._method = bytes(req.method)
        self._version = http_version

        target = bytes(req.target)
        path = target
        if not target.startswith(b"/"):
            # absolute-form (RFC 9112 §3.2.2): the app sees path and query, not the URL.
            scheme_end = target.find(b"://")
            if scheme_end != -1:
                slash = target.find(b"/", scheme_end + 3)
                query_mark = target.find(b"?", scheme_end + 3)
                if slash == -1 or (query_mark != -1 and query_mark < slash):
                    path = b"/" + (target[query_mark:] if query_mark != -1 else b"")
                else:
                    path = target[slash:]
        path, _, query = path.partition(b"?")
        fragment = query.find(b"#")
        if fragment != -1:
            query = query[:fragment]
        return RequestHead(
            method=bytes(req.method),
            target=target,
            path=path,
            query=query,
            http_version=http_version,
            headers=headers,
            keep_alive=keep_alive,
            expect_continue=expect_continue and http_version == "1.1",
            upgrade=upgrade,
            content_length=content_length,
            chunked=chunked,
        )

    def _fail(self, status: int, detail: str) -> ProtocolError:
        self.keep_alive = False
        return ProtocolError(status, detail)

    # -- sending -------------------------------------------------------------------------
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

    def request_complete(self) -> bool:
        """True once the whole current request, body included, has been parsed."""
        conn = self._h11
        return conn is not None and conn.their_state in (h11.DONE, _MIGHT_SWITCH)

    def start_next_cycle(self) -> None:
        """Carry the bytes after this request over to the next one."""
        conn = self._h11
        if conn is not None:
            data, closed = conn.trailing_data
            self._buf = bytearray(data)
            self._eof = self._eof or closed
        self._h11 = None
        self.writer = None
        self.keep_alive = True


def _head_end(buf: bytearray, start: int) -> int:
    """Index just past the blank line ending the head (CRLF or bare LF lines), or -1."""
    first = buf.find(b"\n\r\n", start)
    second = buf.find(b"\n\n", start)
    if first == -1:
        return -1 if second == -1 else second + 2
    if second == -1 or first < second:
        return first + 3
    return second + 2
