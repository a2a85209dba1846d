"""A test client for WebSocket over HTTP/2 (RFC 8441): the h2 package as the client of one
connection, each extended CONNECT stream framed by wsproto's framing-only Connection.

One task drives it: every wait pumps the socket (`until`), so several WebSockets and plain
requests can be interleaved on the one connection. Flow control is the client's own: DATA
is acknowledged only when a test takes it (`WS.events`, `Response.body`), so a test that
does not read keeps the server's window closed."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Event, Message
from wsproto.extensions import Extension, PerMessageDeflate

Fields = list[tuple[bytes, bytes]]


class _Connection(h2.connection.H2Connection):
    """h2's connection, which ends at any GOAWAY it receives; here a GOAWAY(NO_ERROR) lets
    the streams it took go on, as RFC 9113 §6.8 has it (a graceful stop's first GOAWAY
    names stream 2^31-1, and a PING follows it)."""

    def _receive_goaway_frame(self, frame: Any) -> Any:
        state = self.state_machine.state
        answer = super()._receive_goaway_frame(frame)
        if frame.error_code == 0:
            self.state_machine.state = state
        return answer


@dataclass
class Stream:
    """What arrived on one stream so far."""

    sid: int
    headers: Fields = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    frames: list[bytes] = field(default_factory=list)  # each DATA frame's payload
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> int:
        return int(dict(self.headers).get(b":status", b"0"))

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


class H2Client:
    """One HTTP/2 client connection over a byte stream (cleartext or TLS)."""

    def __init__(self, stream: anyio.abc.ByteStream, authority: bytes, scheme: bytes) -> None:
        self.sock = stream
        self.authority = authority
        self.scheme = scheme
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False
        )
        self.conn = _Connection(config)
        self.streams: dict[int, Stream] = {}
        self.server_settings: dict[int, int] = {}
        self.closed = False
        self.goaway: int | None = None  # the last GOAWAY's error code
        self.goaways: list[tuple[int, int]] = []  # each GOAWAY's error code, last stream id

    async def start(self) -> None:
        self.conn.initiate_connection()
        await self.flush()
        await self.until(lambda: bool(self.server_settings))

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            await self.sock.send(data)

    async def pump(self) -> None:
        """Read once from the socket and record what it brings."""
        try:
            data = await self.sock.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError):
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            sid = getattr(event, "stream_id", 0)
            stream = self.streams.get(sid)
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.server_settings[int(code)] = change.new_value
            elif isinstance(
                event, h2.events.ResponseReceived | h2.events.InformationalResponseReceived
            ):
                assert stream is not None
                stream.headers = list(event.headers)  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                assert stream is not None
                stream.data += event.data or b""
                stream.frames.append(event.data or b"")
                padding = (event.flow_controlled_length or 0) - len(event.data or b"")
                if padding:
                    self.conn.acknowledge_received_data(padding, sid)
            elif isinstance(event, h2.events.StreamEnded):
                assert stream is not None
                stream.ended = True
            elif isinstance(event, h2.events.StreamReset):
                if stream is not None:
                    stream.reset = int(event.error_code or 0)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = int(event.error_code or 0)
                self.goaways.append((self.goaway, int(event.last_stream_id or 0)))
        await self.flush()

    async def until(self, done: Callable[[], bool], timeout: float = 10) -> None:
        with anyio.fail_after(timeout):
            while not done():
                if self.closed:
                    raise AssertionError("the server closed the connection")
                await self.flush()  # what done() acknowledged, before waiting
                with anyio.move_on_after(0.05):  # done() may wait on the app, not on us
                    await self.pump()

    def take(self, stream: Stream) -> bytes:
        """The stream's received bytes, their credit given back."""
        data = bytes(stream.data)
        stream.data.clear()
        if data:
            self.conn.acknowledge_received_data(len(data), stream.sid)
        return data

    # -- requests ----------------------------------------------------------------------
    async def request(
        self, method: bytes, path: bytes, extra: Iterable[tuple[bytes, bytes]] = (), **pseudo: bytes
    ) -> Stream:
        sid = self.conn.get_next_available_stream_id()
        fields: Fields = [(b":method", method)]
        if method != b"CONNECT" or pseudo.get("protocol"):
            fields += [(b":scheme", self.scheme), (b":path", path)]
        fields.append((b":authority", self.authority))
        if "protocol" in pseudo:
            fields.insert(1, (b":protocol", pseudo["protocol"]))
        fields += list(extra)
        stream = self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, fields, end_stream=method in (b"GET", b"HEAD"))
        await self.flush()
        return stream

    async def get(self, path: bytes) -> Stream:
        stream = await self.request(b"GET", path)
        await self.until(lambda: stream.ended or stream.reset is not None)
        self.take(stream)
        await self.flush()
        return stream

    async def send_data(self, sid: int, data: bytes, end: bool = False) -> None:
        """As the windows allow, waiting for the server's WINDOW_UPDATEs."""
        view = memoryview(data)
        while True:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            chunk, view = view[:room], view[room:]
            last = end and not view
            if chunk or last:
                self.conn.send_data(sid, bytes(chunk), end_stream=last)
                await self.flush()
            if not view:
                return
            if not room:
                await self.pump()
                if self.streams[sid].reset is not None:
                    raise AssertionError(f"stream reset: {self.streams[sid].reset}")

    async def websocket(
        self,
        path: bytes,
        *,
        subprotocols: Iterable[bytes] = (),
        deflate: bool = False,
        extra: Iterable[tuple[bytes, bytes]] = (),
        version: bytes = b"13",
    ) -> WS:
        """An extended CONNECT for a WebSocket; the answer is awaited (WS.stream)."""
        fields: Fields = [(b"sec-websocket-version", version)]
        protocols = b", ".join(subprotocols)
        if protocols:
            fields.append((b"sec-websocket-protocol", protocols))
        if deflate:
            fields.append((b"sec-websocket-extensions", b"permessage-deflate"))
        stream = await self.request(b"CONNECT", path, [*fields, *extra], protocol=b"websocket")
        await self.until(lambda: bool(stream.headers) or stream.reset is not None)
        extensions: list[Extension] = []
        accepted = stream.header(b"sec-websocket-extensions")
        if accepted is not None:
            deflater = PerMessageDeflate()
            deflater.finalize(accepted.decode())
            extensions.append(deflater)
        return WS(self, stream, extensions)


