"""Headless Chromium for browser tests (Playwright, the Debian chromium; never a downloaded one).

Use from a test module or conftest::

    # in the area's conftest.py (importing into the test module trips ruff's F811)
    from tests.browser import browser, page  # noqa: F401  (fixtures)

    # in the test module
    @pytest.mark.browser
    async def test_x(page: Page) -> None: ...

``page`` fails the test if the page throws a JavaScript error, logs a console error, or asks for
anything not served by the local test server (the console must work with no internet).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("SIAGA_CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

try:
    from playwright.async_api import Browser, Page, Route, async_playwright, expect
except ImportError:  # pragma: no cover - playwright is a test extra
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if async_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright; no browser download needed)")
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="id-ID", timezone_id="Asia/Jakarta")
    errors: list[str] = []

    async def local_only(route: Route) -> None:
        # the centre may have no internet: a page that reaches outside fails the test
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith("data:") or host in ("127.0.0.1", "localhost", "::1"):
            await route.continue_()
        else:
            errors.append(f"external request: {route.request.url}")
            await route.abort()

    await context.route("**/*", local_only)
    pg = await context.new_page()
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        yield pg
    finally:
        await context.close()
    assert errors == [], errors


async def sign_in(page: Page, server: str, username: str, password: str) -> None:
    """Through the login form, until the console is connected to its event stream."""
    await page.goto(f"{server}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(f"{server}/console")
    await expect(page.locator("#conn-status")).to_have_text("terhubung", timeout=5000)
