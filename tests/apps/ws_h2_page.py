"""A page that opens a WebSocket to its own origin and shows the echo and the protocol the
server saw, for the browser test of WebSocket over HTTP/2 (tests/http2)."""

from __future__ import annotations

from typing import Any

PAGE = b"""<!doctype html><title>waiting</title><script>
fetch("/warm").then(() => {
  const ws = new WebSocket("wss://" + location.host + "/ws?from=page");
  let version = "";
  ws.onmessage = (event) => {
    if (!version) { version = event.data; ws.send("ping over " + version); return; }
    document.title = "done " + version + " " + event.data;
    ws.close(1000, "bye");
  };
  ws.onerror = () => { document.title = "error"; };
});
</script>"""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        body = PAGE if scope["path"] == "/" else b"warm " + scope["http_version"].encode()
        kind = b"text/html" if scope["path"] == "/" else b"text/plain"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]}
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["http_version"]})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