class WS:
    """wsproto's client framing over one stream."""

    def __init__(self, client: H2Client, stream: Stream, extensions: list[Extension]) -> None:
        self.client = client
        self.stream = stream
        self.ws = Connection(ConnectionType.CLIENT, extensions)
        self.pending: list[Event] = []
        self.partial: list[Message[Any]] = []

    async def send(self, event: Any, end: bool = False) -> None:
        await self.client.send_data(self.stream.sid, self.ws.send(event), end)

    async def next(self, timeout: float = 10) -> Event:
        """The next WebSocket event from the server (its DATA acknowledged as parsed)."""
        client = self.client

        def ready() -> bool:
            data = client.take(self.stream)
            if data:
                self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Message):  # wsproto hands over a message in parts
                    self.partial.append(event)
                    if not event.message_finished:
                        continue
                    parts, self.partial = self.partial, []
                    joined: Any = type(parts[0].data)().join(p.data for p in parts)
                    event = type(event)(data=joined)
                self.pending.append(event)
            return bool(self.pending) or self.stream.ended or self.stream.reset is not None

        await client.until(ready, timeout)
        await client.flush()
        if not self.pending:
            raise AssertionError(f"no event: ended={self.stream.ended} reset={self.stream.reset}")
        return self.pending.pop(0)


def client_context(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["h2"])
    return context


async def open_client(
    host: str, port: int, *, tls: ssl.SSLContext | None = None
) -> tuple[anyio.abc.ByteStream, H2Client]:
    sock: anyio.abc.ByteStream
    if tls is None:
        sock = await anyio.connect_tcp(host, port)
    else:
        sock = await anyio.connect_tcp(
            host, port, ssl_context=tls, tls_hostname=host, tls_standard_compatible=False
        )
    client = H2Client(sock, f"{host}:{port}".encode(), b"https" if tls else b"http")
    await client.start()
    return sock, client


ENABLE_CONNECT_PROTOCOL = int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
