"""WebSocket over wsproto: handshake checks and the ASGI websocket session."""
