"""One worker's slot of metrics in shared memory (memfd) the supervisor can read.

A file descriptor (memfd, else an unlinked temporary file) mapped shared, seen as float64
values."""

from __future__ import annotations

import mmap
import os
import tempfile

from .layout import SLOT_BYTES


class Slot:
    """`values[i]` is metric i of layout.py. The worker writes with plain stores (one
    writer per slot, no lock, never a system call); the supervisor only reads."""

    __slots__ = ("_map", "values")

    def __init__(self, mapped: mmap.mmap) -> None:
        self._map = mapped
        self.values = memoryview(mapped).cast("d")

    def read(self) -> list[float]:
        """A copy of every value, as they are now."""
        values: list[float] = self.values.tolist()  # type: ignore[assignment]
        return values

    def close(self) -> None:
        self.values.release()
        self._map.close()


def create() -> tuple[Slot, int]:
    """A new zeroed slot and its file descriptor, for a worker to attach() to (inherited
    across fork, or passed to a fresh interpreter). The caller closes the fd."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd: int = memfd("duoserve-metrics", os.MFD_CLOEXEC)
    else:  # pragma: no cover - not Linux
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    try:
        os.ftruncate(fd, SLOT_BYTES)
        return Slot(mmap.mmap(fd, SLOT_BYTES)), fd
    except BaseException:
        os.close(fd)
        raise


def attach(fd: int) -> Slot:
    """The worker's side of a slot made by create(); the fd is closed (the map stays)."""
    try:
        return Slot(mmap.mmap(fd, SLOT_BYTES))
    finally:
        os.close(fd)


def private() -> Slot:
    """A slot nobody else maps (single-process mode: the server reads its own)."""
    return Slot(mmap.mmap(-1, SLOT_BYTES))
