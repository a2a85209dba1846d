"""FlowBudget: how far each stream's receive window may grow within the connection's bound."""

from __future__ import annotations

from .limits import DEFAULT_WINDOW, H2Limits


class FlowBudget:
    """Request-body buffering on one connection, bounded without head-of-line stalls.

    Connection-level credit goes back as soon as DATA arrives, since every byte is queued
    on its stream and bounded by that stream's window: a stream whose app does not read
    holds at most its own window, never the connection's, so the other streams go on.

    Every stream starts with the protocol's default window (65,535 bytes); as its app reads,
    the window grows (up to `stream_receive_buffer`) out of a pool: the connection's bound
    less that starting window for each stream the connection may run. Body bytes buffered
    per connection so stay within max(connection_receive_buffer, max_concurrent_streams x
    65,535), however many streams are open, and no window ever waits on another stream."""

    def __init__(self, limits: H2Limits) -> None:
        self._most = limits.stream_receive_buffer - DEFAULT_WINDOW  # growth of one stream
        floor = limits.max_concurrent_streams * DEFAULT_WINDOW
        self._pool = max(0, limits.connection_receive_buffer - floor)
        self._grown: dict[int, int] = {}

    @property
    def pool(self) -> int:
        """Window bytes not yet handed to any stream."""
        return self._pool

    def growth(self, stream_id: int) -> int:
        """Bytes to widen the stream's window by now (0 when it is as wide as it may be or
        the pool is empty); taken from the pool until `release` or `give_back`."""
        pool = self._pool
        if not pool:
            return 0
        grown = self._grown.get(stream_id, 0)
        extra = min(self._most - grown, pool)
        if extra <= 0:
            return 0
        self._pool = pool - extra
        self._grown[stream_id] = grown + extra
        return extra

    def give_back(self, stream_id: int, extra: int) -> None:
        """Growth that could not be granted (the client can no longer send on the stream)."""
        if extra:
            self._pool += extra
            left = self._grown.pop(stream_id) - extra
            if left:
                self._grown[stream_id] = left

    def release(self, stream_id: int) -> None:
        """The stream's cycle is over: what it grew by returns to the pool."""
        self._pool += self._grown.pop(stream_id, 0)
