"""Apps for mixed serving: each answers with what it saw (its name, root/script path,
path), and the ASGI ones record their lifespan startup in STARTED."""

from __future__ import annotations

import json
from collections.abc import Iterable

from duoserve.types import Environ, Receive, Scope, Send, StartResponse

STARTED: list[str] = []


def _wsgi(name: str):  # type: ignore[no-untyped-def]
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = json.dumps(
            {
                "app": name,
                "script_name": environ["SCRIPT_NAME"],
                "path_info": environ["PATH_INFO"],
                "query": environ.get("QUERY_STRING", ""),
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


wsgi_main = _wsgi("wsgi-main")
wsgi_mount = _wsgi("wsgi-mount")


def _asgi(name: str):  # type: ignore[no-untyped-def]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    STARTED.append(name)
                    scope["state"][name] = True
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        seen = {
            "app": name,
            "root_path": scope.get("root_path", ""),
            "path": scope["path"],
            "state": sorted(scope.get("state", {})),
        }
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            seen["echo"] = message.get("text")
            await send({"type": "websocket.send", "text": json.dumps(seen)})
            await send({"type": "websocket.close", "code": 1000})
            return
        body = json.dumps(seen).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


asgi_ws = _asgi("asgi-ws")
asgi_mount = _asgi("asgi-mount")


async def asgi_failing(scope: Scope, receive: Receive, send: Send) -> None:
    """Fails its lifespan startup."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})


async def asgi_no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Does not speak lifespan (raises, as many apps do); serves HTTP."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope {scope['type']!r}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"no lifespan here"})
