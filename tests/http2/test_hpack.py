"""HPACK dynamic table sizes end to end (RFC 7541 §4.2, §6.3; RFC 9113 §4.3.1, §6.5.2): raw
frames from a client whose encoder and decoder are plain `hpack`, over a real socket."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import pytest

pytest.importorskip("h2")
from hpack import Decoder, Encoder
from hpack.hpack import decode_integer, encode_integer
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, SettingsFrame

from duoserve.http2.events import ErrorCode
from duoserve.http2.preface import PREFACE
from tests.conftest import running_server
from tests.http2.rawh2 import CLOSED, REQUEST, headers_frame, next_frame
from tests.http2.test_attacks import still_serves

pytestmark = pytest.mark.anyio
HEADER_TABLE_SIZE = SettingsFrame.HEADER_TABLE_SIZE


async def varied(scope: Any, receive: Any, send: Any) -> None:
    """Response fields worth indexing: one repeated on every response, one per path, and
    a large one that differs each time (it pushes older entries out of small tables)."""
    if scope["type"] != "http":
        return
    path = scope["path"].encode()
    headers = [
        (b"x-same", b"always-the-same-value"),
        (b"x-path", path),
        (b"x-big", path * (900 // len(path))),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


def size_update(size: int) -> bytes:
    """RFC 7541 §6.3: a Dynamic Table Size Update instruction."""
    encoded = encode_integer(size, 5)
    encoded[0] |= 0x20
    return bytes(encoded)


def request(sid: int, block: bytes) -> bytes:
    return headers_frame(sid, block)


def settings(table: int) -> bytes:
    frame = SettingsFrame(0)
    frame.settings = {HEADER_TABLE_SIZE: table}
    return frame.serialize()


def ack() -> bytes:
    return SettingsFrame(0, flags=["ACK"]).serialize()


class RawClient:
    """One HTTP/2 connection driven frame by frame."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.pending = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def frames_until(self, done: Any, timeout: float = 5) -> list[Frame]:
        """Frames received until `done(frame)` is true for one (or the server closes)."""
        got: list[Frame] = []
        with anyio.fail_after(timeout):
            while True:
                frame, self.pending = next_frame(self.pending)
                while frame is not None:
                    got.append(frame)
                    if done(frame):
                        return got
                    frame, self.pending = next_frame(self.pending)
                try:
                    self.pending += await self.stream.receive()
                except CLOSED:
                    return got

    async def response_block(self, sid: int) -> bytes:
        frames = await self.frames_until(lambda f: isinstance(f, HeadersFrame | GoAwayFrame))
        heads = [f for f in frames if isinstance(f, HeadersFrame)]
        assert heads and heads[0].stream_id == sid, frames
        assert "END_HEADERS" in heads[0].flags
        return bytes(heads[0].data)

    async def goaway(self) -> int:
        frames = await self.frames_until(lambda f: isinstance(f, GoAwayFrame))
        codes = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
        assert codes, frames
        return codes[-1]


