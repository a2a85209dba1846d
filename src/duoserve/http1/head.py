"""Request-head rules every codec shares: the limit pre-scan and the semantic checks.

The pre-scan enforcing our size limits and the HTTP version, and the semantic checks that
turn parsed fields into a RequestHead."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from ..config.settings import Config
from ..errors import ProtocolError
from ..types import Headers
from .events import RequestHead, Signal

# method SP request-target SP HTTP-version (RFC 9112 §3); only the version is read here.
_VERSION = re.compile(rb" HTTP/(\d+)\.(\d+)$")
# RFC 3986 host (reg-name, IPv4, IP-literal) with an optional port (RFC 9110 §7.2).
HOST_VALUE = (
    rb"(?:\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._~-]+)?\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?"
)
_HOST = re.compile(rb"^" + HOST_VALUE + rb"$")
# The fields build_head() looks at.
_DECIDING = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
)
# RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; CR and LF only end lines.
# Nothing else in a head may be a control character either (method, target, names).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
find_control = _CONTROL.search
# Every prefix of a request line (RFC 9112 §3): method SP request-target SP HTTP/x.y, where
# the method is a token and the target visible ASCII. A line that has stopped matching can
# never become valid, so it is refused at once instead of waiting for the rest.
_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_LINE_PREFIX = re.compile(
    rb"\r|"
    + _TCHAR
    + rb"+(?: (?:[\x21-\x7e]+(?: (?:H(?:T(?:T(?:P(?:/(?:\d+(?:\.(?:\d+\r?)?)?)?)?)?)?)?)?)?)?)?"
)
# RFC 9112 §3.2.2 absolute-form: a scheme and a non-empty authority (path and query follow).
_ABSOLUTE = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://[A-Za-z0-9\-._~!$&'()*+,;=%:@\[\]]+")
# RFC 9112 §3.2.3 authority-form (CONNECT only): host and port, nothing else.
_AUTHORITY = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+):[0-9]+")


class HeadLimits:
    """The head limits of one server, read once from the config (codec_factory() makes
    them once per server and hands them to every connection's codec)."""

    __slots__ = ("body", "fields", "head", "line", "small_head")

    def __init__(self, config: Config) -> None:
        self.line = config.limit_request_line
        self.head = config.limit_request_head
        self.fields = config.limit_request_fields
        self.body = config.limit_request_body
        self.small_head = min(self.line, self.head)  # a head this long is within both


def find_head(buf: bytearray, eof: bool, limits: HeadLimits) -> int | Signal:
    """Index just past one complete request head at the start of `buf` (leading empty
    lines are removed from `buf`), or NEED_DATA/CLOSED. The checks here hold however the
    bytes were split into reads; violations raise ProtocolError (414, 431, 505, 400)."""
    # RFC 9112 §2.2: ignore at least one empty line before the request line.
    strip = 0
    while buf.startswith(b"\r\n", strip) or buf.startswith(b"\n", strip):
        strip += 2 if buf[strip] == 0x0D else 1
    if strip:
        del buf[:strip]
    if not buf:
        return Signal.CLOSED if eof else Signal.NEED_DATA
    line_end = buf.find(b"\n")
    if line_end == -1 or line_end > limits.line:
        # The same bytes are judged whatever the reads were: the first `line + 1` of them.
        scanned = min(len(buf) if line_end == -1 else line_end, limits.line + 1)
        if not _LINE_PREFIX.fullmatch(buf, 0, scanned):
            raise ProtocolError(400, "malformed request line")
        if scanned > limits.line:
            raise ProtocolError(414, "request line too long")
        if eof:
            raise ProtocolError(400, "connection closed inside the request line")
        return Signal.NEED_DATA
    version = _VERSION.search(bytes(buf[:line_end]).rstrip(b"\r"))
    if version is not None and version.group(1) != b"1":
        raise ProtocolError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    end = _head_end(buf, line_end)
    if _CONTROL.search(buf, 0, min(len(buf) if end == -1 else end, limits.head + 1)):
        raise ProtocolError(400, "control character in the request head")
    if end == -1:
        if len(buf) > limits.head:
            raise ProtocolError(431, "request head too large")
        if eof:
            raise ProtocolError(400, "connection closed inside the request head")
        return Signal.NEED_DATA
    if end > limits.head:
        raise ProtocolError(431, "request head too large")
    if buf.count(b"\n", 0, end) - 2 > limits.fields:
        raise ProtocolError(431, "too many header fields")
    return end


def _head_end(buf: bytearray, start: int) -> int:
    """Index just past the blank line ending the head (CRLF or bare LF lines), or -1."""
    first = buf.find(b"\n\r\n", start)
    second = buf.find(b"\n\n", start)
    if first == -1:
        return -1 if second == -1 else second + 2
    if second == -1 or first < second:
        return first + 3
    return second + 2


def build_head(
    method: bytes, target: bytes, http_version: str, headers: Headers, limits: HeadLimits
) -> RequestHead:
    """A RequestHead from syntactically valid fields (lower-case names, one Content-Length
    at most, Transfer-Encoding only 'chunked'), after the checks RFC 9112 asks of a server."""
    hosts = 0
    host_ok = True
    content_length: int | None = None
    chunked = False
    connection_tokens: set[bytes] = set()
    expect_continue = False
    upgrade: bytes | None = None
    for name, value in headers:
        if name not in _DECIDING:
            continue  # most fields: one set lookup, not six comparisons
        if name == b"host":
            hosts += 1
            host_ok = host_ok and bool(_HOST.match(value))
        elif name == b"content-length":
            content_length = int(value)  # the parser has validated it
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
        raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
    if chunked and http_version == "1.0":
        # RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; the framing is faulty.
        raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
    if http_version == "1.1" and hosts != 1:
        raise ProtocolError(400, "exactly one Host header is required")
    if not host_ok:
        raise ProtocolError(400, "invalid Host header")
    if limits.body and content_length is not None and content_length > limits.body:
        raise ProtocolError(413, "request body larger than the server accepts")
    if http_version == "1.1":
        keep_alive = b"close" not in connection_tokens
    else:
        keep_alive = b"keep-alive" in connection_tokens
    if b"upgrade" not in connection_tokens:
        upgrade = None

    path = target
    if not target.startswith(b"/") or method == b"CONNECT":
        path = _path_of_other_form(method, target)
    path, _, query = path.partition(b"?")
    fragment = query.find(b"#")
    if fragment != -1:
        query = query[:fragment]
    return RequestHead(
        method=method,
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


def _path_of_other_form(method: bytes, target: bytes) -> bytes:
    """The path (and query) the app sees for a target that is not plain origin-form, after
    the rules of RFC 9112 §3.2: CONNECT takes authority-form alone; asterisk-form is only
    for OPTIONS; anything else must be an absolute URI, whose path and query the app gets."""
    if method == b"CONNECT":
        if not _AUTHORITY.fullmatch(target):
            raise ProtocolError(400, "CONNECT needs an authority-form target (host:port)")
        return target
    if target == b"*":
        if method != b"OPTIONS":
            raise ProtocolError(400, "the asterisk-form target is only for OPTIONS")
        return target
    if not _ABSOLUTE.match(target):
        raise ProtocolError(400, "invalid request target")
    after_scheme = target.find(b"://") + 3
    slash = target.find(b"/", after_scheme)
    query_mark = target.find(b"?", after_scheme)
    if slash == -1 or (query_mark != -1 and query_mark < slash):
        return b"/" + (target[query_mark:] if query_mark != -1 else b"")
    return target[slash:]


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a raw path and read it as UTF-8 (invalid bytes become U+FFFD)."""
    if b"%" not in raw_path:
        try:
            return raw_path.decode("ascii")
        except UnicodeDecodeError:
            pass
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")
