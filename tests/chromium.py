"""Debian's chromium for the browser tests: found (or the module skipped), with the flags
this machine's headless chromium needs, run as a command or launched through Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# No sandbox or GPU, no QUIC (pages must come over TCP), nothing fetched in the background;
# a fresh profile per run is the caller's (--user-data-dir, or Playwright's own).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require() -> str:
    """Chromium's path; at a module's top, skips the module when it is not installed."""
    path = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return path


def command(*args: str) -> list[str]:
    """A headless chromium run with `args` (`--dump-dom URL`...)."""
    return [require(), "--headless", *FLAGS, *args]


@contextlib.contextmanager
def launched(sync_api: Any) -> Iterator[Any]:
    """Headless chromium driven by Playwright (`sync_api`: playwright.sync_api, which the
    caller imports or skips on), closed however the block ends."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require(), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
