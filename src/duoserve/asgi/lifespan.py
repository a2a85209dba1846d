"""ASGI lifespan: run the app's startup and shutdown, share its state, bound every wait."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..config.settings import LifespanMode
from ..errors import StartupError
from ..types import ASGIApp, Message

log = logging.getLogger("duoserve.error")


class Lifespan:
    """Drives one app's lifespan protocol inside a task group that outlives the server.

    In 'auto' mode an app that raises before answering (it does not speak lifespan) is
    served anyway; in 'on' mode that is a startup failure."""

    def __init__(
        self, app: ASGIApp, mode: LifespanMode, timeout: float, state: dict[str, Any]
    ) -> None:
        self.app = app
        self.mode = mode
        self.timeout = timeout
        self.state = state
        self.supported = False
        self._to_app: tuple[MemoryObjectSendStream[Message], MemoryObjectReceiveStream[Message]]
        self._from_app: tuple[MemoryObjectSendStream[Message], MemoryObjectReceiveStream[Message]]
        self._app_done = anyio.Event()
        self._app_error: BaseException | None = None

    async def startup(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the app's lifespan task and wait for startup; raises StartupError."""
        if self.mode == "off":
            return
        self._to_app = anyio.create_memory_object_stream[Message](1)
        self._from_app = anyio.create_memory_object_stream[Message](1)
        tg.start_soon(self._run_app)
        reply = await self._exchange({"type": "lifespan.startup"}, "startup")
        if reply is None:
            return
        if reply["type"] == "lifespan.startup.failed":
            message = reply.get("message", "") or "no message"
            raise StartupError(f"application startup failed: {message}")
        self.supported = True

    async def shutdown(self) -> None:
        if not self.supported:
            return
        reply = await self._exchange({"type": "lifespan.shutdown"}, "shutdown")
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log.error("application shutdown failed: %s", reply.get("message", ""))

    def close(self) -> None:
        """Release the message streams (the app's lifespan task has returned or is gone)."""
        if self.mode != "off":
            for stream in (*self._to_app, *self._from_app):
                stream.close()

    async def _exchange(self, message: Message, phase: str) -> Message | None:
        """Send one event; wait for the app's answer, its exit, or the timeout."""
        send_to_app, _ = self._to_app
        _, receive_from_app = self._from_app
        reply: Message | None = None
        with anyio.move_on_after(self.timeout) as scope:
            if not self._app_done.is_set():
                await send_to_app.send(message)
            async with anyio.create_task_group() as tg:

                async def wait_reply() -> None:
                    nonlocal reply
                    with contextlib.suppress(anyio.EndOfStream):
                        reply = await receive_from_app.receive()
                    tg.cancel_scope.cancel()

                async def wait_exit() -> None:
                    await self._app_done.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(wait_reply)
                tg.start_soon(wait_exit)
        if scope.cancelled_caught:
            raise StartupError(f"application {phase} did not complete in {self.timeout:g}s")
        if reply is not None:
            expected = (f"lifespan.{phase}.complete", f"lifespan.{phase}.failed")
            if reply["type"] in expected:
                return reply
            if self.mode == "on" or self.supported:
                raise StartupError(f"unexpected lifespan message {reply['type']!r}")
            log.warning(
                "the app answered lifespan.%s with %r; treating lifespan as unsupported",
                phase,
                reply["type"],
            )
            return None
        # The app returned or raised without answering.
        if self._app_error is not None and (self.mode == "on" or self.supported):
            hint = "" if self.supported else " (with --lifespan on the app must support lifespan)"
            raise StartupError(f"application {phase} raised {self._app_error!r}{hint}")
        if self.mode == "on" and phase == "startup":
            raise StartupError(
                "the app returned without answering lifespan startup "
                "(with --lifespan on the app must support lifespan)"
            )
        if phase == "startup":
            log.info("lifespan not supported by the application; continuing without it")
        return None

    async def _run_app(self) -> None:
        _, receive_stream = self._to_app
        send_stream, _ = self._from_app
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }

        async def receive() -> Message:
            return await receive_stream.receive()

        async def send(message: Message) -> None:
            await send_stream.send(message)

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self._app_error = exc
            if self.mode == "on" or self.supported:
                log.exception("Exception in 'lifespan' protocol")
            else:
                log.debug("lifespan unsupported by the app: %r", exc)
        finally:
            self._app_done.set()
            send_stream.close()
