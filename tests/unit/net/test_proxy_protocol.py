"""PROXY protocol parsing, table-driven: v1, v2 (LOCAL, TLVs), partial input and garbage."""

from __future__ import annotations

import socket
import struct

import pytest

from duoserve.net.proxy_protocol import (
    NO_HEADER,
    V2_SIGNATURE,
    ProxyHeaderError,
    parse,
)


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(body)) + body


V2_TCP4 = v2(
    1,
    0x11,
    socket.inet_aton("198.51.100.7") + socket.inet_aton("10.0.0.1") + struct.pack("!HH", 4711, 443),
)
V2_TCP6 = v2(
    1,
    0x21,
    socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    + socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    + struct.pack("!HH", 1, 2),
)
TLVS = bytes([0x01, 0x00, 0x02]) + b"h2" + bytes([0x04, 0x00, 0x00])
V2_TLV = v2(1, 0x11, V2_TCP4[16:] + TLVS)

VALID = [
    ("v1", b"PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\nGET", ("198.51.100.7", 4711), 43),
    ("v1", b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", ("2001:db8::1", 1), 40),
    ("v1", b"PROXY UNKNOWN\r\n", None, 15),
    ("v1", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", None, 35),
    ("v2", V2_TCP4 + b"GET", ("198.51.100.7", 4711), 28),
    ("v2", V2_TCP6, ("2001:db8::1", 1), 52),
    ("v2", V2_TLV, ("198.51.100.7", 4711), 28 + len(TLVS)),
    ("v2", v2(0, 0x11, V2_TCP4[16:]), None, 28),  # LOCAL: the proxy's own health check
    ("v2", v2(1, 0x00, b""), None, 16),  # UNSPEC
    ("v2", v2(1, 0x31, bytes(216)), None, 232),  # AF_UNIX
    ("auto", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ("1.2.3.4", 1), 32),
    ("auto", V2_TCP4, ("198.51.100.7", 4711), 28),
]


@pytest.mark.parametrize(("mode", "data", "client", "length"), VALID)
def test_valid_headers(mode: str, data: bytes, client: tuple[str, int] | None, length: int) -> None:
    header = parse(data, mode)  # type: ignore[arg-type]
    assert header is not None
    assert header.client == client
    assert header.length == length
    # byte by byte, every prefix asks for more data and none is misread
    for cut in range(length):
        assert parse(data[:cut], mode) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tlvs", "ssl"),
    [
        (b"", False),
        (bytes([0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0]), True),  # PP2_TYPE_SSL, client over TLS
        (bytes([0x20, 0x00, 0x05, 0x00, 0, 0, 0, 0]), False),
        (TLVS + bytes([0x20, 0x00, 0x05, 0x07, 0, 0, 0, 0]), True),  # after other TLVs
        (bytes([0x20, 0x00, 0x09, 0x01]), False),  # truncated
    ],
)
def test_v2_ssl_tlv(tlvs: bytes, ssl: bool) -> None:
    header = parse(v2(1, 0x11, V2_TCP4[16:28] + tlvs), "v2")
    assert header is not None
    assert header.ssl is ssl


def test_auto_without_header_passes_everything_on() -> None:
    assert parse(b"GET / HTTP/1.1\r\n", "auto") is NO_HEADER
    assert parse(b"\x16\x03\x01", "auto") is NO_HEADER  # a TLS ClientHello
    assert parse(b"PRO", "auto") is None
    assert parse(b"POST", "auto") is NO_HEADER


GARBAGE = [
    ("v1", b"GET / HTTP/1.1\r\n\r\n"),
    ("v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
    ("v1", b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n"),
    ("v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"),
    ("v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),
    ("v1", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    ("v1", b"PROXY " + b"1" * 120),
    ("v1", b"PROXY TCP4 \xff.2.3.4 5.6.7.8 1 2\r\n"),
    ("v2", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    ("v2", V2_SIGNATURE + bytes([0x31, 0x11, 0, 0])),  # version 3
    ("v2", V2_SIGNATURE + bytes([0x22, 0x11, 0, 0])),  # command 2
    ("v2", V2_SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF])),  # too long
    ("v2", v2(1, 0x11, b"\x00" * 4)),  # short address block
    ("v2", v2(1, 0x12, V2_TCP4[16:])),  # datagram
    ("v2", v2(1, 0x41, b"")),  # unknown family
    ("auto", b"PROXY nonsense\r\n"),
]


@pytest.mark.parametrize(("mode", "data"), GARBAGE)
def test_garbage_is_refused(mode: str, data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse(data, mode)  # type: ignore[arg-type]
