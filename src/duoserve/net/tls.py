"""TLS: the SSLContext, the server-side handshake under a timeout, the `tls` extension.

TLS: the SSLContext built once from the settings, the server-side handshake under a
timeout, the connection facts for the ASGI `tls` extension, and RFC 9113 §9.2's rules for
connections that chose HTTP/2."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from ..config.settings import Config
from ..errors import StartupError

_CERT_REQS = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# RFC 9113 §9.2.2 and Appendix A: over TLS 1.2, HTTP/2 runs only on suites with an ephemeral,
# authenticated key exchange and an AEAD cipher; the appendix lists every other suite.
_EPHEMERAL = frozenset({"kx-ecdhe", "kx-dhe", "kx-ecdhe-psk", "kx-dhe-psk"})
# RFC 4514 short names of the attributes Python's getpeercert() spells out.
_RDN_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def tls_enabled(config: Config) -> bool:
    return bool(config.ssl_certfile)


def h2_acceptable(cipher: Mapping[str, Any]) -> bool:
    """Whether HTTP/2 may run over a cipher suite (an entry of SSLContext.get_ciphers())."""
    if cipher.get("protocol") == "TLSv1.3":
        return True
    return (
        cipher.get("kea") in _EPHEMERAL
        and cipher.get("auth") != "auth-null"
        and bool(cipher.get("aead"))
    )


def build_ssl_context(config: Config, http2: bool = False) -> ssl.SSLContext | None:
    """The server's SSLContext (None without --ssl-certfile): TLS 1.2 at least, without
    compression or renegotiation (RFC 9113 §9.2.1), ALPN h2 (when `http2`) then http/1.1.
    A missing or bad file is a one-line StartupError naming the setting."""
    if not tls_enabled(config):
        for name in ("ssl_keyfile", "ssl_ca_certs", "ssl_ciphers"):
            if getattr(config, name):
                flag = "--" + name.replace("_", "-")
                raise StartupError(f"{flag} needs --ssl-certfile")
        if config.ssl_cert_reqs != "none":
            raise StartupError("--ssl-cert-reqs needs --ssl-certfile")
        return None
    if config.ssl_cert_reqs != "none" and not config.ssl_ca_certs:
        raise StartupError("--ssl-cert-reqs optional|required needs --ssl-ca-certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    password = config.ssl_keyfile_password or None
    try:
        context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile or None, password)
    except FileNotFoundError as exc:
        raise StartupError(f"TLS: file not found: {exc.filename or config.ssl_certfile}") from None
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(
            f"TLS: cannot load --ssl-certfile/--ssl-keyfile ({_reason(exc)}); "
            "check the files match and the key password"
        ) from None
    if config.ssl_ca_certs:
        try:
            context.load_verify_locations(cafile=config.ssl_ca_certs)
        except FileNotFoundError:
            raise StartupError(
                f"TLS: --ssl-ca-certs file not found: {config.ssl_ca_certs}"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            raise StartupError(f"TLS: cannot load --ssl-ca-certs ({_reason(exc)})") from None
    context.verify_mode = _CERT_REQS[config.ssl_cert_reqs]
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise StartupError(
                f"--ssl-ciphers {config.ssl_ciphers!r} selects no usable cipher"
            ) from None
    if http2:
        _prefer_h2_suites(context)
    return context


def _prefer_h2_suites(context: ssl.SSLContext) -> None:
    """Put the TLS 1.2 suites HTTP/2 accepts first (the server's preference decides), so a
    client that offers any of them gets one; the others stay for HTTP/1.1 clients that
    offer nothing better (RFC 9113 §9.2.2 lets a server refuse h2 over them)."""
    suites = [c for c in context.get_ciphers() if c.get("protocol") != "TLSv1.3"]
    ordered = [c["name"] for c in suites if h2_acceptable(c)]
    ordered += [c["name"] for c in suites if not h2_acceptable(c)]
    if ordered:
        context.set_ciphers(":".join(ordered))


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)


def https_url(display: str, config: Config) -> str:
    """A listener's address for the logs, with https:// when TLS is on."""
    if tls_enabled(config) and display.startswith("http://"):
        return "https://" + display.removeprefix("http://")
    return display


class ServerTLSStream(TLSStream):
    """anyio's TLSStream whose send_eof() half-closes the transport (a FIN without
    close_notify), so a lingering close after an error response works over TLS too."""

    async def send_eof(self) -> None:
        await self.transport_stream.send_eof()


class TLSSetup:
    """A server's TLS, set up once at start: the context, and for
    the ASGI `tls` extension the server certificate and the cipher suites' IANA numbers."""

    def __init__(self, config: Config, context: ssl.SSLContext) -> None:
        self.context = context
        self.server_cert = _first_pem(config.ssl_certfile)
        self._cipher_ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}
        self._h2_suites = frozenset(c["name"] for c in context.get_ciphers() if h2_acceptable(c))

    @classmethod
    def from_config(cls, config: Config, http2: bool = False) -> TLSSetup | None:
        context = build_ssl_context(config, http2)
        return None if context is None else cls(config, context)

    async def handshake(self, stream: anyio.abc.ByteStream) -> ServerTLSStream:
        """The server side of a TLS handshake (the caller bounds the wait). Raises
        ssl.SSLError or a stream error; the caller closes the transport."""
        tls = await ServerTLSStream.wrap(
            stream, server_side=True, ssl_context=self.context, standard_compatible=False
        )
        assert isinstance(tls, ServerTLSStream)
        return tls

    @staticmethod
    def chose_h2(stream: TLSStream) -> bool:
        """Whether ALPN settled on HTTP/2 for this connection."""
        return stream.extra(TLSAttribute.alpn_protocol, None) == "h2"

    def h2_refusal(self, stream: TLSStream) -> str | None:
        """Why a connection that chose h2 must not speak it (RFC 9113 §9.2), or None: a
        version older than TLS 1.2, or a TLS 1.2 suite on the Appendix A blocklist."""
        obj = stream.extra(TLSAttribute.ssl_object)
        version = obj.version()
        if version not in _TLS_VERSIONS:
            return f"HTTP/2 needs TLS 1.2 or newer, not {version}"
        cipher = obj.cipher()
        name = cipher[0] if cipher else "none"
        if version == "TLSv1.2" and name not in self._h2_suites:
            return f"the TLS 1.2 cipher {name} is on RFC 9113's blocklist"
        return None

    def extension(self, stream: TLSStream) -> dict[str, Any]:
        """scope["extensions"]["tls"] for one connection, per the ASGI TLS extension."""
        obj = stream.extra(TLSAttribute.ssl_object)
        der = obj.getpeercert(binary_form=True)
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        cipher = obj.cipher()
        version = obj.version() or ""
        return {
            "server_cert": self.server_cert,
            "client_cert_chain": chain,
            "client_cert_name": subject_name(obj.getpeercert()) if der else None,
            "client_cert_error": None,  # a certificate that fails verification ends the handshake
            "tls_version": _TLS_VERSIONS.get(version),
            "cipher_suite": self._cipher_ids.get(cipher[0]) if cipher else None,
        }


def _first_pem(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    begin = text.find("-----BEGIN CERTIFICATE-----")
    marker = "-----END CERTIFICATE-----"
    end = text.find(marker, begin)
    if begin < 0 or end < 0:
        return None
    return text[begin : end + len(marker)] + "\n"


def subject_name(cert: Any) -> str | None:
    """The RFC 4514 string of a verified peer certificate's subject (most specific first)."""
    if not cert or "subject" not in cert:
        return None
    parts = []
    for rdn in reversed(cert["subject"]):
        parts.append("+".join(f"{_RDN_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(parts)


def _escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out
