"""ServerEncoder: what it encodes decodes to the same fields, with both tables in step."""

from __future__ import annotations

import random

from hpack import Decoder, NeverIndexedHeaderTuple

from duoserve.http2.tables import ServerEncoder

RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"13"),
    (b"server", b"duoserve"),
]


def check(encoder: ServerEncoder, decoder: Decoder, fields: list[tuple[bytes, bytes]]) -> bytes:
    block = encoder.encode(fields)
    assert [tuple(f) for f in decoder.decode(block, raw=True)] == [tuple(f) for f in fields]
    assert list(decoder.header_table.dynamic_entries) == list(encoder.header_table.dynamic_entries)
    return block


def test_repeated_fields_are_one_byte_each() -> None:
    encoder, decoder = ServerEncoder(4_096), Decoder()
    check(encoder, decoder, RESPONSE)
    assert check(encoder, decoder, RESPONSE) == bytes(
        [0x88, 0xC0, 0xBF, 0xBE]
    )  # 62 + 2, 62 + 1, 62


def test_evictions_resizes_and_sensitive_fields() -> None:
    rng = random.Random(14)
    encoder, decoder = ServerEncoder(4_096), Decoder()
    names = [b"x-%d" % i for i in range(12)]
    for round_ in range(2_000):
        fields = [(b":status", rng.choice([b"200", b"404", b"201"]))]
        for _ in range(rng.randrange(6)):
            name = rng.choice(names)
            fields.append((name, b"v" * rng.randrange(300 if round_ % 97 else 5_000)))
        if round_ % 50 == 7:
            fields.append(NeverIndexedHeaderTuple(b"authorization", b"secret"))  # type: ignore[arg-type]
        if round_ % 200 == 99:
            size = rng.choice([0, 100, 1_000, 4_096])
            encoder.header_table_size = size
            decoder.max_allowed_table_size = size
        check(encoder, decoder, fields)
        assert len(encoder.header_table.when) <= 2 * (4_096 // 32) + 17  # bounded by the table


def test_bounded_table_is_signalled() -> None:
    encoder, decoder = ServerEncoder(256), Decoder()
    decoder.max_allowed_table_size = 256
    block = check(encoder, decoder, RESPONSE)
    assert block[0] & 0xE0 == 0x20  # a size update first
    encoder.header_table_size = 65_536  # the client allows more: still 256
    assert encoder.header_table_size == 256


def test_a_repeated_list_follows_the_table() -> None:
    """A remembered block is reused only while the table is as it was."""
    encoder, decoder = ServerEncoder(4_096), Decoder()
    fields = [*RESPONSE, (b"date", b"1")]
    check(encoder, decoder, fields)
    assert check(encoder, decoder, fields) == check(encoder, decoder, list(fields))
    check(encoder, decoder, [(b"x-new", b"shifts every index")])
    assert check(encoder, decoder, fields) != bytes([0x88, 0xC1, 0xC0, 0xBF, 0xBE])
    encoder.header_table_size = 100  # pending: signalled in the next block, which evicts
    decoder.max_allowed_table_size = 100
    block = check(encoder, decoder, fields)
    assert block[0] & 0xE0 == 0x20
    check(encoder, decoder, fields)
    encoder.header_table_size = 0
    decoder.max_allowed_table_size = 0
    check(encoder, decoder, fields)
    assert check(encoder, decoder, fields) == check(encoder, decoder, fields)
    fields.append((b"x-late", b"appended to the same list"))
    check(encoder, decoder, fields)
