"""Sans-IO WebSocket opening handshake: request checks, negotiation, 101 headers, the scope."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits
from wsproto.utilities import generate_accept_token

from ..config.settings import Config
from ..http1.events import RequestHead
from ..types import Headers

# Headers the server writes itself in a 101; an app setting them would break the handshake.
_RESERVED = frozenset(
    {
        b"connection",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)
_DEFLATE = "permessage-deflate"
# RFC 7692 §7.1: the parameters a permessage-deflate offer may carry.
_FLAG_PARAMS = frozenset({"server_no_context_takeover", "client_no_context_takeover"})


@dataclass(frozen=True, slots=True)
class Offer:
    """A valid upgrade request: what the client asked for, for the app to accept or not."""

    key: bytes | None  # None over HTTP/2: RFC 8441 §5 uses no key and no accept token
    subprotocols: tuple[str, ...]
    extensions: tuple[str, ...]  # raw offers, e.g. "permessage-deflate; client_max_window_bits"


@dataclass(frozen=True, slots=True)
class Denial:
    """The HTTP response for an upgrade request that is not a valid WebSocket handshake."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def check_request(head: RequestHead) -> Offer | Denial:
    """RFC 6455 §4.2.1 checks on the request head; the first failure decides the answer.
    Over HTTP/2 (RFC 8441 §5) the request is a CONNECT with :protocol websocket (the
    driver puts it in `upgrade`), and there is no Connection, Upgrade or key to check."""
    key: bytes | None = None
    if head.http_version == "2":
        if head.method != b"CONNECT" or head.upgrade != b"websocket":
            return _bad("a WebSocket over HTTP/2 must be a CONNECT with :protocol websocket")
    elif head.method != b"GET":
        return _bad("a WebSocket handshake must be a GET request")
    elif head.http_version != "1.1":
        return _bad("a WebSocket handshake needs HTTP/1.1")
    elif b"upgrade" not in _tokens(head.headers, b"connection"):
        return _bad("missing 'Connection: upgrade'")
    elif b"websocket" not in _tokens(head.headers, b"upgrade"):
        return _bad("missing 'Upgrade: websocket'")
    if _tokens(head.headers, b"sec-websocket-version") != [b"13"]:
        return Denial(
            426,
            ((b"upgrade", b"websocket"), (b"sec-websocket-version", b"13")),
            b"426 Upgrade Required: only WebSocket version 13 is supported\n",
        )
    if head.http_version != "2":
        keys = _values(head.headers, b"sec-websocket-key")
        if len(keys) != 1 or not _valid_key(keys[0]):
            return _bad("Sec-WebSocket-Key must be one base64-encoded 16-byte value")
        key = keys[0].strip()
    subprotocols = tuple(
        t.decode("latin-1") for t in _tokens(head.headers, b"sec-websocket-protocol", lower=False)
    )
    extensions = tuple(
        offer
        for value in _values(head.headers, b"sec-websocket-extensions")
        for offer in _split_offers(value.decode("latin-1"))
    )
    return Offer(key, subprotocols, extensions)


def negotiate_extensions(offer: Offer, config: Config) -> tuple[list[Extension], bytes | None]:
    """Pick the first acceptable permessage-deflate offer (RFC 7692 §5) when enabled.
    Returns the wsproto extensions to run and the Sec-WebSocket-Extensions response value."""
    if not config.ws_per_message_deflate:
        return [], None
    for raw in offer.extensions:
        normalized = _deflate_offer(raw)
        if normalized is None:
            continue
        extension = BoundedDeflate(config.ws_max_size)
        accepted = extension.accept(normalized)
        if accepted is None:
            continue
        value = _DEFLATE if not accepted else f"{_DEFLATE}; {accepted}"
        return [extension], value.encode("ascii")
    return [], None


def accept_headers(
    offer: Offer,
    subprotocol: str | None,
    extra: Iterable[tuple[bytes, bytes]],
    extensions_header: bytes | None,
) -> Headers:
    """Headers of the 101 response (of the 200 over HTTP/2, which has no Upgrade,
    Connection or accept token). Raises ValueError for a subprotocol the client did not
    offer, or for app headers that the handshake itself owns."""
    headers: Headers = []
    if offer.key is not None:
        headers += [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", generate_accept_token(offer.key)),
        ]
    if subprotocol is not None:
        if subprotocol not in offer.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if extensions_header is not None:
        headers.append((b"sec-websocket-extensions", extensions_header))
    for name, value in extra:
        name = bytes(name).lower()
        if name in _RESERVED:
            raise ValueError(
                f"websocket.accept must not set {name.decode('latin-1')!r}"
                + (" (use the 'subprotocol' key)" if name == b"sec-websocket-protocol" else "")
            )
        headers.append((name, bytes(value)))
    return headers


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that never inflates a message past `max_size`: a small compressed
    frame can expand a thousandfold, so the limit must hold inside the decompressor rather
    than after it (an over-size message fails the connection with 1009)."""

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self._max_size = max_size
        self._inflated = 0

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self._inflated = 0  # a new message starts
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        decompressor = self._decompressor
        if not (self._inbound_compressed and self._inbound_is_compressible) or decompressor is None:
            return data
        budget = max(self._max_size - self._inflated, 0)
        try:
            out = decompressor.decompress(data, budget + 1)  # never 0, which means unlimited
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if len(out) > budget:
            return CloseReason.MESSAGE_TOO_BIG
        self._inflated += len(out)
        return out

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        result = super().frame_inbound_complete(proto, fin)
        if isinstance(result, bytes):
            self._inflated += len(result)
            if self._inflated > self._max_size:
                return CloseReason.MESSAGE_TOO_BIG
        return result


def _bad(reason: str) -> Denial:
    return Denial(400, (), f"400 Bad Request: {reason}\n".encode())


def _values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def _tokens(headers: Headers, name: bytes, *, lower: bool = True) -> list[bytes]:
    """Comma-separated tokens of every `name` header, stripped, empty ones dropped."""
    tokens = []
    for value in _values(headers, name):
        for token in value.split(b","):
            token = token.strip()
            if token:
                tokens.append(token.lower() if lower else token)
    return tokens


def _valid_key(key: bytes) -> bool:
    key = key.strip()
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def _split_offers(value: str) -> list[str]:
    """Split a Sec-WebSocket-Extensions value on commas outside quoted strings."""
    offers: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            offers.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    offers.append("".join(current).strip())
    return [offer for offer in offers if offer]


def _deflate_offer(raw: str) -> str | None:
    """A permessage-deflate offer rewritten in the plain form wsproto parses, or None when
    it is another extension or breaks RFC 7692 §7.1: unknown or repeated parameters, a value
    on a flag, window bits outside 9-15 (zlib cannot do 8 for raw deflate), or
    server_max_window_bits without a value. wsproto trusts its input, so we check first."""
    name, *params = (part.strip() for part in raw.split(";"))
    if name.lower() != _DEFLATE:
        return None
    seen: set[str] = set()
    out = [_DEFLATE]
    for param in params:
        key, eq, value = (s.strip() for s in param.partition("="))
        key = key.lower()
        value = value.strip('"')
        if not key or key in seen:
            return None
        seen.add(key)
        if key in _FLAG_PARAMS:
            if eq:
                return None
            out.append(key)
        elif key in ("server_max_window_bits", "client_max_window_bits"):
            if eq:
                if not (value.isdigit() and len(value) <= 2 and 9 <= int(value) <= 15):
                    return None
                out.append(f"{key}={int(value)}")
            elif key == "server_max_window_bits":
                return None
            else:
                out.append(key)
        else:
            return None
    return "; ".join(out)
