"""http2.inbound without sockets: the head a valid block makes, and the rules still holding
after a flood of new field names has filled what the module remembers."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

from duoserve.http2.events import RequestHead
from duoserve.http2.inbound import Malformed, inbound_trailers, request_head

PSEUDO = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"x"), (b":path", b"/a")]


def test_a_valid_block_is_split_into_a_head() -> None:
    fields = [*PSEUDO, (b"cookie", b"a=1"), (b"accept", b"*/*"), (b"cookie", b"b=2")]
    assert request_head(3, fields, True, False) == RequestHead(
        3,
        b"GET",
        b"https",
        b"x",
        b"/a",
        [(b"accept", b"*/*"), (b"cookie", b"a=1; b=2")],
        True,
        view=ANY,  # its own test below
    )


def test_host_stands_in_for_a_missing_authority() -> None:
    fields = [*PSEUDO[:2], PSEUDO[3], (b"host", b"h")]
    assert request_head(1, fields, True, False).authority == b"h"


def test_a_plain_connect_has_empty_scheme_and_path() -> None:
    head = request_head(1, [(b":method", b"CONNECT"), (b":authority", b"x:1")], False, True)
    assert (head.scheme, head.path, head.protocol) == (b"", b"", None)


def test_the_rules_hold_after_a_flood_of_new_names() -> None:
    for i in range(3_000):
        request_head(1, [*PSEUDO, (b"x-%d" % i + b"y" * (i % 100), b"v")], True, False)
    assert request_head(1, [*PSEUDO, (b"x-new", b"v")], True, False).headers == [(b"x-new", b"v")]
    for bad in (b"X-New", b"x new", b"", b":x", b"connection"):
        with pytest.raises(Malformed):
            request_head(1, [*PSEUDO, (bad, b"v")], True, False)
        with pytest.raises(Malformed):
            inbound_trailers([(bad, b"v")])


def test_a_repeated_block_gives_the_same_head_with_its_own_list() -> None:
    fields = [*PSEUDO, (b"accept", b"*/*")]
    first = request_head(1, fields, True, False)
    first.headers.append((b"x-app", b"changed it"))
    second = request_head(3, list(fields), True, False)
    assert second == RequestHead(
        3, b"GET", b"https", b"x", b"/a", [(b"accept", b"*/*")], True, view=ANY
    )
    assert request_head(5, fields, False, False).end_stream is False


@pytest.mark.parametrize("repeat", range(3))
def test_a_malformed_block_is_refused_every_time(repeat: int) -> None:
    with pytest.raises(Malformed):
        request_head(1, [*PSEUDO, (b"Upper", b"v")], True, False)
    with pytest.raises(Malformed):  # the same fields, without the extended CONNECT advertised
        request_head(
            1, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), *PSEUDO[1:]], False, False
        )
    head = request_head(
        1, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), *PSEUDO[1:]], False, True
    )
    assert head.protocol == b"websocket"


def test_long_blocks_are_not_remembered() -> None:
    from duoserve.http2 import inbound

    inbound._HEADS.clear()
    request_head(1, [*PSEUDO, (b"x-long", b"v" * 3_000)], True, False)
    assert not inbound._HEADS
    for i in range(300):
        request_head(1, [*PSEUDO, (b"x-n", b"%d" % i)], True, False)
    assert 0 < len(inbound._HEADS) <= 256


@pytest.mark.parametrize("repeat", range(2))  # made, then remembered
def test_the_view_is_the_request_as_the_cycle_takes_it(repeat: int) -> None:
    fields = [*PSEUDO[:3], (b":path", b"/p?q=1"), (b"content-length", b"5")]
    view = request_head(1, fields, False, False).view
    assert view is not None
    assert (view.method, view.target, view.path, view.query) == (b"GET", b"/p?q=1", b"/p", b"q=1")
    assert view.http_version == "2" and view.keep_alive
    assert view.headers == [(b"host", b"x"), (b"content-length", b"5")]  # :authority as Host
    assert (view.content_length, view.chunked, view.expect_continue) == (5, False, False)
    view.headers.append((b"x-app", b"changed it"))  # each stream's list is its own
    again = request_head(3, fields, False, False).view
    assert again is not None and again.headers == [(b"host", b"x"), (b"content-length", b"5")]


def test_the_view_of_a_body_without_length_is_chunked_and_of_none_empty() -> None:
    fields = [*PSEUDO, (b"host", b"x"), (b"expect", b"100-Continue")]
    streamed = request_head(1, fields, False, False).view
    assert streamed is not None and (streamed.chunked, streamed.content_length) == (True, None)
    assert streamed.expect_continue and streamed.headers.count((b"host", b"x")) == 1
    whole = request_head(3, fields, True, False).view
    assert whole is not None and (whole.chunked, whole.content_length) == (False, 0)
    assert not whole.expect_continue
