"""The console in a real (headless) browser: sign in, see a press arrive live, acknowledge it."""

from __future__ import annotations

import asyncio
import re
import time

import asyncpg
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Page, expect

from core.settings import Settings
from dispatch import service
from dispatch.runner import run_dispatch
from tests.browser import sign_in
from tests.dispatch import factory
from tests.support import wait_for

pytestmark = pytest.mark.browser


async def _sign_in(page: Page, server: str, username: str) -> None:
    await sign_in(page, server, username, factory.PASSWORD)


async def test_operator_acknowledges_a_live_incident(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    stop = asyncio.Event()
    dispatching = asyncio.create_task(run_dispatch(settings, pool, stop), name="dispatch")
    try:
        await _sign_in(page, server, "op-polsek")
        await expect(page.locator("#empty-list")).to_be_visible()

        async with pool.acquire() as conn:
            pressed = time.monotonic()
            made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        row = page.locator(f'#incident-list li[data-id="{made.incident_id}"]')
        await expect(row).to_be_visible(timeout=2000)
        assert time.monotonic() - pressed < 2.0
        await expect(row).to_have_class(re.compile(r"\balarm\b"))
        await expect(page.locator("#alarm-banner")).to_be_visible()

        await row.click()
        await expect(page.locator("#d-title")).to_contain_text(f"#{made.number}")
        await expect(page.locator("#d-time")).to_contain_text("WIB")
        await page.click('#d-actions button[data-to="acknowledged"]')
        await expect(page.locator("#d-state")).to_have_text("Diterima")

        async def told() -> object:
            return await pool.fetchval(
                "SELECT payload FROM downlink WHERE device_id = $1 AND payload->>'state' = 'acknowledged'",
                made.device_id,
            )

        payload = await wait_for(told, timeout=5, what="acknowledged downlink")
        assert payload == {"seq": made.seq, "incident_id": str(made.incident_id), "state": "acknowledged"}

        # dispatch a unit with a note, from the form
        await page.click('#d-actions button[data-to="dispatched"]')
        await page.select_option("#dispatch-unit", label="Patroli 1")
        await page.fill("#dispatch-note", "menuju lokasi")
        await page.click("#dispatch-submit")
        await expect(page.locator("#d-state")).to_have_text("Unit dikirim")
        await expect(page.locator("#notes")).to_contain_text("Patroli 1")
    finally:
        stop.set()
        await dispatching


async def test_a_script_in_a_note_is_shown_as_text(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    await _sign_in(page, server, "op-polsek")
    await page.click(f'#incident-list li[data-id="{made.incident_id}"]')
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>tebal</b>'
    await page.fill("#note-input", evil)
    await page.click("#note-submit")
    body = page.locator("#notes .note-body")
    await expect(body).to_have_text(evil)
    assert await page.locator("#notes b, #notes img, #notes script").count() == 0
    assert await page.evaluate("window.__pwned") is None
    # and it is stored as typed
    stored = await pool.fetchval("SELECT body FROM incident_note WHERE incident_id = $1", made.incident_id)
    assert stored == evil
