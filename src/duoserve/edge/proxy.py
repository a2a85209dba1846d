"""Pure trusted-proxy resolution: the client as told by the headers of proxies we trust.

The client's address, scheme, host and prefix as told by Forwarded or X-Forwarded-* headers
from proxies we trust, and from no one else."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from ..types import ConnInfo, Headers, Scheme

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HeadersFormat = Literal["x-forwarded", "forwarded"]

_X_FORWARDED = {
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-prefix",
}
# The header names each format reads: a request with none of them is left as it is.
_NAMES: dict[str, frozenset[bytes]] = {
    "x-forwarded": frozenset(_X_FORWARDED),
    "forwarded": frozenset({b"forwarded"}),
}
_SCHEMES: dict[str, Scheme] = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose proxy headers (and PROXY protocol headers) are believed."""

    networks: tuple[Network, ...] = ()
    everyone: bool = False
    unix: bool = False
    format: HeadersFormat = "x-forwarded"

    @classmethod
    def parse(cls, entries: Iterable[str], format: HeadersFormat = "x-forwarded") -> TrustedProxies:
        """From --forwarded-allow-ips: IPs, CIDRs, 'unix' or '*'; a bad entry is a ConfigError."""
        networks: list[Network] = []
        everyone = unix = False
        for raw in entries:
            entry = raw.strip()
            if entry == "*":
                everyone = True
            elif entry == "unix":
                unix = True
            elif entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ConfigError(
                        f"--forwarded-allow-ips: {entry!r} is not an IP address, a CIDR "
                        "network, 'unix' or '*'"
                    ) from None
        return cls(tuple(networks), everyone, unix, format)

    def trusts(self, client: tuple[str, int] | None) -> bool:
        """Whether a peer is trusted; None is a Unix-socket peer (no address)."""
        if self.everyone:
            return True
        if client is None:
            return self.unix
        return self.trusts_host(client[0])

    def trusts_host(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name, "unknown" or an obfuscated identifier
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class _Hop:
    """What one proxy said about the connection it received."""

    client: tuple[str, int] | None = None
    has_client: bool = False
    proto: str | None = None
    host: str | None = None
    port: int | None = None
    prefix: str | None = None


def resolve_proxy(peer: ConnInfo, headers: Headers, trusted: TrustedProxies) -> ConnInfo:
    """The connection as the client made it. Hops are taken from the right (the proxy
    nearest to us) and the walk stops at the first hop whose address is not trusted: that
    address is the client. Headers from an untrusted peer are never applied."""
    # Most requests carry none of the headers: one set operation in C says so.
    if _NAMES[trusted.format].isdisjoint(dict(headers)) or not trusted.trusts(peer.client):
        return peer
    hops = _forwarded_hops(headers) if trusted.format == "forwarded" else _x_forwarded_hops(headers)
    if not hops:
        return peer
    client, scheme = peer.client, peer.scheme
    host: str | None = None
    port: int | None = None
    prefix: str | None = None
    for hop in reversed(hops):
        if hop.has_client:
            client = hop.client
        scheme = _SCHEMES.get(hop.proto or "", scheme)
        host = hop.host or host
        port = hop.port or port
        prefix = hop.prefix if hop.prefix is not None else prefix
        if not hop.has_client or client is None or not trusted.trusts_host(client[0]):
            break
    server = peer.server
    if host is not None or port is not None:
        name, host_port = _split_host(host) if host is not None else (None, None)
        if name is None:
            name = server[0] if server is not None else "localhost"
        name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        default = 443 if scheme == "https" else 80
        real_port = port or host_port or (default if host is not None else None)
        server = (name, real_port if real_port is not None else (server[1] if server else None))
    return peer._replace(
        client=client,
        server=server,
        scheme=scheme,
        host=host.encode("latin-1") if host is not None else None,
        root_path=prefix,
    )


# -- X-Forwarded-* -------------------------------------------------------------------------
def _x_forwarded_hops(headers: Headers) -> list[_Hop]:
    found: dict[bytes, list[str]] = {}
    for name, value in headers:
        if name in _X_FORWARDED:
            items = [v.strip() for v in value.decode("latin-1").split(",")]
            found.setdefault(name, []).extend(item for item in items if item)
    if not found:
        return []
    fors = found.get(b"x-forwarded-for", [])
    count = max(len(fors), 1)

    def pick(name: bytes, index: int) -> str | None:
        # A list as long as X-Forwarded-For lines up hop by hop; otherwise only the last
        # value (set by the proxy nearest to us) counts, for the nearest hop.
        values = found.get(name)
        if not values:
            return None
        if len(values) == count:
            return values[index] or None
        return (values[-1] or None) if index == count - 1 else None

    hops = []
    for index in range(count):
        client = _parse_node(fors[index]) if fors else None
        hops.append(
            _Hop(
                client=client,
                has_client=bool(fors),
                proto=(pick(b"x-forwarded-proto", index) or "").lower() or None,
                host=pick(b"x-forwarded-host", index),
                port=_parse_port(pick(b"x-forwarded-port", index)),
                prefix=_parse_prefix(pick(b"x-forwarded-prefix", index)),
            )
        )
    return hops


# -- Forwarded (RFC 7239) --------------------------------------------------------------------
def _forwarded_hops(headers: Headers) -> list[_Hop]:
    values = [value.decode("latin-1") for name, value in headers if name == b"forwarded"]
    if not values:
        return []
    elements = parse_forwarded(", ".join(values))
    if elements is None:
        return []  # malformed: believe none of it
    hops = []
    for element in elements:
        node = element.get("for")
        hops.append(
            _Hop(
                client=_parse_node(node) if node is not None else None,
                has_client=node is not None,
                proto=element.get("proto", "").lower() or None,
                host=element.get("host") or None,
            )
        )
    return hops


def parse_forwarded(text: str) -> list[dict[str, str]] | None:
    """The elements of a Forwarded field value, each a dict of lower-case parameter names
    to (unquoted) values; None when the value is malformed."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in " \t;":
            i += 1
            continue
        if char == ",":
            elements.append(current)
            current = {}
            i += 1
            continue
        eq = i
        while eq < n and text[eq] not in "=;,":
            eq += 1
        name = text[i:eq].strip().lower()
        if eq >= n or text[eq] != "=" or not name or name in current:
            return None
        i = eq + 1
        if i < n and text[i] == '"':
            value, i = _quoted(text, i)
            if value is None:
                return None
        else:
            end = i
            while end < n and text[end] not in ";,":
                end += 1
            value, i = text[i:end].strip(), end
            if not value or any(c in value for c in ' "'):
                return None
        current[name] = value
    elements.append(current)
    return elements


def _quoted(text: str, start: int) -> tuple[str | None, int]:
    """A quoted-string starting at text[start] == '"': its value and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return None, i


# -- addresses -----------------------------------------------------------------------------------
def _parse_node(text: str) -> tuple[str, int] | None:
    """('192.0.2.1', 4711) from '192.0.2.1:4711', '[2001:db8::1]:4711', a bare IPv6 address
    or an obfuscated identifier ('_hidden', port 0); None for 'unknown' or nothing."""
    text = text.strip()
    if not text or text.lower() == "unknown":
        return None
    port_text = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    port = int(port_text) if port_text.isdigit() and int(port_text) <= 65535 else 0
    return host, port


def _parse_port(text: str | None) -> int | None:
    if text is None or not text.isdigit() or not 0 < int(text) <= 65535:
        return None
    return int(text)


def _parse_prefix(text: str | None) -> str | None:
    """A path prefix such as '/app' (no trailing slash); anything not starting with '/' is
    ignored."""
    if text is None or not text.startswith("/") or text.startswith("//"):
        return None
    return text.rstrip("/")


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]") + 1
        name, rest = host[:end], host[end:]
    else:
        name, _, port_text = host.partition(":")
        rest = ":" + port_text if port_text else ""
    port = _parse_port(rest[1:]) if rest.startswith(":") else None
    return name, port
