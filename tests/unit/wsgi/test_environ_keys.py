"""Header names become environ keys once and are remembered, within a bound: past it
they are still converted (and underscored names still dropped) every time."""

from __future__ import annotations

import io

from duoserve.wsgi.environ import KEYS_MAX, build_environ, environ_keys


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "http_version": "1.1",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }


def test_header_names_past_the_remembered_bound_are_still_converted() -> None:
    names = [b"x-name-%d" % n for n in range(KEYS_MAX + 100)]
    keys = environ_keys()
    headers = [(name, b"v") for name in names] + [(b"x_user", b"mallory"), (b"x-user", b"alice")]
    for _ in range(2):  # first converted, then (as far as the bound allows) remembered
        environ = build_environ(_scope(headers), io.BytesIO(), None, multiprocess=False, keys=keys)
        assert all(environ[f"HTTP_X_NAME_{n}"] == "v" for n in range(len(names)))
        assert environ["HTTP_X_USER"] == "alice"
        assert environ["SERVER_PORT"] == "8000"
    assert len(keys) == KEYS_MAX
