"""A page with many assets (images, scripts, stylesheets) as an ASGI and a WSGI app, and the
access log read back: what tests/http2/test_browser.py and test_nghttp.py load over h2."""

from __future__ import annotations

import logging
import re
from typing import Any

IMAGES = SCRIPTS = STYLES = 20
ASSETS = IMAGES + SCRIPTS + STYLES

# The page reports what it saw once everything has loaded: images decoded, scripts run,
# stylesheets applied (each sizes one marker), and the protocols the browser used.
_REPORT = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].filter((i) => i.complete && i.naturalWidth > 0);
  const styled = [...document.querySelectorAll(".m")].filter(
    (m, i) => m.getBoundingClientRect().width === i + 1);
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  const protocols = [...new Set(entries.map((e) => e.nextHopProtocol))].sort();
  document.getElementById("result").textContent =
    `images=${images.length} scripts=${new Set(window.ran || []).size} ` +
    `styles=${styled.length} resources=${entries.length - 1} ` +
    `protocols=${protocols.join(",")}`;
});
</script>
"""


def page() -> bytes:
    head = "".join(f'<link rel="stylesheet" href="/css/{i}.css">' for i in range(STYLES))
    scripts = "".join(f'<script src="/js/{i}.js"></script>' for i in range(SCRIPTS))
    images = "".join(f'<img src="/img/{i}.svg" alt="">' for i in range(IMAGES))
    markers = "".join(f'<div class="m" id="m{i}"></div>' for i in range(STYLES))
    body = f'{images}{markers}{scripts}<pre id="result">loading</pre>{_REPORT}'
    html = f"<!doctype html><html><head><title>assets</title>{head}</head><body>{body}"
    return (html + "</body></html>").encode()


def asset(path: str) -> tuple[int, str, bytes]:
    """Status, content type and body for a path of the page."""
    if path == "/":
        return 200, "text/html; charset=utf-8", page()
    found = re.fullmatch(r"/(img|js|css)/(\d+)\.(svg|js|css)", path)
    if found is None:
        return 404, "text/plain", b"not found"
    kind, number = found[1], int(found[2])
    if kind == "img":
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{number + 1}" height="4"/>'
        return 200, "image/svg+xml", svg.encode()
    if kind == "js":
        return 200, "text/javascript", f"(window.ran = window.ran || []).push({number});".encode()
    rule = f"#m{number} {{ width: {number + 1}px; height: 1px; }}"
    return 200, "text/css", rule.encode()


async def asgi_page(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status, kind, body = asset(scope["path"])
    headers = [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wsgi_page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    status, kind, body = asset(environ["PATH_INFO"])
    reason = "OK" if status == 200 else "Not Found"
    start_response(f"{status} {reason}", [("Content-Type", kind), ("Cache-Control", "no-store")])
    return [body]


def every_path() -> set[str]:
    return (
        {"/"}
        | {f"/img/{i}.svg" for i in range(IMAGES)}
        | {f"/js/{i}.js" for i in range(SCRIPTS)}
        | {f"/css/{i}.css" for i in range(STYLES)}
    )


_LINE = re.compile(r'^(\S+) - "GET (\S+) HTTP/(\S+)" (\d+) ')


def served(records: list[logging.LogRecord]) -> tuple[dict[str, set[str]], set[str], set[str]]:
    """From access log lines: the HTTP versions each path was served with (status 200),
    the connections (client address and port) used, and paths answered otherwise."""
    versions: dict[str, set[str]] = {}
    clients: set[str] = set()
    failed: set[str] = set()
    for record in records:
        match = _LINE.match(record.getMessage())
        if match is None:
            continue
        client, path, version, status = match.groups()
        clients.add(client)
        if status == "200":
            versions.setdefault(path, set()).add(version)
        else:
            failed.add(path)
    return versions, clients, failed
