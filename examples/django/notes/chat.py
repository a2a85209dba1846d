"""A WebSocket chat room as a plain ASGI app (no framework): every message a client sends
is broadcast to everyone connected to this process."""

import json

MAX_CLIENTS = 200
MAX_TEXT = 2000


class Room:
    """Members are the `send` callables of connected sockets. One process, one room: with
    several workers, use a shared channel (Redis pub/sub, PostgreSQL LISTEN) instead."""

    def __init__(self):
        self.members = set()

    async def broadcast(self, payload):
        text = json.dumps(payload)
        for send in list(self.members):
            try:
                await send({"type": "websocket.send", "text": text})
            except Exception:
                self.members.discard(send)  # it disconnected meanwhile


room = Room()


async def chat(scope, receive, send):
    if scope["path"] != "/ws/chat/":
        await receive()
        await send({"type": "websocket.close", "code": 4404})  # before accept: HTTP 403
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if len(room.members) >= MAX_CLIENTS:
        await send({"type": "websocket.close", "code": 1013})
        return
    await send({"type": "websocket.accept"})
    room.members.add(send)
    try:
        await room.broadcast({"system": f"{len(room.members)} connected"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                continue  # binary frames are ignored
            try:
                data = json.loads(text)
                name, body = str(data.get("name", "anonymous"))[:40], str(data["text"])
            except (ValueError, KeyError, AttributeError):
                name, body = "anonymous", text
            await room.broadcast({"name": name, "text": body[:MAX_TEXT]})
    finally:
        room.members.discard(send)
