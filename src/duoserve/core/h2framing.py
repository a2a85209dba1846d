"""The HTTP cycle's writer half over HTTP/2: HEADERS and DATA through the stream.

`H2Framing` replaces the HTTP/1.1 `ResponseWriter` methods `asgi.cycle.HTTPCycle` calls,
so receive/send, disconnects, trailers, early hints, the file fallbacks and the error
policy stay written once; `H2Cycle` is that cycle with this framing, one per stream.
"""

from __future__ import annotations

from ..asgi.cycle import HTTPCycle
from ..http1.framing import body_allowed
from ..http1.headers import Framing, HeaderCache, ResponseError
from ..http2.headers import response_fields
from ..types import Headers
from .h2stream import H2Stream


class H2Framing:
    """The writer half of the cycle over HTTP/2: the same calls as `ResponseWriter`, which
    return no bytes (HEADERS and DATA frames go through the stream instead). The head is
    held back until the first body part, like the HTTP/1.1 head, so a failure before it
    still becomes a 500."""

    conn: H2Stream  # the cycle's connection: here the stream
    method: bytes
    framing = Framing.NONE
    status = 0
    _remaining = -1  # Content-Length left, or -1 when the app set none
    _fields: Headers | None = None

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
        if status < 200:
            raise ResponseError("use informational() for 1xx responses")
        self.status = status
        # Lower-cased and checked once, here: ValueError now, not halfway through HPACK.
        fields = response_fields(status, headers)
        names = set()
        length = -1
        for name, value in fields:
            names.add(name)
            if name == b"content-length":
                length = int(value)
        fields.extend(pair for pair in defaults if pair[0] not in names)  # lower-case ours
        if not body_allowed(self.method, status):
            self.framing = Framing.NONE
        elif chunked or length < 0:
            self.framing = Framing.CHUNKED  # DATA frames until END_STREAM
        else:
            self.framing = Framing.LENGTH
            self._remaining = length
        self._fields = fields
        return b""

    def cached_head(
        self,
        status: int,
        headers: Headers,
        defaults: Headers,
        cache: HeaderCache,
        chunked_ok: bool = True,
        chunked: bool = False,
    ) -> bytes:
        """head(), remembered: apps send the same headers again and again, and the fields
        list is never changed once made (the cache forgets it when the defaults change)."""
        try:
            key = (status, tuple(headers), self.method, chunked)
            found = cache.h2_heads.get(key)
        except TypeError:  # unhashable pairs: checked every time
            return self.head(status, headers, defaults, chunked=chunked)
        if found is None:
            self.head(status, headers, defaults, chunked=chunked)
            assert self._fields is not None
            cache.keep_h2_head(key, (self._fields, self.framing, self._remaining))
        else:
            self.status = status
            self._fields, self.framing, self._remaining = found
        return b""

    def _send_head(self) -> None:
        fields = self._fields
        if fields is not None:
            self._fields = None
            self.conn.send_fields(fields, False)

    def _count(self, data: bytes) -> None:
        if self.framing is Framing.LENGTH:
            self._remaining -= len(data)
            if self._remaining < 0:
                raise ResponseError("response body longer than its Content-Length")

    def body(self, data: bytes) -> bytes:
        self._send_head()
        if self.framing is Framing.NONE:
            return b""
        self._count(data)
        return data

    def last(self, data: bytes) -> bytes:
        if self.framing is Framing.NONE:
            data = b""
        self._count(data)
        if self._remaining > 0:
            raise ResponseError(
                f"response body shorter than its Content-Length ({self._remaining} missing)"
            )
        fields = self._fields
        if fields is None:
            self.conn.finish(data)
        else:  # the whole response at once, as most are
            self._fields = None
            self.conn.respond(fields, data)
        return b""

    def raw_span(self, size: int) -> tuple[bytes, bytes]:
        raise ResponseError("no sendfile on HTTP/2")

    def end(self, trailers: Headers = ()) -> bytes:  # type: ignore[assignment]
        if self._remaining > 0:
            raise ResponseError(
                f"response body shorter than its Content-Length ({self._remaining} missing)"
            )
        self._send_head()
        self.conn.finish(b"", list(trailers) if trailers else None)
        return b""


class H2Cycle(H2Framing, HTTPCycle):  # type: ignore[misc]  # conn: an H2Stream, a Driver
    """The HTTP cycle with HTTP/2 framing: one per stream."""
