"""The narrow parser interface the connection core is written against, and its factory."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from importlib.util import find_spec
from typing import Protocol

from ..config.settings import Config
from ..errors import ConfigError
from ..types import Headers
from .events import CodecEvent
from .framing import ResponseWriter
from .head import HeadLimits


class H1Codec(Protocol):
    """Two-way HTTP/1.1 state machine for one connection: feed bytes in, pull events out,
    and get a ResponseWriter (shared framing rules) for each response. Raises
    ProtocolError(status) on bad input. `keep_alive` says whether another request may follow."""

    keep_alive: bool
    writer: ResponseWriter | None

    def receive_data(self, data: bytes) -> None: ...  # b"" means EOF

    def next_event(self) -> CodecEvent: ...

    def feed(self, data: bytes) -> CodecEvent: ...  # receive_data(data), then next_event()

    def whole_body(self) -> bytes | None: ...  # the rest of the body if it is all here

    def begin_response(self, method: bytes, http_version: str) -> ResponseWriter: ...

    def send_informational(self, status: int, headers: Headers) -> bytes: ...

    def send_response(self, status: int, headers: Headers, defaults: Headers = ...) -> bytes: ...

    def send_body(self, data: bytes) -> bytes: ...

    def send_end(self, trailers: Headers = ...) -> bytes: ...

    def request_complete(self) -> bool: ...

    def start_next_cycle(self) -> int: ...  # the bytes already buffered for the next request

    @property
    def trailing_data(self) -> bytes: ...

    @property
    def buffered(self) -> int: ...


def codec_factory(config: Config) -> Callable[[Config], H1Codec]:
    """The codec class the `http` setting selects, resolved once per server ('auto' is
    httptools when it is installed, else h11), with the server's head limits bound."""
    return partial(_codec_class(config), limits=HeadLimits(config))


def _codec_class(config: Config) -> Callable[..., H1Codec]:
    choice = config.http
    if choice == "auto":
        choice = "httptools" if find_spec("httptools") is not None else "h11"
    if choice == "httptools":
        try:
            from .httptools_codec import HttptoolsCodec
        except ImportError:
            raise ConfigError(
                "--http httptools needs httptools: pip install 'duoserve[speed]'"
            ) from None
        return HttptoolsCodec
    from .h11_codec import H11Codec

    return H11Codec


def make_codec(config: Config) -> H1Codec:
    return codec_factory(config)(config)
