"""RFC 9113 §9.2 over real TLS connections: TLS 1.2 or newer, no compression or renegotiation,
and h2 over a blocklisted TLS 1.2 suite refused with GOAWAY(INADEQUATE_SECURITY), while
HTTP/1.1 clients with the same suite are served as before."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import anyio
import httpx
import pytest
import trustme
from anyio.streams.tls import TLSAttribute
from hyperframe.frame import GoAwayFrame, SettingsFrame

from duoserve import Config
from duoserve.http2.events import ErrorCode
from duoserve.net.tls import build_ssl_context, h2_acceptable
from tests.conftest import read_all, running_server
from tests.http2.rawh2 import START, parse
from tests.http2.test_clients import certs  # noqa: F401

pytest.importorskip("h2")
pytestmark = pytest.mark.anyio
Certs = tuple[trustme.CA, dict[str, str]]
# trustme's certificates carry ECDSA keys: these suites are the ones a server can pick.
CBC = "ECDHE-ECDSA-AES128-SHA256"  # blocklisted: CBC, not AEAD (in Python's default list)
SHA1_CBC = "ECDHE-ECDSA-AES128-SHA"  # blocklisted, and only with --ssl-ciphers
GCM = "ECDHE-ECDSA-AES128-GCM-SHA256"  # the suite RFC 9113 §9.2.2 makes mandatory, ECDSA


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    version = scope["http_version"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello over " + version})


def client_context(ca: trustme.CA, ciphers: str | None, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if ciphers is not None:  # TLS 1.3 has no say in its suites here: stay on 1.2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
    context.set_alpn_protocols(alpn)
    return context


async def h2_over(
    port: int, context: ssl.SSLContext
) -> tuple[str | None, str, list[Any], str | None]:
    """Connect with `context`, speak the HTTP/2 preface; the ALPN choice, the cipher, the
    frames received until a GOAWAY (then until the server closes) or the ACK of our
    SETTINGS, and the TLS compression in use."""
    stream = await anyio.connect_tcp(
        "127.0.0.1", port, ssl_context=context, tls_standard_compatible=False
    )
    async with stream:
        alpn = stream.extra(TLSAttribute.alpn_protocol)
        cipher = stream.extra(TLSAttribute.cipher)[0]
        compression = stream.extra(TLSAttribute.ssl_object).compression()
        await stream.send(START)
        data = b""
        while True:
            data += await stream.receive()
            frames = parse(data)
            if any(isinstance(f, GoAwayFrame) for f in frames):
                data += await read_all(stream, timeout=5)  # the server closes after it
                break
            if any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in frames):
                break
    return alpn, cipher, parse(data), compression


@pytest.mark.parametrize(
    ("suite", "server_ciphers"),
    [(CBC, ""), (SHA1_CBC, f"{GCM}:{SHA1_CBC}")],
    ids=["cbc-sha256-default-list", "cbc-sha1-with-ssl-ciphers"],
)
async def test_h2_over_a_blocklisted_suite_gets_inadequate_security(
    certs: Certs,  # noqa: F811
    suite: str,
    server_ciphers: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca, settings = certs
    caplog.set_level(logging.INFO, "duoserve.error")
    async with running_server(hello, ssl_ciphers=server_ciphers, **settings) as srv:
        with anyio.fail_after(5):
            alpn, cipher, frames, _ = await h2_over(srv.port, client_context(ca, suite, ["h2"]))
        assert (alpn, cipher) == ("h2", suite)
        assert isinstance(frames[0], SettingsFrame)  # the server preface comes first
        goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert len(goaways) == 1 and goaways[0].error_code == ErrorCode.INADEQUATE_SECURITY
        assert goaways[0].last_stream_id == 0 and suite.encode() in goaways[0].additional_data
        # HTTP/1.1 with the very same suite is served as it always was.
        context = client_context(ca, suite, ["http/1.1"])
        async with httpx.AsyncClient(verify=context, timeout=5) as client:
            response = await client.get(srv.url + "/")
        assert response.http_version == "HTTP/1.1" and response.text == "hello over 1.1"
        # A client that offers a suite HTTP/2 accepts is served over h2 on the same server.
        context = client_context(ca, f"{suite}:{GCM}", ["h2", "http/1.1"])
        async with httpx.AsyncClient(verify=context, http2=True, timeout=5) as client:
            response = await client.get(srv.url + "/")
        assert response.http_version == "HTTP/2" and response.text == "hello over 2"
    assert f"the TLS 1.2 cipher {suite} is on RFC 9113's blocklist" in caplog.text


async def test_h2_suites_are_preferred_over_the_order_of_ssl_ciphers(certs: Certs) -> None:  # noqa: F811
    """--ssl-ciphers lists a blocklisted suite first; with HTTP/2 on, a client offering
    both gets the AEAD one (the server's preference decides), so h2 works."""
    ca, settings = certs
    async with running_server(hello, ssl_ciphers=f"{CBC}:{GCM}", **settings) as srv:
        with anyio.fail_after(5):
            alpn, cipher, frames, _ = await h2_over(
                srv.port, client_context(ca, f"{CBC}:{GCM}", ["h2"])
            )
        assert (alpn, cipher) == ("h2", GCM)
        assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    async with running_server(hello, http2="off", ssl_ciphers=f"{CBC}:{GCM}", **settings) as srv:
        context = client_context(ca, f"{CBC}:{GCM}", ["http/1.1"])
        stream = await anyio.connect_tcp(
            "127.0.0.1", srv.port, ssl_context=context, tls_standard_compatible=False
        )
        async with stream:  # HTTP/2 off: the configured order is left as it was
            assert stream.extra(TLSAttribute.cipher)[0] == CBC


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2-gcm", "tls1.3"])
async def test_good_clients_are_served_over_h2_without_compression(
    certs: Certs,  # noqa: F811
    tls13: bool,
) -> None:
    ca, settings = certs
    async with running_server(hello, **settings) as srv:
        context = client_context(ca, None if tls13 else GCM, ["h2"])
        with anyio.fail_after(5):
            alpn, cipher, frames, compression = await h2_over(srv.port, context)
        assert alpn == "h2" and compression is None
        assert cipher == ("TLS_AES_256_GCM_SHA384" if tls13 else GCM)
        assert not [f for f in frames if isinstance(f, GoAwayFrame)]
        async with httpx.AsyncClient(verify=context, http2=True, timeout=5) as client:
            assert (await client.get(srv.url + "/")).text == "hello over 2"


def test_the_context_turns_compression_and_renegotiation_off(certs: Certs) -> None:  # noqa: F811
    _, settings = certs
    for http2 in (True, False):
        context = build_ssl_context(Config(app="x", **settings), http2=http2)
        assert context is not None
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.options & ssl.OP_NO_COMPRESSION
        assert context.options & ssl.OP_NO_RENEGOTIATION
        assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
        ("ECDHE-RSA-CHACHA20-POLY1305", True),
        ("DHE-RSA-AES256-GCM-SHA384", True),
        ("DHE-DSS-AES128-GCM-SHA256", True),
        ("ECDHE-ECDSA-AES128-CCM", True),
        ("DHE-PSK-AES128-GCM-SHA256", True),
        ("TLS_AES_128_GCM_SHA256", True),
        ("ECDHE-RSA-AES128-SHA256", False),  # CBC
        ("ECDHE-RSA-AES128-SHA", False),
        ("AES128-GCM-SHA256", False),  # RSA key exchange: not ephemeral
        ("AES128-SHA", False),
        ("ADH-AES128-GCM-SHA256", False),  # anonymous
        ("PSK-AES128-GCM-SHA256", False),
        ("RSA-PSK-AES128-GCM-SHA256", False),
    ],
)
def test_the_blocklist_rule_on_openssls_descriptions(name: str, allowed: bool) -> None:
    """RFC 9113 Appendix A in rule form: an ephemeral, authenticated key exchange and an
    AEAD cipher (TLS 1.3 suites all qualify)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:PSK:@SECLEVEL=0")
    found = {c["name"]: c for c in context.get_ciphers()}
    if name not in found:
        pytest.skip(f"this OpenSSL does not know {name}")
    assert h2_acceptable(found[name]) is allowed
