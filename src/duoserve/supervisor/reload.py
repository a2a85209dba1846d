"""Source watching for --reload: watchfiles when installed, else a once-a-second stat poller."""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import math
import os
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from ..config.settings import Config

POLL_INTERVAL = 1.0


class Watcher(Protocol):
    """What the supervisor loop needs: an fd to select on, or a deadline to poll by."""

    def fileno(self) -> int | None: ...
    def deadline(self) -> float: ...
    def changes(self, now: float) -> list[str]: ...
    def close(self) -> None: ...


def watched(path: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """A file matters when its name matches an include glob and no part of its path
    matches an exclude glob."""
    parts = Path(path).parts
    if any(fnmatch.fnmatch(part, glob) for part in parts for glob in exclude):
        return False
    return any(fnmatch.fnmatch(parts[-1], glob) for glob in include) if parts else False


def make_watcher(config: Config, now: float) -> Watcher:
    dirs = [os.path.abspath(d) for d in (config.reload_dir or (config.app_dir,))]
    try:
        watchfiles = importlib.import_module("watchfiles")
    except ImportError:
        return StatPoller(dirs, config.reload_include, config.reload_exclude, now)
    return WatchfilesWatcher(watchfiles, dirs, config.reload_include, config.reload_exclude)


class StatPoller:
    """Compares modification times of the watched files once a second (no dependency)."""

    def __init__(
        self, dirs: list[str], include: tuple[str, ...], exclude: tuple[str, ...], now: float
    ) -> None:
        self.dirs, self.include, self.exclude = dirs, include, exclude
        self._mtimes = self._scan()
        self._next = now + POLL_INTERVAL

    def fileno(self) -> int | None:
        return None

    def deadline(self) -> float:
        return self._next

    def changes(self, now: float) -> list[str]:
        if now < self._next:
            return []
        self._next = now + POLL_INTERVAL
        current = self._scan()
        changed = sorted(
            path
            for path in current.keys() | self._mtimes.keys()
            if current.get(path) != self._mtimes.get(path)
        )
        self._mtimes = current
        return changed

    def close(self) -> None:
        pass

    def _scan(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for top in self.dirs:
            for root, dirnames, filenames in os.walk(top):
                rel = os.path.relpath(root, top)
                dirnames[:] = [
                    d for d in dirnames if not any(fnmatch.fnmatch(d, g) for g in self.exclude)
                ]
                for name in filenames:
                    if watched(os.path.join(rel, name), self.include, self.exclude):
                        path = os.path.join(root, name)
                        with contextlib.suppress(OSError):
                            found[path] = os.stat(path).st_mtime_ns
        return found


class WatchfilesWatcher:
    """watchfiles (inotify/FSEvents) in a thread that wakes the supervisor through a pipe."""

    def __init__(
        self, watchfiles: Any, dirs: list[str], include: tuple[str, ...], exclude: tuple[str, ...]
    ) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._stop = threading.Event()
        self._changed: deque[str] = deque()

        def keep(change: object, path: str) -> bool:
            top = next((d for d in dirs if path.startswith(d + os.sep)), "")
            return watched(os.path.relpath(path, top) if top else path, include, exclude)

        def watch() -> None:
            for batch in watchfiles.watch(*dirs, watch_filter=keep, stop_event=self._stop):
                self._changed.extend(path for _, path in batch)
                with contextlib.suppress(OSError):
                    os.write(self._write, b"!")

        self._thread = threading.Thread(target=watch, name="duoserve-reload", daemon=True)
        self._thread.start()

    def fileno(self) -> int | None:
        return self._read

    def deadline(self) -> float:
        return math.inf

    def changes(self, now: float) -> list[str]:
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 4096)
        found = sorted(set(self._changed))
        self._changed.clear()
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._read)
        os.close(self._write)
