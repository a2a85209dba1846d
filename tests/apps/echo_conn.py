"""Apps that answer with what they were told about the connection, as JSON (ASGI and WSGI)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

WSGI_KEYS = (
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "PATH_INFO",
)


async def asgi_conn(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    headers = dict(scope["headers"])
    facts = {
        "client": scope["client"],
        "scheme": scope["scheme"],
        "server": scope["server"],
        "root_path": scope["root_path"],
        "path": scope["path"],
        "host": headers.get(b"host", b"").decode("latin-1"),
        "tls": scope["extensions"].get("tls"),
    }
    body = json.dumps(facts).encode()
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": body.decode()})
        await send({"type": "websocket.close"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_conn(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = json.dumps({key: environ.get(key) for key in WSGI_KEYS}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
