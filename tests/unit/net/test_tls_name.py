"""The RFC 4514 client certificate name of the ASGI tls extension, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from duoserve.net.tls import subject_name


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ((), None),
        (((("countryName", "US"),), (("commonName", "alice"),)), "CN=alice,C=US"),
        (((("organizationName", "A, B+C"),),), "O=A\\, B\\+C"),
        (((("commonName", " x "),),), "CN=\\ x\\ "),
        (((("commonName", "a"), ("userId", "7")),), "CN=a+UID=7"),
    ],
)
def test_client_cert_name_is_rfc4514(subject: tuple[Any, ...], expected: str | None) -> None:
    assert subject_name({"subject": subject} if subject else {}) == expected
