"""Start the examples the way users do: the `duoserve` command (or manage.py) as a
subprocess on a free port, its address read from the startup line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SERVING = re.compile(r"serving (?P<what>.+?) on (?P<url>http://\S+) — ")


@dataclass
class Served:
    """A running server process and what its startup line said."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    what: str = ""

    def read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := pattern.search(line):
                    return match
            if self.popen.poll() is not None:
                time.sleep(0.2)  # let the reader drain the last lines
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern.pattern!r} not seen; output:\n" + "\n".join(self.lines))

    @property
    def ws_url(self) -> str:
        return "ws://" + self.url.removeprefix("http://")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        status = self.popen.wait(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        return status


def start(argv: list[str], cwd: Path, env: dict[str, str]) -> Served:
    """Run `argv` (after the Python interpreter) and wait for duoserve's startup line."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DUOSERVE_", "DJANGO_"))}
    full_env.pop("PORT", None)
    full_env.update(env)
    popen = subprocess.Popen(
        [sys.executable, *argv],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a reloading supervisor's workers go with it
    )
    served = Served(popen)
    threading.Thread(target=served.read, daemon=True).start()
    try:
        match = served.wait_for(SERVING)
    except BaseException:
        served.stop()
        raise
    served.url, served.what = match["url"], match["what"]
    return served


def copy_example(name: str, destination: Path) -> Path:
    target = destination / name
    shutil.copytree(
        EXAMPLES / name,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", "media", "staticfiles"),
    )
    return target


def run_python(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DUOSERVE_", "DJANGO_"))}
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; returns their sha256."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("wb") as f:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 1 << 20))
            digest.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def curl_expect_upload(url: str, path: Path) -> tuple[str, str]:
    """POST a file with curl and `Expect: 100-continue`; returns (body, curl's trace)."""
    result = subprocess.run(
        [
            "/usr/bin/curl", "-sS", "-v", "--max-time", "30",
            "-H", "Expect: 100-continue", "-H", "Content-Type: application/octet-stream",
            "--data-binary", f"@{path}", url,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr
