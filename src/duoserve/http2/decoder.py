"""ServerDecoder: hpack's Decoder with a header block decoded in one loop.

hpack decodes each field through three method calls, a logger call, an integer decoder
that handles every width, a HeaderTuple and a second pass over the list; that was about a
fifth of a small request. Here a field whose integers fit their prefix (nearly all) is
decoded inline, reading the static table or hpack's own dynamic table, and anything else
(a multi-byte integer, a Huffman string, a table size update) goes to hpack's helpers.
The table, the size limits and the errors are hpack's: the same input fails the same way
(h2 turns each into the same GOAWAY as before).

A client sends the same block again and again (h2load, a browser's repeated requests: all
fields indexed). A block's fields depend on the dynamic table, so a block is only
remembered when decoding it left the table as it was, and only reused while the table has
not changed since (every entry added and every resize counts as a change).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder
from hpack.exceptions import HPACKDecodingError, InvalidTableIndex, OversizedHeaderListError
from hpack.hpack import decode_integer
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

from .tables import ChangingTable

_STATIC: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE
_STATIC_LENGTH = len(_STATIC)
_MEMO_BLOCK = 1_024  # the longest block remembered


class ServerDecoder(Decoder):
    """A Decoder whose `decode(block, raw=True)`, the only call h2 makes, is one loop; the
    fields come as plain (name, value) tuples of bytes."""

    header_table: ChangingTable

    def __init__(self, max_header_list_size: int) -> None:
        super().__init__(max_header_list_size)
        self.header_table = ChangingTable()
        # (block, table changes, fields, list size) of the last block that changed nothing
        self._memo: tuple[bytes, int, list[tuple[bytes, bytes]], int] | None = None

    def decode(self, data: bytes, raw: bool = False) -> Iterable[Any]:
        if not raw:
            return super().decode(data, raw)
        if type(data) is not bytes:
            data = bytes(data)
        table = self.header_table
        changes = table.changes
        memo = self._memo
        if memo is not None and memo[1] == changes and memo[0] == data:
            if memo[3] > self.max_header_list_size:
                raise OversizedHeaderListError(
                    f"A header list larger than {self.max_header_list_size} has been received"
                )
            self._assert_valid_table_size()
            return list(memo[2])
        headers, size = self._decode(data)
        if table.changes == changes and len(data) <= _MEMO_BLOCK:
            self._memo = (data, changes, headers, size)
        return list(headers)

    def _decode(self, data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
        """The block's fields and their list size (RFC 9113 §6.5.2)."""
        table = self.header_table
        dynamic = table.dynamic_entries
        limit = self.max_header_list_size
        headers: list[tuple[bytes, bytes]] = []
        size = 0
        pos = 0
        end = len(data)
        while pos < end:
            first = data[pos]
            if first & 0x80:  # indexed field (RFC 7541 §6.1)
                index = first & 0x7F
                if index == 0x7F:
                    index, used = decode_integer(data[pos:], 7)
                    pos += used
                else:
                    pos += 1
                header = _entry(index, dynamic)
            elif first & 0x40 or not first & 0x20:  # a literal (§6.2)
                header, pos = self._literal(data, pos, first, dynamic)
            else:  # dynamic table size update (§6.3): only before the first field
                if headers:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                pos += self._update_encoding_context(data[pos:])
                dynamic = table.dynamic_entries
                continue
            headers.append(header)
            size += 32 + len(header[0]) + len(header[1])
            if size > limit:
                raise OversizedHeaderListError(
                    f"A header list larger than {limit} has been received"
                )
        self._assert_valid_table_size()
        return headers, size

    def _literal(
        self, data: bytes, pos: int, first: int, dynamic: Any
    ) -> tuple[tuple[bytes, bytes], int]:
        """A literal field at `pos`: the field and where the next one starts; added to the
        dynamic table when it says so (§6.2.1)."""
        indexing = first & 0x40
        bits = 6 if indexing else 4
        index = first & (0x3F if indexing else 0x0F)
        if index:
            if index == (1 << bits) - 1:
                index, used = decode_integer(data[pos:], bits)
                pos += used
            else:
                pos += 1
            name = _entry(index, dynamic)[0]
        else:
            name, pos = _string(data, pos + 1)
        value, pos = _string(data, pos)
        if indexing:
            self.header_table.add(name, value)
        return (name, value), pos


def _entry(index: int, dynamic: Any) -> tuple[bytes, bytes]:
    """The field at a 1-based table index (§2.3.3): static, then dynamic."""
    if 0 < index <= _STATIC_LENGTH:
        return _STATIC[index - 1]
    offset = index - _STATIC_LENGTH - 1
    if 0 <= offset < len(dynamic):
        entry: tuple[bytes, bytes] = dynamic[offset]
        return entry
    raise InvalidTableIndex(f"Invalid table index {index}")


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    """A string literal at `pos` (§5.2): its bytes, Huffman-decoded when flagged, and where
    the next field starts. A missing or short string is hpack's decoding error."""
    if pos >= len(data):
        raise HPACKDecodingError(f"Unable to decode HPACK integer representation from {b''!r}")
    first = data[pos]
    length = first & 0x7F
    if length == 0x7F:
        length, used = decode_integer(data[pos:], 7)
        start = pos + used
    else:
        start = pos + 1
    stop = start + length
    if stop > len(data):
        raise HPACKDecodingError("Truncated header block")
    text = data[start:stop]
    return (decode_huffman(text) if first & 0x80 else text), stop
