"""HPACK dynamic table sizes for a server: both tables bounded by `--h2-header-table-size`.

RFC 7541 §4.2 lets an encoder use any table size up to what the peer's decoder allows,
and requires every change to be signalled at the start of the next header block (the
smallest size since the last block, then the final one). hpack's Encoder takes whatever
the client advertises, so a client announcing 4 GiB would make us keep that much of our
own response fields per connection; and a size set twice to the same value before a
block loses the signal. `ServerEncoder` fixes both.
"""

from __future__ import annotations

from hpack import Decoder, Encoder

DEFAULT_TABLE_SIZE = 4_096
"""RFC 9113 §6.5.2: the size both tables have until SETTINGS say otherwise."""


class ServerEncoder(Encoder):
    """An Encoder whose table never exceeds `bound`, whatever the client allows, and that
    signals every pending size change at the start of its next header block."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound
        if bound < DEFAULT_TABLE_SIZE:
            self.header_table_size = bound  # signalled in our first block

    @property
    def header_table_size(self) -> int:
        return self.header_table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        size = min(value, self.bound)
        if size == self.header_table.maxsize and not self.table_size_changes:
            return  # nothing changes: no update to send
        self.header_table.maxsize = size
        if not self.table_size_changes or self.table_size_changes[-1] != size:
            self.table_size_changes.append(size)
        self.header_table.resized = True  # hpack clears it when a size repeats


def bound_decoder(decoder: Decoder, size: int, acked: bool) -> None:
    """Bound the table the client's encoder may make us keep. Until it has acknowledged our
    SETTINGS: 4,096 when ours is smaller (a client may send requests before it has read
    them), ours when larger. Once acknowledged, ours exactly: a client whose next block
    does not shrink its table to fit gets COMPRESSION_ERROR (RFC 9113 §4.3.1). (h2 would
    never apply it: our settings are in force from the start as far as it knows.)"""
    decoder.max_allowed_table_size = size if acked else max(size, DEFAULT_TABLE_SIZE)
