"""The pure WebSocket handshake: request checks, negotiation, 101 headers, scope (table-driven)."""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.utilities import generate_accept_token

from duoserve.asgi.scope import websocket_scope
from duoserve.config.settings import Config
from duoserve.http1.events import RequestHead
from duoserve.types import ConnInfo
from duoserve.websocket.handshake import (
    BoundedDeflate,
    Denial,
    Offer,
    accept_headers,
    check_request,
    negotiate_extensions,
)

KEY = base64.b64encode(b"0123456789abcdef")
BASE = [
    (b"host", b"example.com"),
    (b"connection", b"keep-alive, Upgrade"),
    (b"upgrade", b"WebSocket"),
    (b"sec-websocket-version", b"13"),
    (b"sec-websocket-key", KEY),
]


def head(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: bytes = b"GET",
    version: str = "1.1",
    path: bytes = b"/chat",
    query: bytes = b"",
) -> RequestHead:
    return RequestHead(
        method=method,
        target=path + (b"?" + query if query else b""),
        path=path,
        query=query,
        http_version=version,
        headers=BASE if headers is None else headers,
        keep_alive=True,
        expect_continue=False,
        upgrade=b"websocket",
        content_length=None,
        chunked=False,
    )


def without(name: bytes) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in BASE if n != name]


def replaced(name: bytes, *values: bytes) -> list[tuple[bytes, bytes]]:
    return without(name) + [(name, v) for v in values]


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (head(method=b"POST"), 400),
        (head(version="1.0"), 400),
        (head(without(b"connection")), 400),
        (head(replaced(b"connection", b"keep-alive")), 400),
        (head(without(b"upgrade")), 400),
        (head(replaced(b"upgrade", b"h2c")), 400),
        (head(without(b"sec-websocket-version")), 426),
        (head(replaced(b"sec-websocket-version", b"8")), 426),
        (head(replaced(b"sec-websocket-version", b"13, 8")), 426),
        (head(without(b"sec-websocket-key")), 400),
        (head(replaced(b"sec-websocket-key", b"not base64!")), 400),
        (head(replaced(b"sec-websocket-key", base64.b64encode(b"short"))), 400),
        (head(replaced(b"sec-websocket-key", base64.b64encode(b"x" * 17))), 400),
        (head(replaced(b"sec-websocket-key", KEY, KEY)), 400),
    ],
)
def test_invalid_requests_are_denied(request_head: RequestHead, status: int) -> None:
    result = check_request(request_head)
    assert isinstance(result, Denial)
    assert result.status == status
    assert result.body.startswith(str(status).encode())
    if status == 426:
        assert (b"sec-websocket-version", b"13") in result.headers


