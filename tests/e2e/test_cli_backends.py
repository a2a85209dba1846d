"""The command on each backend, and the fast exit on a second SIGINT."""

from __future__ import annotations

import contextlib
import signal
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli_serve import SERVING, duoserve

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("options", "loop"),
    [
        (("--loop", "asyncio"), "asyncio"),
        (("--loop", "uvloop"), "uvloop"),  # uvloop is in the test extra
        (("--backend", "trio"), "trio"),
    ],
)
def test_backend(options: tuple[str, ...], loop: str) -> None:
    with duoserve("examples.hello:app", "--port", "0", *options) as proc:
        match = proc.wait_for(SERVING.pattern)
        assert f"— {loop}, 1 worker" in match.string
        assert httpx.get(match["url"]).text == "Hello, world!\n"
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(15) == 0


def test_second_sigint_exits_at_once(tmp_path: Path) -> None:
    (tmp_path / "stuck.py").write_text(
        textwrap.dedent(
            """
            import anyio

            async def app(scope, receive, send):
                if scope["type"] == "http":
                    await anyio.sleep(60)
            """
        )
    )
    with duoserve("stuck:app", "--port", "0", "--app-dir", str(tmp_path)) as proc:
        url = proc.wait_for(SERVING.pattern)["url"]

        def request() -> None:
            with contextlib.suppress(httpx.HTTPError):  # cut off by the forced exit
                httpx.get(url, timeout=30)

        threading.Thread(target=request, daemon=True).start()
        time.sleep(0.5)
        proc.popen.send_signal(signal.SIGINT)
        proc.wait_for("shutting down gracefully")
        started = time.monotonic()
        proc.popen.send_signal(signal.SIGINT)
        proc.popen.wait(10)
        assert time.monotonic() - started < 5
