"""H1Codec over httptools: the common request parsed fast, anything unusual handed to h11.

Llhttp parses the common request fast; anything it refuses or that is unusual (chunked or
upgrade requests, odd spacing) goes to the h11 codec for that request, so both codecs give
the same answer to every input."""

from __future__ import annotations

import re
from operator import itemgetter

import httptools

from ..config.settings import Config
from ..errors import ProtocolError
from ..types import Headers
from .events import Body, CodecEvent, EndOfRequest, RequestHead, Signal
from .framing import ResponseSide
from .h11_codec import H11Codec
from .head import HeadLimits, build_head, find_head
from .plain_head import (
    BODY_OR_UPGRADE,
    FIELD,
    HOST_AND_LENGTH,
    HOST_LINE,
    HOST_ONLY,
    LENGTH_LINE,
    NAMES,
    NOTED,
    REGEX_HEAD,
    SIMPLE,
    VALUES,
    plain_framing,
)

# h11's request-target: visible ASCII only (llhttp also takes tabs and form feeds).
_TARGET = re.compile(rb"[\x21-\x7e]+")
_OWS = b" \t"
_EOL = (0x0D, 0x0A)
_new_tuple = tuple.__new__
_rstrip = bytes.rstrip
_name_of = itemgetter(0)
_FRAMED_ELSEWHERE = frozenset(
    {b"transfer-encoding", b"upgrade"}
)  # builds a NamedTuple without its constructor's Python frame