@pytest.mark.parametrize(
    ("extra", "subprotocols", "extensions"),
    [
        ([], (), ()),
        ([(b"sec-websocket-protocol", b"chat, superchat")], ("chat", "superchat"), ()),
        (
            [(b"sec-websocket-protocol", b"a"), (b"sec-websocket-protocol", b" b ,")],
            ("a", "b"),
            (),
        ),
        (
            [(b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits, x")],
            (),
            ("permessage-deflate; client_max_window_bits", "x"),
        ),
        (
            [(b"sec-websocket-extensions", b'foo; a="1,2", bar')],
            (),
            ('foo; a="1,2"', "bar"),
        ),
    ],
)
def test_valid_request_offer(
    extra: list[tuple[bytes, bytes]], subprotocols: tuple[str, ...], extensions: tuple[str, ...]
) -> None:
    result = check_request(head(BASE + extra))
    assert result == Offer(KEY, subprotocols, extensions)


CONFIG = Config(app="test")


@pytest.mark.parametrize(
    ("offers", "expected"),
    [
        ((), None),
        (("x-webkit-deflate-frame",), None),
        (("permessage-deflate",), b"permessage-deflate"),
        (
            ("permessage-deflate; client_max_window_bits",),
            b"permessage-deflate; client_max_window_bits=15",
        ),
        (
            ("permessage-deflate; server_no_context_takeover; client_max_window_bits=10",),
            b"permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        ),
        # RFC 7692 §7.1 allows quoted values; they are normalized before wsproto sees them.
        (
            ('permessage-deflate; server_max_window_bits="12"',),
            b"permessage-deflate; server_max_window_bits=12",
        ),
        (("permessage-deflate; server_max_window_bits",), None),  # value required
        (("permessage-deflate; server_max_window_bits=8",), None),  # zlib cannot do 8
        (("permessage-deflate; client_max_window_bits=abc",), None),
        (("permessage-deflate; unknown_param",), None),
        (("permessage-deflate; server_no_context_takeover=1",), None),
        (("permessage-deflate; server_no_context_takeover; server_no_context_takeover",), None),
        # The first acceptable offer wins; a bad one before it is skipped.
        (
            (
                "permessage-deflate; server_max_window_bits=99",
                "permessage-deflate; client_no_context_takeover",
            ),
            b"permessage-deflate; client_no_context_takeover",
        ),
    ],
)
def test_deflate_negotiation(offers: tuple[str, ...], expected: bytes | None) -> None:
    offer = Offer(KEY, (), offers)
    extensions, header = negotiate_extensions(offer, CONFIG)
    assert header == expected
    assert len(extensions) == (expected is not None)


def test_deflate_disabled_by_setting() -> None:
    config = replace(CONFIG, ws_per_message_deflate=False)
    assert negotiate_extensions(Offer(KEY, (), ("permessage-deflate",)), config) == ([], None)


def test_accept_headers() -> None:
    offer = Offer(KEY, ("chat", "v2"), ())
    headers = accept_headers(offer, "v2", [(b"X-Custom", b"1")], b"permessage-deflate")
    assert headers == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", generate_accept_token(KEY)),
        (b"sec-websocket-protocol", b"v2"),
        (b"sec-websocket-extensions", b"permessage-deflate"),
        (b"x-custom", b"1"),
    ]
    # RFC 6455 §1.3 example key and accept value.
    rfc = Offer(b"dGhlIHNhbXBsZSBub25jZQ==", (), ())
    assert (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in accept_headers(
        rfc, None, [], None
    )


@pytest.mark.parametrize(
    ("subprotocol", "extra"),
    [
        ("other", []),
        (None, [(b"sec-websocket-protocol", b"chat")]),
        (None, [(b"Sec-WebSocket-Accept", b"x")]),
        (None, [(b"upgrade", b"h2c")]),
    ],
)
def test_accept_headers_refuses_what_the_handshake_owns(
    subprotocol: str | None, extra: list[tuple[bytes, bytes]]
) -> None:
    with pytest.raises(ValueError):
        accept_headers(Offer(KEY, ("chat",), ()), subprotocol, extra, None)


@pytest.mark.parametrize(
    ("scheme", "ws_scheme", "root_path", "path", "expected_path"),
    [
        ("http", "ws", "", b"/chat", "/chat"),
        ("https", "wss", "", b"/a%20b/%E2%82%AC", "/a b/\u20ac"),
        ("http", "ws", "/api", b"/chat", "/api/chat"),
    ],
)
def test_scope(
    scheme: str, ws_scheme: str, root_path: str, path: bytes, expected_path: str
) -> None:
    info = ConnInfo(client=("10.0.0.1", 5555), server=("10.0.0.2", 80), scheme=scheme)  # type: ignore[arg-type]
    state = {"db": "x"}
    config = replace(CONFIG, root_path=root_path)
    scope = websocket_scope(head(path=path, query=b"a=1"), info, config, state, ["chat"])
    assert scope == {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": ws_scheme,
        "path": expected_path,
        "raw_path": path,
        "query_string": b"a=1",
        "root_path": root_path,
        "headers": BASE,
        "client": ("10.0.0.1", 5555),
        "server": ("10.0.0.2", 80),
        "subprotocols": ["chat"],
        "state": state,
        "extensions": {"websocket.http.response": {}},
    }
    assert scope["state"] is not state


def _client_deflate(data: bytes, *, fin: bool = True) -> bytes:
    """A masked, compressed client frame (RSV1) built by hand."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]
    first = (0x80 if fin else 0) | 0x40 | 0x2
    length = len(payload)
    if length < 126:
        header = bytes([first, 0x80 | length])
    elif length < 65536:
        header = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload  # an all-zero mask leaves the payload as is


def _server(max_size: int) -> Connection:
    extension = BoundedDeflate(max_size)
    assert extension.accept("permessage-deflate") is not None
    return Connection(ConnectionType.SERVER, [extension])


def test_bounded_deflate_inflates_within_limit() -> None:
    conn = _server(1000)
    conn.receive_data(_client_deflate(b"a" * 1000))
    events = list(conn.events())
    data = b"".join(bytes(e.data) for e in events if isinstance(e, BytesMessage))
    assert data == b"a" * 1000


def test_bounded_deflate_stops_a_compression_bomb() -> None:
    # ~10 MB of zeros compress to ~10 kB; the limit holds inside the decompressor.
    conn = _server(64 * 1024)
    conn.receive_data(_client_deflate(b"\0" * 10_000_000))
    events = list(conn.events())
    assert isinstance(events[-1], CloseConnection)
    assert events[-1].code == 1009
    inflated = sum(len(e.data) for e in events if isinstance(e, BytesMessage))
    assert inflated <= 64 * 1024


def test_bounded_deflate_limit_is_per_message() -> None:
    conn = _server(1000)
    for _ in range(3):
        conn.receive_data(_client_deflate(b"b" * 800))
    events = list(conn.events())
    assert not any(isinstance(e, CloseConnection) for e in events)
    assert sum(len(e.data) for e in events if isinstance(e, (BytesMessage, TextMessage))) == 2400
