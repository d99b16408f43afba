"""The whole path in a real browser: a simulated button pressed over MQTT appears on the
console of the Polsek that covers the place, the operator acknowledges, the button is told."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Page, expect

from core.auth import create_user
from gateway.reference import load_reference
from siaga.procs import RoleProcess, role_env
from tests.gateway.harness import Stack
from tests.support import wait_for

pytestmark = pytest.mark.browser

PASSWORD = "kata-sandi-uji-123"


async def test_press_on_a_button_reaches_the_covering_polsek_and_back(stack: Stack, page: Page) -> None:
    await load_reference(stack.pool)
    async with stack.pool.acquire() as conn:
        polsek = await conn.fetchval("SELECT id FROM agency WHERE kind = 'polsek' AND kecamatan_code = '33.07.09'")
        await create_user(conn, "op-wonosobo", PASSWORD, "operator", polsek, "Operator Polsek Wonosobo")
    creds = await stack.add_devices(1)
    env = role_env(stack.settings)
    siaga = RoleProcess(env, "all", stack.workdir / "siaga.log")
    await siaga.start()
    base = f"http://127.0.0.1:{env['SIAGA_HTTP_PORT']}"
    try:
        async def web_up() -> bool:
            try:
                await page.goto(f"{base}/login")
                return True
            except Exception:
                return False

        await wait_for(web_up, timeout=60, interval=0.3, what="the console to answer")
        await page.fill("#username", "op-wonosobo")
        await page.fill("#password", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_url(f"{base}/console")
        await expect(page.locator("#conn-status")).to_have_text("terhubung", timeout=10_000)

        (button,) = await stack.start_devices(creds)  # installed at the Alun-alun, Kec. Wonosobo
        pressed = time.monotonic()
        seq = button.press("crime")
        async with asyncio.timeout(10):
            incident = await button.wait_receipt(seq)
        row = page.locator(f'#incident-list li[data-id="{incident}"]')
        await expect(row).to_be_visible(timeout=2000)
        assert time.monotonic() - pressed < 2.0
        await expect(row).to_have_class(re.compile(r"\balarm\b"))

        await row.click()
        await expect(page.locator("#d-title")).to_contain_text("#")
        await page.click('#d-actions button[data-to="acknowledged"]')
        await expect(page.locator("#d-state")).to_have_text("Diterima")

        async def told() -> bool:
            return "acknowledged" in button.states.get(seq, [])

        await wait_for(told, timeout=10, what="the button to hear 'acknowledged'")
        assert button.states[seq][0] == "received"
        await page.goto("about:blank")  # leave the console before the server goes away
    except AssertionError:
        print(siaga.log_tail(60))
        raise
    finally:
        await siaga.terminate()