class HttptoolsCodec(ResponseSide):
    """One instance per connection. The head pre-scan and the semantic checks are the h11
    codec's own (http/head.py); llhttp checks the syntax; bodies with a Content-Length are
    sliced from our buffer (llhttp would run on into the next pipelined request)."""

    __slots__ = (
        "_buf",
        "_config",
        "_ended",
        "_eof",
        "_fallback",
        "_fields",
        "_in_request",
        "_length",
        "_limits",
        "_parser",
        "_remaining",
        "_small_head",
        "_target",
    )

    def __init__(self, config: Config, limits: HeadLimits | None = None) -> None:
        super().__init__()
        self._config = config
        self._limits = limits = limits or HeadLimits(config)
        self._small_head = limits.small_head
        self._fallback: H11Codec | None = None  # set while h11 parses the current request
        self._buf = bytearray()
        self._eof = False
        self._in_request = False
        self._ended = False
        self._length = 0
        self._remaining = 0
        self._fields: Headers = []
        self._target = b""
        self._parser: httptools.HttpRequestParser | None = None  # kept while requests have no body

    # -- llhttp callbacks -------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name.lower(), value.rstrip(_OWS)))  # llhttp keeps trailing OWS

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
        if self._fallback is not None:
            self._fallback.receive_data(data)
        elif data:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        if self._fallback is not None:
            return self._fallback.buffered
        return len(self._buf)

    @property
    def trailing_data(self) -> bytes:
        if self._fallback is not None:
            return self._fallback.trailing_data
        return bytes(self._buf)

    def next_event(self) -> CodecEvent:
        if self._fallback is not None:
            return self._from_fallback(self._fallback)
        if not self._in_request:
            return self._scan_head()
        remaining = self._remaining
        if remaining:
            buf = self._buf
            if not buf:
                if self._eof:
                    raise self._fail(
                        400,
                        "peer closed connection without sending complete message body "
                        f"(received {self._length - remaining} bytes, expected {self._length})",
                    )
                return Signal.NEED_DATA
            if len(buf) <= remaining:
                data = bytes(buf)
                buf.clear()
            else:
                data = bytes(buf[:remaining])
                del buf[:remaining]
            self._remaining = remaining - len(data)
            return _new_tuple(Body, (data,))
        if not self._ended:
            self._ended = True
            return EndOfRequest()
        if self._buf:
            return Signal.PAUSED
        return Signal.CLOSED if self._eof else Signal.NEED_DATA

    def whole_body(self) -> bytes | None:
        """The rest of a Content-Length body when all of it is buffered (the request then
        ends), else None: the usual small upload in one call instead of two events."""
        remaining = self._remaining
        buf = self._buf
        if not remaining or len(buf) < remaining or self._fallback is not None:
            return None
        if len(buf) == remaining:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:remaining])
            del buf[:remaining]
        self._remaining = 0
        self._ended = True
        return data

    def _scan_head(self) -> CodecEvent:
        buf = self._buf
        if not buf:
            return Signal.CLOSED if self._eof else Signal.NEED_DATA
        # Fastest path for a short head: the common heads, matched by one regex (_plain).
        short = len(buf) <= REGEX_HEAD or buf.find(b"\r\n\r\n", 0, REGEX_HEAD) >= 0
        if short and (plain := self._plain(buf)) is not None:
            return plain
        # Next: a short regex head with other fields (Expect, Connection options), no body.
        simple = SIMPLE.match(buf) if short else None
        if simple is not None and (end := simple.end()) <= self._small_head:
            method, target, minor, block = simple.groups()
            low = block.lower()
            if not BODY_OR_UPGRADE.search(low):
                simple_fields = [(n.lower(), v) for n, v in FIELD.findall(block)]
                if len(simple_fields) <= self._limits.fields:
                    version = "1.1" if minor == b"1" else "1.0"
                    return self._begin(method, target, version, simple_fields, end)
        # Fast path: a CRLF head well inside every limit, not preceded by empty lines (llhttp
        # refuses anything else that find_head would let through, and h11 then decides).
        end = buf.find(b"\r\n\r\n") + 4
        if (
            end == 3
            or end > self._small_head
            or buf[0] in _EOL
            or buf.count(b"\n", 0, end) - 2 > self._limits.fields
        ):
            try:
                found = find_head(buf, self._eof, self._limits)
            except ProtocolError:
                self.keep_alive = False
                raise
            if isinstance(found, Signal):
                return found
            end = found
        head = bytes(buf) if end == len(buf) else bytes(buf[:end])
        fields: Headers = []
        self._fields = fields
        self._target = b""
        parser = self._parser
        if parser is None:
            parser = httptools.HttpRequestParser(self)
        try:
            parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._parser = None
            return self._delegate()
        target = self._target
        method = parser.get_method()
        line_end = head.find(b"\n")
        if (
            # one space each side of the target, then HTTP/x.y
            line_end - (head[line_end - 1] == 13) != len(method) + len(target) + 10
            or not _TARGET.fullmatch(target)
        ):
            self._parser = None
            return self._delegate()
        names = list(map(_name_of, fields))  # no Python loop per field
        if names.count(b"content-length") > 1 or not _FRAMED_ELSEWHERE.isdisjoint(names):
            # h11 merges equal Content-Length duplicates, and frames the chunked and
            # upgrade requests: let it decide
            self._parser = None
            return self._delegate()
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self._parser = None
            return self._delegate()  # find_head has the answer (505)
        request = self._begin(method, target, version, fields, end)
        # llhttp has seen the whole of a request without a body and waits for the next
        # one; after a body (which we slice ourselves) it needs a fresh start.
        self._parser = parser if not self._length and request.keep_alive else None
        return request

    def feed(self, data: bytes) -> CodecEvent:
        """receive_data(data), then next_event(). Between requests, bytes that are exactly
        one plain head (one read, the usual keep-alive request) never enter the buffer."""
        if self._buf or self._in_request or self._fallback is not None or not data:
            self.receive_data(data)
            return self.next_event()
        plain = None
        if len(data) <= REGEX_HEAD or data.find(b"\r\n\r\n", 0, REGEX_HEAD) >= 0:
            plain = self._plain(data)
        if plain is None:
            self._buf += data
            return self._scan_head()
        return plain

    def _plain(self, data: bytes | bytearray) -> RequestHead | None:
        """The most common heads of all at the start of `data` (the buffer, or a read
        while the buffer is empty), begun without llhttp or build_head(): the regex head
        with no chunked framing, upgrade or Expect field, one valid Host (none for
        HTTP/1.0 is fine), at most one Content-Length within the body limit, at most one
        Connection field that is just close or keep-alive, no fragment, not CONNECT. What
        follows the head stays in (or goes to) the buffer. None when any of that does not
        hold (the other paths then decide), with nothing taken."""
        simple = SIMPLE.match(data)
        if simple is None or (end := simple.end()) > self._small_head:
            return None
        method, target, minor, block = simple.groups()
        if method == b"CONNECT":
            return None
        low = block.lower()
        noted = NOTED.findall(low)
        if noted == HOST_ONLY:  # nearly every GET
            if HOST_LINE.search(low) is None:
                return None
            length = None
            keep_alive = minor == b"1"
        elif noted in HOST_AND_LENGTH:  # nearly every POST or PUT
            found = LENGTH_LINE.search(low)
            if found is None or HOST_LINE.search(low) is None:
                return None
            length = int(found.group(1))
            body_limit = self._limits.body
            if body_limit and length > body_limit:
                return None  # build_head() answers 413
            keep_alive = minor == b"1"
        else:
            framing = plain_framing(low, noted, minor, self._limits.body)
            if framing is None:
                return None
            length, keep_alive = framing
        fields = list(zip(NAMES.findall(low), map(_rstrip, VALUES.findall(block)), strict=True))
        if len(fields) > self._limits.fields:
            return None
        path, _, query = target.partition(b"?")
        version = "1.1" if minor == b"1" else "1.0"
        buf = self._buf
        if data is buf:
            if end == len(buf):
                buf.clear()
            else:
                del buf[:end]
        elif end < len(data):  # the body, or the next request, after a head read whole
            buf += data[end:]
        self._in_request = True
        self._ended = False
        self._length = self._remaining = length or 0
        self.keep_alive = keep_alive
        self._method = method
        self._version = version
        # The NamedTuple's own constructor is a Python frame; tuple.__new__ is not.
        return _new_tuple(
            RequestHead,
            (method, target, path, query, version, fields, keep_alive, False, None, length, False),
        )

    def _begin(
        self, method: bytes, target: bytes, version: str, fields: Headers, end: int
    ) -> RequestHead:
        """The shared checks on a parsed head, then the request begins: its `end` bytes
        leave the buffer."""
        try:
            request = build_head(method, target, version, fields, self._limits)
        except ProtocolError:
            self.keep_alive = False
            raise
        buf = self._buf
        if end == len(buf):
            buf.clear()
        else:
            del buf[:end]
        self._in_request = True
        self._ended = False
        self._length = self._remaining = request.content_length or 0
        self.keep_alive = request.keep_alive
        self._method = method
        self._version = version
        return request

    def _delegate(self) -> CodecEvent:
        """Hand this request, as received so far, to the h11 codec."""
        self._fallback = fallback = H11Codec(self._config)
        fallback.receive_data(bytes(self._buf))
        self._buf.clear()
        if self._eof:
            fallback.receive_data(b"")
        return self._from_fallback(fallback)

    def _from_fallback(self, fallback: H11Codec) -> CodecEvent:
        try:
            event = fallback.next_event()
        finally:
            self.keep_alive = fallback.keep_alive
        if type(event) is RequestHead:
            self._method = event.method
            self._version = event.http_version
        return event

    def request_complete(self) -> bool:
        if self._fallback is not None:
            return self._fallback.request_complete()
        return self._in_request and self._ended

    def start_next_cycle(self) -> int:
        """Carry the bytes after this request over to the next one; how many there are."""
        if self._fallback is not None:
            self._buf = bytearray(self._fallback.trailing_data)
            self._fallback = None
        self._in_request = False
        self.writer = None
        self.keep_alive = True
        return len(self._buf)
