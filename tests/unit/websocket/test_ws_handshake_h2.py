"""The pure WebSocket handshake over HTTP/2 (RFC 8441 §5): the CONNECT checks and the 200's
headers, beside HTTP/1.1's (test_ws_handshake.py)."""

from __future__ import annotations

import pytest

from duoserve.http1.events import RequestHead
from duoserve.websocket.handshake import Denial, Offer, accept_headers, check_request

FIELDS = [
    (b"host", b"example.com"),
    (b"sec-websocket-version", b"13"),
    (b"sec-websocket-protocol", b"chat, v2"),
    (b"sec-websocket-extensions", b"permessage-deflate"),
]


def connect(
    headers: list[tuple[bytes, bytes]] = FIELDS,
    *,
    method: bytes = b"CONNECT",
    protocol: bytes | None = b"websocket",
) -> RequestHead:
    """A stream's request as the HTTP/2 driver hands it over (:protocol in `upgrade`)."""
    return RequestHead(
        method=method,
        target=b"/chat",
        path=b"/chat",
        query=b"",
        http_version="2",
        headers=headers,
        keep_alive=True,
        expect_continue=False,
        upgrade=protocol,
        content_length=None,
        chunked=True,
    )


def test_an_extended_connect_is_an_offer_without_a_key() -> None:
    offer = check_request(connect())
    assert offer == Offer(None, ("chat", "v2"), ("permessage-deflate",))


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (connect(method=b"GET"), 400),  # RFC 8441 §4: CONNECT, not an HTTP/1.1-style GET
        (connect(protocol=None), 400),
        (connect(protocol=b"webtransport"), 400),
        (connect([(b"sec-websocket-version", b"8")]), 426),
        (connect([]), 426),
    ],
)
def test_invalid_extended_connects_are_denied(request_head: RequestHead, status: int) -> None:
    denied = check_request(request_head)
    assert isinstance(denied, Denial) and denied.status == status


def test_the_answer_has_no_upgrade_connection_or_accept_token() -> None:
    offer = Offer(None, ("chat",), ())
    headers = accept_headers(offer, "chat", [(b"X-App", b"1")], b"permessage-deflate")
    assert headers == [
        (b"sec-websocket-protocol", b"chat"),
        (b"sec-websocket-extensions", b"permessage-deflate"),
        (b"x-app", b"1"),
    ]
    with pytest.raises(ValueError, match="not offered"):
        accept_headers(offer, "other", [], None)
