"""A real browser (Debian's chromium, driven by Playwright) against the examples: the
Django admin, the WebSocket chat page, and the Flask upload form."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import chromium
from tests.examples.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.examples.serving import Served

pytestmark = [pytest.mark.examples, pytest.mark.browser]

sync_api = pytest.importorskip("playwright.sync_api")
chromium.require()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with chromium.launched(sync_api) as browser:
        yield browser


@pytest.fixture
def page(
    browser: sync_api.Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[sync_api.Page]:
    """A fresh context per test; a screenshot in tmp_path when the test fails."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    context.close()


@pytest.fixture(scope="module")
def mixed(django_servers: Callable[[str], Served]) -> Served:
    return django_servers("mixed")


def test_admin_login_create_and_list(page: sync_api.Page, mixed: Served) -> None:
    page.goto(mixed.url + "/admin/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    sync_api.expect(page.locator("#site-name")).to_contain_text("Django administration")
    # The admin's own stylesheet was served (its CSS variables are in effect).
    assert page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()"
    )
    page.goto(mixed.url + "/admin/notes/note/add/")
    page.fill("#id_title", "Written in a real browser")
    page.fill("#id_body", "through the admin")
    page.click("input[name=_save]")
    sync_api.expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    sync_api.expect(page.locator("#result_list")).to_contain_text("Written in a real browser")


def test_chat_over_websocket(browser: sync_api.Browser, mixed: Served, tmp_path: Path) -> None:
    contexts = [browser.new_context() for _ in range(2)]
    try:
        alice, bob = (context.new_page() for context in contexts)
        for page in (alice, bob):
            page.set_default_timeout(10_000)
            page.goto(mixed.url + "/chat/")
            sync_api.expect(page.locator("#status")).to_have_text("open")
        alice.fill("#name", "alice")
        alice.fill("#text", "hello from alice")
        alice.click("#send button")
        bob.fill("#name", "bob")
        bob.fill("#text", "hi alice")
        bob.press("#text", "Enter")
        for page in (alice, bob):
            log = page.locator("#log .message")
            sync_api.expect(log).to_have_text(["alice: hello from alice", "bob: hi alice"])
    except Exception:
        for i, context in enumerate(contexts):
            for page in context.pages:
                page.screenshot(path=str(tmp_path / f"chat-{i}.png"))
        raise
    finally:
        for context in contexts:
            context.close()


def test_flask_upload_form(page: sync_api.Page, flask_server: Served, tmp_path: Path) -> None:
    upload = tmp_path / "hello.txt"
    upload.write_bytes(b"hello from a browser\n")
    page.goto(flask_server.url + "/")
    page.fill("#title", "browser upload")
    page.set_input_files("#file", str(upload))
    page.click("button[type=submit]")
    sync_api.expect(page.locator("#heading")).to_have_text("Uploaded browser upload")
    sync_api.expect(page.locator("#size")).to_have_text(str(upload.stat().st_size))
    sha = hashlib.sha256(upload.read_bytes()).hexdigest()
    sync_api.expect(page.locator("#sha256")).to_have_text(sha)
