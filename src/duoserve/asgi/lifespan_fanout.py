"""One lifespan, several apps: the router passes startup and shutdown to each ASGI app."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("duoserve.error")

# Seconds the apps get to return after their shutdown was acknowledged.
_EXIT_GRACE = 1.0


class _Child:
    """One app's lifespan task and its two one-slot channels. An app that returns or
    raises without answering does not support lifespan and is skipped from then on."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.app = app
        self.scope = scope
        self.alive = True
        self.done = anyio.Event()
        self._to_app: tuple[MemoryObjectSendStream[Message], MemoryObjectReceiveStream[Message]]
        self._from_app: tuple[MemoryObjectSendStream[Message], MemoryObjectReceiveStream[Message]]
        self._to_app = anyio.create_memory_object_stream[Message](1)
        self._from_app = anyio.create_memory_object_stream[Message](1)

    async def run(self) -> None:
        send_stream, _ = self._from_app
        _, receive_stream = self._to_app
        try:
            await self.app(dict(self.scope), receive_stream.receive, send_stream.send)
        except Exception as exc:
            log.debug("lifespan unsupported by %r: %r", self.app, exc)
        finally:
            send_stream.close()
            receive_stream.close()
            self.done.set()

    async def exchange(self, message: Message) -> Message | None:
        if not self.alive:
            return None
        send_stream, _ = self._to_app
        _, receive_stream = self._from_app
        try:
            await send_stream.send(message)
            return await receive_stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.alive = False
            return None

    def close(self) -> None:
        for stream in (*self._to_app, *self._from_app):
            stream.close()


async def fan_out_lifespan(
    apps: Sequence[ASGIApp], scope: Scope, receive: Receive, send: Send
) -> None:
    """Startup runs in order, shutdown in reverse; any failure fails the phase for all.
    The server's own lifespan timeouts bound every wait here (they cancel this task)."""
    if len(apps) == 1:
        await apps[0](scope, receive, send)
        return
    children = [_Child(app, scope) for app in apps]
    async with anyio.create_task_group() as tg:
        for child in children:
            tg.start_soon(child.run)
        finished = False
        for phase, order in (("startup", children), ("shutdown", children[::-1])):
            message = await receive()
            if message["type"] != f"lifespan.{phase}":
                break
            failures: list[str] = []
            for child in order:
                reply = await child.exchange(message)
                if reply is not None and reply["type"] == f"lifespan.{phase}.failed":
                    failures.append(reply.get("message", "") or "no message")
            if failures:
                await send({"type": f"lifespan.{phase}.failed", "message": "; ".join(failures)})
                break
            await send({"type": f"lifespan.{phase}.complete"})
            finished = phase == "shutdown"
        if finished:  # the apps return on their own after a clean shutdown
            with anyio.move_on_after(_EXIT_GRACE):
                for child in children:
                    await child.done.wait()
        tg.cancel_scope.cancel()
    for child in children:
        child.close()
