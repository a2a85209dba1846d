"""The HAProxy PROXY protocol (v1, v2): the header that says whose connection it is.

A load balancer sends it at the start of a connection, in text (v1) or binary (v2).
Parsing is pure; reading is bounded."""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.abc

Mode = Literal["v1", "v2", "auto"]

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line the specification allows, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_HEADER = 16
# Addresses take at most 216 bytes (AF_UNIX); the rest are TLVs we skip. HAProxy's own
# headers stay far below this; anything longer is refused rather than buffered.
V2_MAX = V2_HEADER + 4096
_READ_SIZE = 4096


class ProxyHeaderError(Exception):
    """The connection did not start with a valid PROXY header where one was required."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header. `client`/`server` are None when the proxy did not relay addresses
    (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC or Unix families): keep the socket's own."""

    client: tuple[str, int] | None
    server: tuple[str, int] | None
    length: int  # bytes of the header; what follows belongs to the next layer
    ssl: bool = False  # v2 PP2_TYPE_SSL: the client reached the proxy over TLS


NO_HEADER = ProxyHeader(None, None, 0)


def parse(data: bytes, mode: Mode) -> ProxyHeader | None:
    """The header at the start of `data`; None if more bytes are needed to tell. In 'auto'
    mode data that cannot start a header is NO_HEADER. Raises ProxyHeaderError."""
    for signature, version in ((V1_PREFIX, "v1"), (V2_SIGNATURE, "v2")):
        if mode in (version, "auto"):
            if data.startswith(signature):
                return _parse_v1(data) if version == "v1" else _parse_v2(data)
            if signature.startswith(data[: len(signature)]):
                return None  # still a possible prefix
    if mode == "auto":
        return NO_HEADER
    raise ProxyHeaderError(f"expected a PROXY protocol {mode} header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
        return None
    try:
        parts = data[:end].decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 header is not ASCII") from None
    length = end + 2
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(None, None, length)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("malformed PROXY v1 header")
    version = 4 if parts[1] == "TCP4" else 6
    src, dst = _v1_address(parts[2], version), _v1_address(parts[3], version)
    return ProxyHeader((src, _v1_port(parts[4])), (dst, _v1_port(parts[5])), length)


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1: bad address {text!r}") from None
    if address.version != version:
        raise ProxyHeaderError(f"PROXY v1: {text!r} is not IPv{version}")
    return str(address)


def _v1_port(text: str) -> int:
    if (
        not text.isdigit()
        or len(text) > 5
        or int(text) > 65535
        or (len(text) > 1 and text[0] == "0")
    ):
        raise ProxyHeaderError(f"PROXY v1: bad port {text!r}")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_HEADER:
        return None
    ver_cmd, family, size = struct.unpack("!BBH", data[12:16])
    if ver_cmd >> 4 != 2:
        raise ProxyHeaderError("PROXY v2: unsupported version")
    command = ver_cmd & 0x0F
    if command > 1:
        raise ProxyHeaderError("PROXY v2: unknown command")
    length = V2_HEADER + size
    if length > V2_MAX:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes is too long")
    if len(data) < length:
        return None
    if command == 0:  # LOCAL: a health check from the proxy itself
        return ProxyHeader(None, None, length)
    body = data[V2_HEADER:length]
    address_family, transport = family >> 4, family & 0x0F
    if transport not in (0, 1):
        raise ProxyHeaderError("PROXY v2: only stream connections can carry HTTP")
    if address_family == 1 and transport == 1:
        if size < 12:
            raise ProxyHeaderError("PROXY v2: short IPv4 address block")
        src = socket.inet_ntop(socket.AF_INET, body[:4])
        dst = socket.inet_ntop(socket.AF_INET, body[4:8])
        sport, dport = struct.unpack("!HH", body[8:12])
        return ProxyHeader((src, sport), (dst, dport), length, _client_ssl(body[12:]))
    if address_family == 2 and transport == 1:
        if size < 36:
            raise ProxyHeaderError("PROXY v2: short IPv6 address block")
        src = socket.inet_ntop(socket.AF_INET6, body[:16])
        dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
        sport, dport = struct.unpack("!HH", body[32:36])
        return ProxyHeader((src, sport), (dst, dport), length, _client_ssl(body[36:]))
    if address_family in (0, 3):  # UNSPEC or AF_UNIX: no IP addresses to relay
        return ProxyHeader(None, None, length)
    raise ProxyHeaderError("PROXY v2: unknown address family")


def _client_ssl(tlvs: bytes) -> bool:
    """Whether the TLVs include PP2_TYPE_SSL with PP2_CLIENT_SSL set (HAProxy's
    send-proxy-v2-ssl). Every other TLV is skipped; a truncated one ends the walk."""
    offset = 0
    while offset + 3 <= len(tlvs):
        kind, size = tlvs[offset], int.from_bytes(tlvs[offset + 1 : offset + 3], "big")
        value = tlvs[offset + 3 : offset + 3 + size]
        if len(value) < size:
            return False
        if kind == 0x20 and size >= 5:
            return bool(value[0] & 0x01)
        offset += 3 + size
    return False


async def read_header(stream: anyio.abc.ByteReceiveStream, mode: Mode) -> tuple[ProxyHeader, bytes]:
    """Read the header (the caller bounds the wait); returns it and the bytes received
    after it (the start of the HTTP request or TLS handshake, which must not be lost).
    Raises ProxyHeaderError or anyio's stream errors."""
    data = b""
    while True:
        try:
            data += await stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            raise ProxyHeaderError("connection closed before the PROXY header") from None
        header = parse(data, mode)
        if header is not None:
            return header, data[header.length :]
