"""ASGI 2 hello world: a class taking the scope whose instances are called with (receive, send)."""

from __future__ import annotations

from duoserve.types import Receive, Scope, Send

BODY = b"Hello, world!"


class App:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] != "http":
            raise RuntimeError(f"asgi2_hello serves http only, not {self.scope['type']!r}")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": BODY})


app = App
