"""HPACK dynamic table sizes for a server: both tables bounded by `--h2-header-table-size`.

RFC 7541 §4.2 lets an encoder use any table size up to what the peer's decoder allows,
and requires every change to be signalled at the start of the next header block (the
smallest size since the last block, then the final one). hpack's Encoder takes whatever
the client advertises, so a client announcing 4 GiB would make us keep that much of our
own response fields per connection; and a size set twice to the same value before a
block loses the signal. `ServerEncoder` fixes both, and finds a field already in a table
with a dict lookup where hpack's Encoder scans the dynamic table (and logs) per field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder, Encoder
from hpack.table import HeaderTable

DEFAULT_TABLE_SIZE = 4_096
"""RFC 9113 §6.5.2: the size both tables have until SETTINGS say otherwise."""


_STATIC_INDEX = {field: i for i, field in reversed(list(enumerate(HeaderTable.STATIC_TABLE, 1)))}
_INDEXED = [bytes([0x80 | i]) for i in range(0x7F)]  # RFC 7541 §6.1, one-byte indexes
_FIRST_DYNAMIC = len(HeaderTable.STATIC_TABLE) + 1


class ChangingTable(HeaderTable):
    """hpack's table, counting its changes (entries added, resizes): a block decoded, or a
    field list encoded, against it comes out the same while the count stays."""

    def __init__(self) -> None:
        super().__init__()
        self.changes = 0

    def add(self, name: bytes, value: bytes) -> None:
        super().add(name, value)
        self.changes += 1

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        HeaderTable.maxsize.fset(self, value)  # type: ignore[attr-defined]
        self.changes += 1


class CountingTable(ChangingTable):
    """hpack's table, also remembering when each field went in: a field added as the n-th
    is at dynamic index `added - n` for as long as the table holds that many entries
    (entries leave oldest first), so finding it takes no scan."""

    def __init__(self) -> None:
        super().__init__()
        self.added = 0
        self.when: dict[tuple[bytes, bytes], int] = {}

    def add(self, name: bytes, value: bytes) -> None:
        super().add(name, value)
        self.added += 1
        when = self.when
        if len(when) > 2 * len(self.dynamic_entries) + 16:  # forget the evicted
            when.clear()
            for back, field in enumerate(self.dynamic_entries):
                when.setdefault(field, self.added - back)
        when[(name, value)] = self.added

    def find(self, field: tuple[bytes, bytes]) -> int | None:
        """The index of exactly `field` in the dynamic table, or None."""
        when = self.when.get(field)
        if when is None:
            return None
        back = self.added - when
        entries = self.dynamic_entries
        if back < len(entries) and entries[back] == field:
            return _FIRST_DYNAMIC + back
        return None


class ServerEncoder(Encoder):
    """An Encoder whose table never exceeds `bound`, whatever the client allows, and that
    signals every pending size change at the start of its next header block."""

    header_table: CountingTable

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.header_table = CountingTable()
        self.bound = bound
        # (fields, the table's count of changes, block) of the last block that changed
        # nothing in the table: the same fields encode the same while the table stays.
        self._memo: tuple[list[Any], int, bytes] | None = None
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

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        """hpack's encoding, with a field found in either table as one index; the others
        (and anything but plain pairs) are hpack's to encode. A list of fields encoded
        without changing the table is remembered: while the table stays unchanged (no
        entry added, no resize, none pending), the same fields are the same block."""
        table = self.header_table
        memo = self._memo
        if (
            memo is not None
            and memo[1] == table.changes
            and not table.resized
            and huffman
            and memo[0] == headers
        ):
            return memo[2]
        block = []
        updated = table.resized
        if updated:
            block.append(self._encode_table_size_change())
            table.resized = False
        before = table.changes
        for field in headers:
            index = _STATIC_INDEX.get(field)
            if index is None and type(field) is tuple and len(field) == 2:
                index = table.find(field)
            if index is not None and index < 0x7F:
                block.append(_INDEXED[index])
            else:
                block.append(super().encode([field], huffman))
        encoded = b"".join(block)
        unchanged = before == table.changes
        if unchanged and type(headers) is list and huffman and not updated:
            self._memo = (list(headers), before, encoded)
        return encoded


def bound_decoder(decoder: Decoder, size: int, acked: bool) -> None:
    """Bound the table the client's encoder may make us keep. Until it has acknowledged our
    SETTINGS: 4,096 when ours is smaller (a client may send requests before it has read
    them), ours when larger. Once acknowledged, ours exactly: a client whose next block
    does not shrink its table to fit gets COMPRESSION_ERROR (RFC 9113 §4.3.1). (h2 would
    never apply it: our settings are in force from the start as far as it knows.)"""
    decoder.max_allowed_table_size = size if acked else max(size, DEFAULT_TABLE_SIZE)
