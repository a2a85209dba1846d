"""A WebSocket session's reader: frames parsed in the read callback or the reader task."""

from __future__ import annotations

from typing import Any, cast

import anyio
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage

from ..errors import ClientDisconnected
from ..net.transports import LeanStream
from ..net.wakeup import Wakeup
from ..types import Message as ASGIMessage
from .frames import BINARY, LARGEST, frame_at, still_fragmented, unmask
from .messages import MessageTooBig
from .state import ABNORMAL, READ_SIZE, STREAM_ERRORS, Phase
from .writing import SessionWriter


class SessionReader(SessionWriter):
    """The session's input: the reader task, and on the lean stream the read callback that
    queues whole messages for the app by itself; pings answered, the peer's close handled."""

    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            with self._read_scope:
                while True:
                    stash = self._stash
                    if stash:
                        self._stash = []
                        for event in stash:
                            await self._on_event(event)
                            if self._phase is Phase.CLOSED:
                                return
                    for event in ws.events():
                        await self._on_event(event)
                        if self._phase is Phase.CLOSED:
                            return
                    if self._hooked and self._phase is Phase.OPEN and not self._eof:
                        await self._hooked_wait()
                        continue
                    if self._plain_in:  # read without the hook from now on: all to wsproto
                        self._to_wsproto()
                        continue
                    data = await self._recv()
                    self._eof = not data
                    ws.receive_data(data or None)  # None: wsproto reports 1006
        except ClientDisconnected:
            return
        # The read deadline passed: the peer never answered our close frame.
        self._conclude(ABNORMAL, "close handshake timed out")

    async def _hooked_wait(self) -> None:
        """Wait while the read callback (_on_bytes) parses frames and queues whole
        messages for the app by itself; it wakes this task for anything else."""
        self._work = work = Wakeup()
        stream = cast(LeanStream, self._stream)
        self._hook_on = True
        stream.set_data_hook(self._on_bytes)  # what is buffered comes first
        if self._hook_on and self._pending:  # and complete frames left from the last time
            pending, self._pending = self._pending, b""
            self._take_frames(pending)
        try:
            await work.wait()
        finally:
            self._hook_on = False
            stream.set_data_hook(None)
            self._work = None

    def _on_bytes(self, data: bytes) -> None:
        """In the event loop's read callback: parse frames and hand whole messages to the
        inbox while it has room. The first event that needs more (a fragment, a control
        frame, a full inbox, the end of the input) is left for the reader task, which is
        woken; the hook is unset meanwhile, so what follows is buffered and bounded."""
        ws = self._ws
        assert ws is not None
        if not data:
            self._eof = True
            if self._pending:
                self._to_wsproto()
            ws.receive_data(None)  # wsproto reports 1006
            self._take_events(eof=True)
        elif self._plain_in:
            if self._owed:
                owed = self._owed
                ws.receive_data(data[:owed])
                self._owed = max(0, owed - len(data))
                data = data[owed:]
                if not self._take_events():
                    self._pending = data
                    return
                if not data:
                    return
            elif self._pending:
                data = self._pending + data
                self._pending = b""
            self._take_frames(data)
        else:
            ws.receive_data(data)
            self._take_events()

    def _take_frames(self, data: bytes) -> None:
        """_on_bytes() with no extension: a plain frame (frames.py) becomes a message here;
        any other frame goes to wsproto whole, and its events are taken as _take_events()
        takes them. A frame not complete yet waits in `_pending`, up to one of LARGEST; a
        longer one goes to wsproto as it arrives (`_owed`), and the next frame is ours."""
        ws = self._ws
        assert ws is not None
        inbox = self._inbox
        plain_size = self._plain_size
        pos = 0
        size = len(data)
        while pos < size:
            frame = frame_at(data, pos, plain_size)
            if frame is None or frame.end > size:
                if frame is not None and frame.end - pos > LARGEST + 14:
                    self._fragmented = still_fragmented(frame.first, self._fragmented)
                    ws.receive_data(data[pos:])
                    self._owed = frame.end - size
                    self._take_events()
                else:
                    self._pending = data[pos:]
                return
            first, plain, start, end = frame
            if plain and not self._fragmented and self._phase is Phase.OPEN:
                payload = unmask(data, start, end)
                text: str | None = None
                if first == BINARY:
                    message: ASGIMessage = {
                        "type": "websocket.receive",
                        "bytes": payload,
                        "text": None,
                    }
                else:
                    try:
                        text = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        message = {}  # wsproto fails the connection with 1007
                    else:
                        message = {"type": "websocket.receive", "bytes": None, "text": text}
                if message:
                    pos = end
                    if not inbox.closed and inbox.put_nowait(message):
                        continue
                    # The reader task waits for room to deliver it.
                    event = BytesMessage(payload) if text is None else TextMessage(text)
                    self._stash.append(event)
                    self._pending = data[pos:]
                    self._stop_hook()
                    return
            self._fragmented = still_fragmented(first, self._fragmented)
            ws.receive_data(data[pos:end])
            pos = end
            if not self._take_events():
                self._pending = data[pos:]
                return

    def _take_events(self, eof: bool = False) -> bool:
        """Hand wsproto's whole messages to the inbox while it has room; True when all
        were taken (and it is not the end of the input). Otherwise the event that needs
        more is stashed for the reader task, which is woken (_stop_hook)."""
        ws = self._ws
        assert ws is not None
        inbox = self._inbox
        whole = self._reassembler.whole
        for event in ws.events():
            kind = type(event)
            if (kind is BytesMessage or kind is TextMessage) and self._phase is Phase.OPEN:
                message = whole(event)  # type: ignore[arg-type]
                if message is not None and not inbox.closed and inbox.put_nowait(message):
                    continue
            self._stash.append(event)
            break
        else:
            if not eof:
                return True
        self._stop_hook()
        return False

    def _stop_hook(self) -> None:
        """Reading in the callback stops: the reader task takes over (woken)."""
        self._hook_on = False
        cast(LeanStream, self._stream).set_data_hook(None)
        if self._work is not None:
            self._work.set()

    def _to_wsproto(self) -> None:
        """What waits in `_pending` goes to wsproto, and so does all input from now on
        (wsproto may now hold part of a frame)."""
        ws = self._ws
        assert ws is not None
        self._plain_in = False
        pending, self._pending = self._pending, b""
        if pending:
            ws.receive_data(pending)

    async def _recv(self) -> bytes:
        try:
            return await self._stream.receive(READ_SIZE)
        except (anyio.EndOfStream, *STREAM_ERRORS):
            return b""

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, (TextMessage, BytesMessage)):
            await self._on_data(event)
        elif isinstance(event, Ping):
            await self._send_event(event.response())
        elif isinstance(event, Pong):
            if self._pong is not None:
                self._pong.set()
        elif isinstance(event, CloseConnection):
            await self._on_close(event)

    async def _on_close(self, event: CloseConnection) -> None:
        ws = self._ws
        assert ws is not None
        reason = event.reason or ""
        if self._eof:
            self._conclude(ABNORMAL, "")
        elif ws.state is ConnectionState.REMOTE_CLOSING:  # the peer starts the handshake
            self._phase = Phase.CLOSING
            await self._send_event(event.response())
            self._conclude(event.code, reason)
        elif ws.state is ConnectionState.CLOSED:  # the peer answers our close frame
            self._conclude(event.code, reason)
        else:  # wsproto could not parse the input: 1002, 1007, or 1009 from deflate
            await self._fail(event.code, reason, report=event.code)

    async def _on_data(self, event: Message[Any]) -> None:
        if self._phase is not Phase.OPEN:
            return  # closing: no more messages for the app
        try:
            message = self._reassembler.feed(event)
        except MessageTooBig:
            # Fail rather than close: the client may be inside a huge frame and could not
            # answer with a close frame before finishing it.
            await self._fail(1009, "message too big", report=1009)
            return
        if message is not None:
            await self._deliver(message)

    async def _deliver(self, message: ASGIMessage) -> None:
        try:
            if self._inbox.put_nowait(message):
                return
        except anyio.ClosedResourceError:
            return
        with anyio.CancelScope() as scope:
            self._delivery = scope  # cancelled when we start closing: the app may not read
            try:
                await self._inbox.put(message)
            except anyio.ClosedResourceError:
                pass
            finally:
                self._delivery = None
