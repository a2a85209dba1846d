"""ServerDecoder against hpack's Decoder: the same fields, table and errors for any input."""

from __future__ import annotations

import random

import pytest
from hpack import Decoder, Encoder
from hpack.exceptions import HPACKDecodingError, InvalidTableIndex, OversizedHeaderListError

from duoserve.http2.decoder import ServerDecoder

REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/a/long/path?with=query" * 3),
    (b"user-agent", b"x" * 300),  # a length past the 7-bit prefix
    (b"x-custom", b"value"),
    (b"cookie", b"a=1"),
]


def outcome(decoder: Decoder, block: bytes) -> object:
    try:
        fields = [tuple(field) for field in decoder.decode(block, raw=True)]
    except Exception as exc:  # the class is what must match
        return type(exc)
    return fields, list(decoder.header_table.dynamic_entries), decoder.header_table_size


def pair(size: int = 65_536) -> tuple[Decoder, ServerDecoder]:
    return Decoder(size), ServerDecoder(size)


@pytest.mark.parametrize("huffman", [True, False])
def test_blocks_as_hpack(huffman: bool) -> None:
    encoder = Encoder()
    ours, theirs = pair()
    for fields in (REQUEST, REQUEST, REQUEST[:3], [(b"x-never", b"secret", True)]):
        block = encoder.encode(fields, huffman=huffman)
        expected = outcome(ours, block)
        assert outcome(theirs, block) == expected
        assert isinstance(expected, tuple)


def test_table_size_update_and_many_indexes() -> None:
    encoder = Encoder()
    ours, theirs = pair()
    for i in range(200):  # entries well past a one-byte index
        block = encoder.encode([(b"x-field-%d" % i, b"v" * (i % 40)), *REQUEST[:4]])
        assert outcome(theirs, block) == outcome(ours, block)
    encoder.header_table_size = 256
    block = encoder.encode(REQUEST)
    assert block[0] & 0xE0 == 0x20  # it opens with a size update
    assert outcome(theirs, block) == outcome(ours, block)


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"\x80", InvalidTableIndex),  # index 0
        (b"\xff\x00", InvalidTableIndex),  # 127: past both tables
        (b"\xbe", InvalidTableIndex),  # 62: the empty dynamic table
        (b"\xff", HPACKDecodingError),  # an integer cut short
        (b"\xff\xff\xff\xff\xff\xff\xff", HPACKDecodingError),  # too long an integer
        (b"\x40", HPACKDecodingError),  # a literal without its name
        (b"\x40\x05ab", HPACKDecodingError),  # a truncated name
        (b"\x04", HPACKDecodingError),  # an indexed name without its value
        (b"\x04\x03ab", HPACKDecodingError),  # a truncated value
        (b"\x04\x81\xff", HPACKDecodingError),  # bad Huffman padding
        (b"\x82\x3f\xe1\x1f", HPACKDecodingError),  # a size update after a field
        (b"\x3f\xe1\xff\x03", HPACKDecodingError),  # a size beyond the allowed one
    ],
)
def test_malformed_as_hpack(block: bytes, error: type[Exception]) -> None:
    ours, theirs = pair()
    expected = outcome(ours, block)
    assert expected is error or (isinstance(expected, type) and issubclass(expected, error))
    assert outcome(theirs, block) == expected


def test_list_size_limit() -> None:
    block = Encoder().encode([(b"x-big", b"v" * 100)] * 20)
    ours, theirs = pair(1_000)
    assert outcome(ours, block) is OversizedHeaderListError
    assert outcome(theirs, block) is OversizedHeaderListError


def test_allowed_table_size_enforced() -> None:
    ours, theirs = pair()
    for decoder in (ours, theirs):
        decoder.max_allowed_table_size = 100  # a table never shrunk to our SETTINGS
    block = b"\x82"
    assert outcome(theirs, block) == outcome(ours, block)


def test_random_input_as_hpack() -> None:
    rng = random.Random(14)
    valid = Encoder().encode(REQUEST)
    for _ in range(3_000):
        ours, theirs = pair(2_000)
        block = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            block[rng.randrange(len(block))] = rng.randrange(256)
        cut = bytes(block[: rng.randrange(len(block) + 1)])
        assert outcome(theirs, cut) == outcome(ours, cut), cut


def test_a_repeated_block_follows_the_table() -> None:
    """The same bytes mean other fields once the dynamic table has changed."""
    ours, theirs = pair()
    first = b"\x40\x01a\x01b"  # a: b, into the table
    second = b"\x40\x01c\x01d"  # c: d, into the table: index 62 is now c: d
    shrink = b"\x3f\x09"  # size update to 40: only one 34-byte entry fits... then none
    steps = [first, b"\xbe", b"\xbe", second, b"\xbe", b"\xbe\xbf", b"\x20", b"\xbe"]
    steps += [first, b"\xbe", b"\x82", b"\x82", shrink + b"\xbe", b"\xbe"]
    for block in steps:
        assert outcome(theirs, block) == outcome(ours, block), block


def test_a_repeated_block_checks_the_limits_again() -> None:
    ours, theirs = pair()
    block = Encoder().encode(REQUEST[:4])
    for decoder in (ours, theirs):
        decoder.decode(block, raw=True)
    repeat = b"\x82\x87\xbf"  # indexed only: remembered
    assert outcome(theirs, repeat) == outcome(ours, repeat)
    for decoder in (ours, theirs):
        decoder.max_header_list_size = 50
    assert outcome(theirs, repeat) == outcome(ours, repeat) == OversizedHeaderListError
    for decoder in (ours, theirs):
        decoder.max_header_list_size = 65_536
        decoder.max_allowed_table_size = 10
    assert outcome(theirs, repeat) == outcome(ours, repeat)


def test_returned_lists_are_the_callers() -> None:
    decoder = ServerDecoder(65_536)
    first = decoder.decode(b"\x82", raw=True)
    first.append((b"x", b"y"))  # type: ignore[attr-defined]
    assert decoder.decode(b"\x82", raw=True) == [(b":method", b"GET")]
