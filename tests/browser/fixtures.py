"""A real browser: Playwright driving Debian's chromium (``make test`` installs it).

Imported by ``tests/conftest.py`` so browser tests anywhere in the suite share one browser:
a second Playwright sync session in the same run would fail to start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = os.environ.get("HUIFANG_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium keeps trying to reach Google's hosts.
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does it as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Page, base: str, username: str) -> None:
    """Log in through the form as one of the personas (their password is the suite's)."""
    from tests.conftest import PASSWORD

    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    # Each role lands on its own page (huifang.server.home): wait until the form is gone.
    page.wait_for_url(lambda url: "/login/" not in url)
    expect(page.locator("nav.navbar")).to_be_visible()


def assert_fits(page: Page, width: int) -> None:
    """The page does not scroll sideways at ``width`` px once it has loaded and settled.

    Measured after the load event and polled briefly: a page half-way through a navigation can
    be wider for a frame, which is not what a user sees.
    """
    page.wait_for_load_state("load")
    script = f"document.documentElement.scrollWidth <= {width}"
    try:
        page.wait_for_function(script, timeout=3_000)
    except PlaywrightTimeoutError:
        wide = page.evaluate("document.documentElement.scrollWidth")
        raise AssertionError(f"the page is {wide} px wide on a {width} px screen") from None


@pytest.fixture
def worker_later() -> Iterator[None]:
    """The suite runs Huey's tasks at once; here they wait in the queue, as for a real worker,
    until the test does the worker's part (``task.call_local(...)``)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False
    try:
        yield
    finally:
        HUEY.immediate = True
