"""Trusted-proxy resolution, table-driven: who the client is, per header and per peer."""

from __future__ import annotations

import pytest

from duoserve.edge.proxy import TrustedProxies, parse_forwarded, resolve_proxy
from duoserve.errors import ConfigError
from duoserve.types import ConnInfo

LOCAL = ConnInfo(client=("127.0.0.1", 5000), server=("127.0.0.1", 8000))
REMOTE = ConnInfo(client=("203.0.113.9", 5000), server=("10.0.0.2", 8000))
UNIX = ConnInfo(client=None, server=("/run/app.sock", None))
DEFAULT = TrustedProxies.parse(["127.0.0.1", "::1", "unix"])


def h(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in pairs]


XFF_CASES = [
    # (peer, trusted, headers, client, scheme)
    (LOCAL, DEFAULT, [], ("127.0.0.1", 5000), "http"),
    (LOCAL, DEFAULT, [("X-Forwarded-For", "198.51.100.7")], ("198.51.100.7", 0), "http"),
    (
        LOCAL,
        DEFAULT,
        [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")],
        ("198.51.100.7", 0),
        "https",
    ),
    # untrusted peer: nothing applied
    (
        REMOTE,
        DEFAULT,
        [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https")],
        ("203.0.113.9", 5000),
        "http",
    ),
    # Unix-socket peers are trusted by default ('unix')
    (UNIX, DEFAULT, [("X-Forwarded-For", "198.51.100.7")], ("198.51.100.7", 0), "http"),
    (UNIX, TrustedProxies.parse(["127.0.0.1"]), [("X-Forwarded-For", "1.2.3.4")], None, "http"),
    # the chain: spoofed left part ignored, stops at the first untrusted hop from the right
    (
        LOCAL,
        TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"]),
        [("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.2.3")],
        ("198.51.100.7", 0),
        "http",
    ),
    (
        LOCAL,
        DEFAULT,
        [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.7")],
        ("198.51.100.7", 0),
        "http",
    ),
    # everyone trusted: the leftmost address
    (
        REMOTE,
        TrustedProxies.parse(["*"]),
        [("X-Forwarded-For", "6.6.6.6, 198.51.100.7")],
        ("6.6.6.6", 0),
        "http",
    ),
    # ports and IPv6
    (LOCAL, DEFAULT, [("X-Forwarded-For", "198.51.100.7:4711")], ("198.51.100.7", 4711), "http"),
    (LOCAL, DEFAULT, [("X-Forwarded-For", "2001:db8::1")], ("2001:db8::1", 0), "http"),
    (LOCAL, DEFAULT, [("X-Forwarded-For", "[2001:db8::1]:443")], ("2001:db8::1", 443), "http"),
    # a proto list aligned with the address list: the chosen hop's entry
    (
        LOCAL,
        TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"]),
        [("X-Forwarded-For", "198.51.100.7, 10.0.0.5"), ("X-Forwarded-Proto", "https, http")],
        ("198.51.100.7", 0),
        "https",
    ),
    # proto alone, websocket spellings, garbage ignored
    (LOCAL, DEFAULT, [("X-Forwarded-Proto", "wss")], ("127.0.0.1", 5000), "https"),
    (LOCAL, DEFAULT, [("X-Forwarded-Proto", "gopher")], ("127.0.0.1", 5000), "http"),
    (LOCAL, DEFAULT, [("X-Forwarded-For", "unknown")], None, "http"),
    # the other header family is ignored in x-forwarded mode
    (LOCAL, DEFAULT, [("Forwarded", "for=1.2.3.4;proto=https")], ("127.0.0.1", 5000), "http"),
    # IPv4-mapped IPv6 peers match IPv4 networks
    (
        ConnInfo(client=("::ffff:127.0.0.1", 1), server=None),
        DEFAULT,
        [("X-Forwarded-For", "198.51.100.7")],
        ("198.51.100.7", 0),
        "http",
    ),
]


@pytest.mark.parametrize(("peer", "trusted", "headers", "client", "scheme"), XFF_CASES)
def test_x_forwarded(
    peer: ConnInfo,
    trusted: TrustedProxies,
    headers: list[tuple[str, str]],
    client: tuple[str, int] | None,
    scheme: str,
) -> None:
    info = resolve_proxy(peer, h(*headers), trusted)
    assert info.client == client
    assert info.scheme == scheme


FORWARDED = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"], "forwarded")

FORWARDED_CASES = [
    ("for=198.51.100.7", ("198.51.100.7", 0), "http", None),
    ('for="198.51.100.7:4711";proto=https', ("198.51.100.7", 4711), "https", None),
    ('for="[2001:db8:cafe::17]:4711"', ("2001:db8:cafe::17", 4711), "http", None),
    ("for=_hidden;proto=https", ("_hidden", 0), "https", None),
    ("for=unknown", None, "http", None),
    (
        'For="198.51.100.7";Host="example.com:8443"',
        ("198.51.100.7", 0),
        "http",
        b"example.com:8443",
    ),
    # chain: rightmost trusted hop skipped; spoofed leftmost part never reached
    ("for=6.6.6.6, for=198.51.100.7;proto=https, for=10.0.0.3", ("198.51.100.7", 0), "https", None),
    # quoted strings may hold separators
    ('for="_a,b;c";host="h"', ("_a,b;c", 0), "http", b"h"),
    # malformed: none of it is believed
    ('for="198.51.100.7', ("127.0.0.1", 5000), "http", None),
    ("for=1.2.3.4;for=5.6.7.8", ("127.0.0.1", 5000), "http", None),
    ("garbage", ("127.0.0.1", 5000), "http", None),
]


@pytest.mark.parametrize(("value", "client", "scheme", "host"), FORWARDED_CASES)
def test_forwarded(
    value: str, client: tuple[str, int] | None, scheme: str, host: bytes | None
) -> None:
    info = resolve_proxy(LOCAL, h(("Forwarded", value)), FORWARDED)
    assert info.client == client
    assert info.scheme == scheme
    assert info.host == host


def test_forwarded_headers_ignored_from_untrusted_peer_and_x_forwarded_ignored() -> None:
    assert resolve_proxy(REMOTE, h(("Forwarded", "for=1.2.3.4")), FORWARDED) == REMOTE
    assert resolve_proxy(LOCAL, h(("X-Forwarded-For", "1.2.3.4")), FORWARDED) == LOCAL


def test_host_port_and_prefix_set_server_and_root_path() -> None:
    info = resolve_proxy(
        LOCAL,
        h(
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "example.com"),
            ("X-Forwarded-Prefix", "/app/"),
        ),
        DEFAULT,
    )
    assert info.server == ("example.com", 443)
    assert info.host == b"example.com"
    assert info.root_path == "/app"
    info = resolve_proxy(
        UNIX, h(("X-Forwarded-Host", "example.com:8080"), ("X-Forwarded-Port", "9000")), DEFAULT
    )
    assert info.server == ("example.com", 9000)
    info = resolve_proxy(LOCAL, h(("X-Forwarded-Port", "8443")), DEFAULT)
    assert info.server == ("127.0.0.1", 8443)
    info = resolve_proxy(LOCAL, h(("X-Forwarded-Host", "[2001:db8::1]:8080")), DEFAULT)
    assert info.server == ("2001:db8::1", 8080)
    assert info.host == b"[2001:db8::1]:8080"
    # an empty X-Forwarded-For says nothing
    assert resolve_proxy(LOCAL, h(("X-Forwarded-For", "")), DEFAULT) == LOCAL
    # a prefix that is not a path, and a bad port, are ignored
    info = resolve_proxy(
        LOCAL, h(("X-Forwarded-Prefix", "app"), ("X-Forwarded-Port", "x")), DEFAULT
    )
    assert info == LOCAL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("for=a", [{"for": "a"}]),
        ("for=a;by=b, for=c", [{"for": "a", "by": "b"}, {"for": "c"}]),
        ('host="a\\"b"', [{"host": 'a"b'}]),
        ("FOR=a ; PROTO=http", [{"for": "a", "proto": "http"}]),
        ("for=", None),
        ("=a", None),
        ('for="a', None),
        ("for=a b", None),
    ],
)
def test_parse_forwarded(text: str, expected: list[dict[str, str]] | None) -> None:
    assert parse_forwarded(text) == expected


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "example.com", "1.2.3"])
def test_bad_trusted_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="forwarded-allow-ips"):
        TrustedProxies.parse([entry])


def test_trust_matching() -> None:
    trusted = TrustedProxies.parse(["10.0.0.0/8", "2001:db8::/32"])
    assert trusted.trusts(("10.9.8.7", 1))
    assert trusted.trusts(("2001:db8::5", 1))
    assert not trusted.trusts(("11.0.0.1", 1))
    assert not trusted.trusts(None)
    assert not trusted.trusts_host("not-an-ip")
    assert TrustedProxies.parse(["*"]).trusts(None)
