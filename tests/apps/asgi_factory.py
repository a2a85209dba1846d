"""App factory: `create_app()` builds an ASGI 3 app (serve with --factory)."""

from __future__ import annotations

from duoserve.types import ASGIApp, Receive, Scope, Send


def create_app() -> ASGIApp:
    body = b"Hello from a factory!"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Raising is how an ASGI app says it has no lifespan support.
            raise RuntimeError(f"asgi_factory serves http only, not {scope['type']!r}")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
