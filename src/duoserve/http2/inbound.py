"""Inbound HTTP/2 field rules (RFC 9113 §8.2-8.3), checked in the one pass that splits a head.

h2 can check them (`validate_inbound_headers`), but as a chain of seven generators per
field that cost about a third of a hello request; here each field costs one dict lookup
for its name (names repeat, so their verdict is kept) and one regular-expression search
for its value. The rules are h2's, with field names held to RFC 9110's token grammar:
lower-case token names, no connection-specific fields, `te` only "trailers", values
without NUL, CR or LF or surrounding whitespace, the request pseudo-headers once each and
before every regular field, the ones each method needs (CONNECT: RFC 9113 §8.5; extended
CONNECT: RFC 8441 §4, only when we advertised it), a non-empty :path, an authority
(:authority or a single Host, equal when both), no pseudo-header in trailers. Cookie
crumbs are joined (§8.2.3). A violation raises `Malformed`: a stream error of type
PROTOCOL_ERROR (§8.1.1). Content-length against the DATA received stays h2's check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any, Final

from ..http1.events import RequestHead as View
from .events import Headers, RequestHead
from .headers import CONNECTION_SPECIFIC


class Malformed(ValueError):
    """A header block that breaks a field rule: the stream is reset with PROTOCOL_ERROR."""


class BadLength(ValueError):
    """A content-length h2 refuses (not digits, or two that differ): h2 ends the
    connection with PROTOCOL_ERROR, and so does the express lane (`remembered`)."""


# RFC 9110 §5.1 and §5.6.2: a field name is a token; RFC 9113 §8.2.1: lower-case only.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
# RFC 9113 §8.2.1: no NUL, CR or LF anywhere; no SP or HTAB first or last.
_BAD_VALUE = re.compile(rb"[\0\r\n]|\A[ \t]|[ \t]\Z")

_PLAIN, _FORBIDDEN, _TE, _HOST, _COOKIE = range(5)
_KINDS: dict[bytes, int] = dict.fromkeys(CONNECTION_SPECIFIC, _FORBIDDEN)
_KINDS |= {b"te": _TE, b"host": _HOST, b"cookie": _COOKIE}
# Valid names remembered: at most this many, of at most this length (64 KiB in all, for
# the process); a flood of new names only costs the time to check them.
_KNOWN_NAMES: Final = 1_024
_KNOWN_LENGTH: Final = 64
_PSEUDO = {b":method": 0, b":scheme": 1, b":authority": 2, b":path": 3, b":protocol": 4}
# Request heads remembered: at most this many, of blocks of at most this many bytes.
_HEAD_COUNT: Final = 256
_HEAD_BYTES: Final = 2_048
_HEADS: dict[tuple[Any, ...], tuple[RequestHead, int | None]] = {}  # with their length
_HEAD = partial(tuple.__new__, RequestHead)  # from a tuple of its fields, no Python frame
_VIEW = partial(tuple.__new__, View)


def _kind(name: bytes) -> int:
    """What a regular field's name means here; Malformed unless it is a lower-case token."""
    if _TOKEN.fullmatch(name) is None:
        if name[:1] == b":":
            raise Malformed(f"pseudo-header {name!r} out of place")
        raise Malformed(f"invalid field name {name!r}")
    if len(name) <= _KNOWN_LENGTH and len(_KINDS) < _KNOWN_NAMES:
        _KINDS[name] = _PLAIN
    return _PLAIN


def _regular(
    name: bytes, value: bytes, kind: int, headers: Headers, cookies: list[bytes]
) -> bytes | None:
    """A field `_kind` did not call plain: Malformed, a crumb kept aside, or Host's value."""
    if kind == _FORBIDDEN:
        raise Malformed(f"connection-specific field {name!r}")
    if kind == _TE:
        if value.lower() != b"trailers":
            raise Malformed(f"te: {value!r}")
    elif kind == _COOKIE:
        cookies.append(value)
        return None
    headers.append((name, value))
    return value if kind == _HOST else None


def request_head(
    stream_id: int,
    fields: Iterable[tuple[bytes, bytes]],
    end_stream: bool,
    connect_protocol: bool,
) -> RequestHead:
    """The request in a decoded header block, its pseudo-headers taken out, with its
    `view`; Malformed when it breaks a rule. `connect_protocol`: we advertised
    SETTINGS_ENABLE_CONNECT_PROTOCOL. (For a block h2 has read: it checked the length.)"""
    return fresh(remembered(fields, end_stream, connect_protocol)[0], stream_id)


def remembered(
    fields: Iterable[tuple[bytes, bytes]], end_stream: bool, connect_protocol: bool
) -> tuple[RequestHead, int | None]:
    """The request's head as `fresh` copies it for each stream, and the body length its
    content-length announces (None without one), h2's length rule checked first:
    BadLength, then Malformed. Clients repeat the same requests, so the heads of short
    blocks are remembered (the verdicts depend on nothing else)."""
    key = (tuple(fields), end_stream, connect_protocol)
    found = _HEADS.get(key)
    if found is None:
        length = content_length(key[0])
        head = _request_head(0, key[0], end_stream, connect_protocol)
        found = head._replace(view=_view_of(head, length)), length
        if sum(len(name) + len(value) for name, value in key[0]) <= _HEAD_BYTES:
            if len(_HEADS) >= _HEAD_COUNT:
                _HEADS.clear()
            _HEADS[key] = found
    return found


