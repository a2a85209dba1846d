"""The flood guard: reads frame headers ahead of h2 and stops floods before h2 does any work.

h2 enforces the protocol but has no rate limits, buffers a whole frame before checking
its length, and keeps up to 64 CONTINUATION frames of one header block. The guard sees
every 9-byte frame header as bytes arrive (payloads are skipped, never copied) and
answers with a `Violation` the moment a bound is crossed, so nothing of the offending
input reaches h2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .events import ErrorCode
from .limits import H2Limits

# RFC 9113 §6 frame types and flags the guard reads.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE_LENGTH = 24
# CONTINUATION frames one header block may have: a 64 KiB list needs 4 of 16 KiB; h2
# itself gives up after 64 (as PROTOCOL_ERROR), so the guard counts first.
MAX_CONTINUATIONS = 32
_CONTROL = frozenset({PRIORITY, SETTINGS, PING, GOAWAY, WINDOW_UPDATE})
_FRAME_HEAD = struct.Struct(">BHBBL").unpack_from  # length (8 + 16 bits), type, flags, id


@dataclass(frozen=True, slots=True)
class Violation:
    """Why the connection must end, and with which GOAWAY code."""

    error_code: ErrorCode
    reason: str


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; `take` fails when empty. Time is
    passed in (sans-IO), so tests drive it without sleeping."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float) -> bool:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def give(self, tokens: int) -> None:
        self.tokens = min(self.capacity, self.tokens + tokens)


class FrameGuard:
    """Frame-header scanner for the bytes a client sends, after the 24-byte preface."""

    __slots__ = (
        "_block_bytes",
        "_block_frames",
        "_block_stream",
        "_control",
        "_first",
        "_header",
        "_limits",
        "_preface_left",
        "_resets",
        "_skip",
    )

    def __init__(self, limits: H2Limits, now: float) -> None:
        self._limits = limits
        self._preface_left = PREFACE_LENGTH  # h2 checks its bytes; we only step over them
        self._first = True  # the client preface ends with a SETTINGS frame (§3.4)
        self._header = bytearray()  # a frame header split across reads
        self._skip = 0  # payload bytes of the current frame still to step over
        self._block_stream = 0  # stream of an unfinished header block, 0 when none
        self._block_bytes = 0
        self._block_frames = 0
        rate = limits.control_frames_per_second
        self._control = TokenBucket(rate, rate, now)
        self._resets = TokenBucket(limits.reset_burst, limits.resets_per_second, now)

    def credit_sent_data(self, frames: int) -> None:
        """Each DATA frame we send earns the client one control frame: WINDOW_UPDATEs and
        BDP PINGs come in proportion to the data they receive."""
        self._control.give(frames)

    def scan(self, data: bytes | bytearray | memoryview, now: float) -> Violation | None:
        """Step over `data`, checking each frame header completed in it."""
        view = memoryview(data)
        end = len(view)
        pos = min(self._preface_left, end)
        self._preface_left -= pos
        largest = self._limits.max_frame_size
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if self._header or end - pos < 9:  # a frame header split across reads
                need = 9 - len(self._header)
                self._header += view[pos : pos + need]
                pos += need
                if len(self._header) < 9:
                    break
                header = self._header
                length = int.from_bytes(header[0:3], "big")
                stream_id = int.from_bytes(header[5:9], "big") & 0x7FFF_FFFF
                violation = self._check(length, header[3], header[4], stream_id, now)
                self._header = bytearray()
                self._skip = length
                if violation is not None:
                    return violation
                continue
            # Whole frame headers in this read (nearly always): read them in place.
            while True:
                high, low, kind, flags, stream_id = _FRAME_HEAD(view, pos)
                length = high << 16 | low
                pos += 9
                # A request's HEADERS or a body's DATA frame counts against no bucket.
                if not (
                    ((kind == HEADERS and flags & END_HEADERS) or (kind == DATA and length))
                    and length <= largest
                    and not self._block_stream
                    and not self._first
                ):
                    violation = self._check(length, kind, flags, stream_id & 0x7FFF_FFFF, now)
                    if violation is not None:
                        self._skip = length
                        return violation
                pos += length
                if pos > end:
                    self._skip = pos - end
                    pos = end
                    break
                if end - pos < 9:
                    break
        return None

    def _check(
        self, length: int, kind: int, flags: int, stream_id: int, now: float
    ) -> Violation | None:
        if self._first:
            self._first = False
            if kind != SETTINGS or flags & ACK:
                return Violation(ErrorCode.PROTOCOL_ERROR, "the preface must end with SETTINGS")
        if length > self._limits.max_frame_size:
            return Violation(
                ErrorCode.FRAME_SIZE_ERROR,
                f"a {length}-byte frame exceeds SETTINGS_MAX_FRAME_SIZE",
            )
        if self._block_stream:
            if kind != CONTINUATION or stream_id != self._block_stream:
                return None  # h2 refuses a header block interrupted (PROTOCOL_ERROR)
            self._block_bytes += length
            self._block_frames += 1
            if (
                self._block_bytes > self._limits.header_block_budget
                or self._block_frames > MAX_CONTINUATIONS
            ):
                return Violation(ErrorCode.ENHANCE_YOUR_CALM, "endless header block")
            if flags & END_HEADERS:
                self._block_stream = 0
            elif not length and not self._control.take(now):
                return Violation(ErrorCode.ENHANCE_YOUR_CALM, "empty CONTINUATION flood")
            return None
        if kind in (HEADERS, PUSH_PROMISE) and not flags & END_HEADERS:
            self._block_stream = stream_id or -1  # stream 0 is h2's PROTOCOL_ERROR to raise
            self._block_bytes = length
            self._block_frames = 0
        elif kind == RST_STREAM:
            if not self._resets.take(now):
                return Violation(ErrorCode.ENHANCE_YOUR_CALM, "rapid reset")
        elif (
            kind in _CONTROL
            or kind > CONTINUATION  # unknown types, which h2 ignores (§5.5)
            or (kind == DATA and not length and not flags & END_STREAM)
        ) and not self._control.take(now):
            return Violation(ErrorCode.ENHANCE_YOUR_CALM, "control frame flood")
        return None
