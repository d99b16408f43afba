"""XSS attempts in complaint text are harmless in a real (headless) browser: the citizen's status
page and the staff's detail page show the text literally and run none of it."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from complaints import store
from core import auth
from core.settings import Settings
from tests.complaints.conftest import PASSWORD, Site

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>alert('skrip')</script>",
    "<img src=x onerror=\"alert('gambar')\">",
    "\"><svg onload=alert('svg')>",
    "'; DROP TABLE complaint; --",
    "javascript:alert('tautan')",
]


async def _no_dialogs(page: Page) -> list[str]:
    fired: list[str] = []

    async def on_dialog(d: Dialog) -> None:
        fired.append(d.message)
        await d.dismiss()

    page.on("dialog", on_dialog)
    return fired


async def test_xss_in_complaint_text_is_inert(site: Site, page: Page, db_dsn: str) -> None:
    fired = await _no_dialogs(page)
    text = "\n".join(PAYLOADS)
    # the citizen files it through the public form, picking the place on the map
    await page.goto(f"{site.url}/lapor")
    await page.fill("input[name=title]", PAYLOADS[1])
    await page.fill("textarea[name=description]", text)
    await page.fill("input[name=reporter_name]", PAYLOADS[2])
    await page.locator("#peta path.leaflet-interactive").first.wait_for()
    # the map's middle: the map is fitted to the regency, and a point outside it is not kept
    await page.click("#peta")
    assert await page.input_value("#lat") != ""
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{site.url}/status/**")
    assert (await page.locator("#judul").inner_text()) == PAYLOADS[1]
    body = await page.locator("body").inner_text()
    assert "<script>alert('skrip')</script>" in body and "DROP TABLE" in body
    tracking = page.url.rsplit("/", 1)[1].split("?")[0]

    # the verifier opens it, signed in by the session cookie
    async with site.pool.acquire() as conn:
        await auth.create_user(conn, "staf", PASSWORD, "complaint_staff")
        token, _ = await auth.login(conn, Settings(database_url=db_dsn), "staf", PASSWORD)
        row = await store.get_by_tracking(conn, tracking)
        assert row["description"].replace("\r\n", "\n") == text  # stored as typed (the browser sends CRLF)
        assert await conn.fetchval("SELECT count(*) FROM complaint") == 1
    await page.context.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": site.url}])
    await page.goto(f"{site.url}/pengaduan/{row['id']}")
    detail = await page.locator("body").inner_text()
    assert PAYLOADS[2] in detail and "javascript:alert('tautan')" in detail
    await page.goto(f"{site.url}/pengaduan")
    assert tracking in await page.locator("body").inner_text()
    assert fired == []
    assert await page.evaluate("document.querySelectorAll('script:not([src]), svg, img').length") == 0


async def test_leader_dashboard_map(site: Site, page: Page, db_dsn: str) -> None:
    async with site.pool.acquire() as conn:
        await store.create(
            conn,
            store.NewComplaint(description="Jalan berlubang", kecamatan_code="33.07.09", kecamatan_name="Kertek"),
            store.Actor.citizen(),
            clock=await store.load_clock(conn),
        )
        await auth.create_user(conn, "bupati", PASSWORD, "leader")
        token, _ = await auth.login(conn, Settings(database_url=db_dsn), "bupati", PASSWORD)
    await page.context.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": site.url}])
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    await page.goto(f"{site.url}/dasbor")
    polygons = page.locator("#peta-kecamatan path.leaflet-interactive")
    await polygons.first.wait_for()
    assert await polygons.count() == 15
    assert "33.07.09" in await page.locator("body").inner_text()
    # the legend says what each colour stands for: none, and the one complaint of Kertek
    legend = page.locator("#peta-legenda-daftar li")
    await expect(legend).to_have_text(["Tidak ada pengaduan", "1 pengaduan"])
    assert missing == []
