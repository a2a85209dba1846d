"""ASGI entry point: `duoserve mysite.asgi:application`.

A tiny router, no extra framework: WebSocket connections go to the chat consumer,
lifespan is answered here, everything else goes to Django's own ASGI handler. In mixed
mode (`duoserve mysite.wsgi:application --ws-app mysite.asgi:application`) only the
WebSocket connections and the lifespan reach this module."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

django_application = get_asgi_application()  # sets Django up before the imports below

from notes.chat import chat  # noqa: E402


async def lifespan(receive, send):
    """Django's handler refuses lifespan; answering it keeps `--lifespan on` usable."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        await chat(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await django_application(scope, receive, send)