@pytest.mark.parametrize("size", [0, 256, 1024])
async def test_a_smaller_client_table_gets_a_size_update_first(size: int) -> None:
    async with running_server(varied) as srv, await srv.connect() as stream:
        client, enc = RawClient(stream), Encoder()
        await client.send(PREFACE + settings(table=size))
        await client.frames_until(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
        await client.send(ack())
        dec = Decoder()  # 4,096 until our SETTINGS are acknowledged, then `size`
        dec.max_allowed_table_size = size
        for number, sid in enumerate(range(1, 12, 2)):
            await client.send(request(sid, enc.encode([*REQUEST[:3], (b":path", b"/p%d" % sid)])))
            block = await client.response_block(sid)
            if number == 0:  # RFC 7541 §4.2: signalled at the start of the next block
                assert block[0] & 0xE0 == 0x20, block.hex()
            else:
                assert block[0] & 0xE0 != 0x20, block.hex()  # once is enough
            # The decoder raises if the table is left above `size` after a block.
            fields = dict(dec.decode(block, raw=True))
            assert fields[b":status"] == b"200"
            assert fields[b"x-same"] == b"always-the-same-value"
            assert fields[b"x-path"] == b"/p%d" % sid
            assert fields[b"x-big"].startswith(b"/p%d" % sid)
            assert dec.header_table_size <= size
            assert dec.header_table._current_size <= size


async def test_the_same_size_twice_still_signals_and_a_rise_after_a_dip_both() -> None:
    """Two SETTINGS before the next block: the smallest size and the final one are both
    signalled (RFC 7541 §4.2), and a repeated value is not lost."""
    async with running_server(varied) as srv:
        for sizes, expected in (((0, 0), [0]), ((0, 2048), [0, 2048])):
            async with await srv.connect() as stream:
                client = RawClient(stream)
                frames = settings(table=sizes[0]) + settings(table=sizes[1])
                await client.send(PREFACE + frames + request(1, Encoder().encode(REQUEST)))
                block = await client.response_block(1)
                updates, rest = [], block
                while rest and rest[0] & 0xE0 == 0x20:
                    value, consumed = decode_integer(rest, 5)
                    updates.append(value)
                    rest = rest[consumed:]
                assert updates == expected, block.hex()


async def test_a_larger_client_table_is_not_used_past_our_own_bound() -> None:
    """A client allowing 64 KiB does not make the server's encoder keep more than
    --h2-header-table-size: no size update is sent, the table stays at 4,096."""
    async with running_server(varied) as srv, await srv.connect() as stream:
        client, enc, dec = RawClient(stream), Encoder(), Decoder()
        dec.max_allowed_table_size = 65_536
        await client.send(PREFACE + settings(table=65_536))
        for sid in range(1, 40, 2):
            await client.send(request(sid, enc.encode([*REQUEST[:3], (b":path", b"/p%d" % sid)])))
            block = await client.response_block(sid)
            assert block[0] & 0xE0 != 0x20, block.hex()
            assert dict(dec.decode(block, raw=True))[b"x-path"] == b"/p%d" % sid
        assert dec.header_table_size == 4096
        assert dec.header_table._current_size <= 4096


async def test_a_size_update_above_our_setting_is_a_compression_error() -> None:
    async with running_server(varied) as srv:
        async with await srv.connect() as stream:
            client = RawClient(stream)
            block = size_update(8192) + Encoder().encode(REQUEST)
            await client.send(PREFACE + settings(table=4096) + request(1, block))
            assert await client.goaway() == ErrorCode.COMPRESSION_ERROR
        await still_serves(srv)


async def test_an_encoder_filling_a_larger_table_unannounced_is_a_compression_error() -> None:
    """The client's encoder behaves as if our table held 8 KiB without saying so: an entry
    we evicted is referenced, which is an invalid index (RFC 7541 §2.3.3)."""
    async with running_server(varied) as srv:
        async with await srv.connect() as stream:
            client, enc = RawClient(stream), Encoder()
            enc.header_table_size = 8192
            enc.encode([])  # its size update, which the server is not shown
            blocks = [enc.encode([*REQUEST, (b"x-fill", bytes([65 + i]) * 1500)]) for i in range(4)]
            again = enc.encode([*REQUEST, (b"x-fill", b"A" * 1500)])  # an index only 8 KiB keeps
            assert len(again) < 50
            payload = b"".join(request(1 + 2 * i, b) for i, b in enumerate([*blocks, again]))
            await client.send(PREFACE + settings(table=4096) + payload)
            assert await client.goaway() == ErrorCode.COMPRESSION_ERROR
        await still_serves(srv)


async def test_a_smaller_server_table_before_and_after_the_settings_ack() -> None:
    """--h2-header-table-size 256: a request sent with the preface (before the client has
    seen our SETTINGS) uses the default 4,096 and is served; after the client acknowledges
    them its next block must start with an update to 256 or less (RFC 9113 §4.3.1)."""
    async with running_server(varied, h2_header_table_size=256) as srv:
        for conformant in (True, False):
            async with await srv.connect() as stream:
                client, enc = RawClient(stream), Encoder()
                await client.send(PREFACE + settings(table=4096) + request(1, enc.encode(REQUEST)))
                frames = await client.frames_until(lambda f: isinstance(f, HeadersFrame))
                local = [f for f in frames if isinstance(f, SettingsFrame) and "ACK" not in f.flags]
                assert local[0].settings[HEADER_TABLE_SIZE] == 256
                assert any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in frames)
                if conformant:
                    enc.header_table_size = 256  # encode() starts with the update
                await client.send(ack() + request(3, enc.encode(REQUEST)))
                if conformant:
                    await client.response_block(3)
                else:
                    assert await client.goaway() == ErrorCode.COMPRESSION_ERROR


@pytest.mark.parametrize(
    ("block", "served"),
    [
        (Encoder().encode(REQUEST[:1]) + size_update(0) + Encoder().encode(REQUEST[1:]), False),
        (size_update(0) + size_update(2048) + Encoder().encode(REQUEST), True),
    ],
    ids=["update-after-a-field", "two-updates-at-the-start"],
)
async def test_size_updates_only_at_the_start_of_a_block(block: bytes, served: bool) -> None:
    async with running_server(varied) as srv:
        async with await srv.connect() as stream:
            client = RawClient(stream)
            await client.send(PREFACE + settings(table=4096) + request(1, block))
            if served:
                assert Decoder().decode(await client.response_block(1), raw=True)[0] == (
                    b":status",
                    b"200",
                )
            else:
                assert await client.goaway() == ErrorCode.COMPRESSION_ERROR
        await still_serves(srv)