def fresh(head: RequestHead, stream_id: int) -> RequestHead:
    """A remembered head for one stream: its head and view each with a header list of
    its own (apps may change the scope's), both tuples made in C."""
    view = head.view
    assert view is not None
    return _HEAD(
        (
            stream_id,
            *head[1:5],
            list(head.headers),
            head.end_stream,
            head.protocol,
            _VIEW((*view[:5], list(view.headers), *view[6:])),
        )
    )


def content_length(fields: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The content-length of a request's fields as h2 reads it for a server's stream
    (`H2Stream._initialize_content_length`): digits only, repeats equal; BadLength."""
    length: int | None = None
    for name, value in fields:
        if name == b"content-length":
            if not value.isdigit():
                raise BadLength(f"Invalid content-length header: {value!r}")
            parsed = int(value, 10)
            if length is None:
                length = parsed
            elif parsed != length:
                raise BadLength(f"Conflicting content-length headers: {length} and {parsed}")
    return length


def _view_of(head: RequestHead, length: int | None) -> View:
    """The stream's request as the HTTP cycle and the scope take it (http_version "2"),
    with :authority as the Host header apps expect; `length`: its `content_length()`."""
    headers: Headers = head.headers
    expect = False
    host = False
    for name, value in headers:
        if name == b"expect":
            expect = value.lower() == b"100-continue"
        elif name == b"host":
            host = True
    if head.authority is not None and not host:
        headers = [(b"host", head.authority), *headers]
    path, _, query = head.path.partition(b"?")
    return View(
        method=head.method,
        target=head.path,
        path=path,
        query=query,
        http_version="2",
        headers=headers,
        keep_alive=True,
        expect_continue=expect and not head.end_stream,
        upgrade=None if head.protocol is None else head.protocol.lower(),  # RFC 8441
        content_length=0 if head.end_stream else length,
        chunked=not head.end_stream and length is None,
    )


def _request_head(
    stream_id: int,
    fields: Iterable[tuple[bytes, bytes]],
    end_stream: bool,
    connect_protocol: bool,
) -> RequestHead:
    pseudo: list[bytes | None] = [None] * 5  # method, scheme, authority, path, protocol
    headers: Headers = []
    cookies: list[bytes] = []
    host: bytes | None = None
    for name, value in fields:
        if value and _BAD_VALUE.search(value):
            raise Malformed(f"invalid value of {name!r}")
        kind = _KINDS.get(name)
        if kind == _PLAIN:
            headers.append((name, value))
            continue
        if name[:1] == b":" and kind is None:
            slot = _PSEUDO.get(name)
            if slot is None or headers or cookies:
                raise Malformed(f"pseudo-header {name!r} unknown or after a regular field")
            if pseudo[slot] is not None:
                raise Malformed(f"pseudo-header {name!r} repeated")
            pseudo[slot] = value
            continue
        if kind is None:
            _kind(name)
            headers.append((name, value))
        elif (found := _regular(name, value, kind, headers, cookies)) is not None:
            if host is not None:
                raise Malformed("more than one host")
            host = found
    method, scheme, authority, path, protocol = pseudo
    _check_pseudo(method, scheme, authority, path, protocol, connect_protocol)
    if authority is None and host is None:
        raise Malformed("neither :authority nor host")
    if authority is not None and host is not None and authority != host:
        raise Malformed(":authority and host differ")
    if cookies:
        headers.append((b"cookie", b"; ".join(cookies)))
    assert method is not None
    return RequestHead(
        stream_id,
        method,
        scheme or b"",
        authority or host,
        path or b"",
        headers,
        end_stream,
        protocol,
    )


def _check_pseudo(
    method: bytes | None,
    scheme: bytes | None,
    authority: bytes | None,
    path: bytes | None,
    protocol: bytes | None,
    connect_protocol: bool,
) -> None:
    """The pseudo-headers each kind of request needs (RFC 9113 §8.3.1, §8.5; RFC 8441 §4)."""
    if method is None:
        raise Malformed("no :method")
    if method == b"CONNECT" and protocol is None:
        if scheme is not None or path is not None or authority is None:
            raise Malformed("CONNECT takes :authority and neither :scheme nor :path")
        return
    if protocol is not None and (method != b"CONNECT" or not connect_protocol):
        raise Malformed(":protocol outside an extended CONNECT we advertised")
    if scheme is None or not path:
        raise Malformed("no :scheme, or no or an empty :path")


def inbound_trailers(fields: Iterable[tuple[bytes, bytes]]) -> Headers:
    """A trailer section's fields, checked as a request's regular fields (Host included:
    it means nothing here) and crumbs joined; Malformed for any pseudo-header."""
    headers: Headers = []
    cookies: list[bytes] = []
    for name, value in fields:
        if value and _BAD_VALUE.search(value):
            raise Malformed(f"invalid value of {name!r}")
        kind = _KINDS.get(name)
        if kind is None:
            kind = _kind(name)
        if kind in (_PLAIN, _HOST):
            headers.append((name, value))
        else:
            _regular(name, value, kind, headers, cookies)
    if cookies:
        headers.append((b"cookie", b"; ".join(cookies)))
    return headers
