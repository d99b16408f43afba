"""Stored and reflected XSS in a real headless Chromium: a script payload in every user-controlled
field that a page renders, and every page that renders them; nothing runs, the text shows as typed.

Fields: incident note, device label, desa name, dispatched unit, agency and OPD names, user full
names, complaint title/description/reporter name/address, category name, disposition note,
follow-up text, teguran text and issuer, roster shift name, and the roster page's message parameter.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Dialog, Page

from complaints import store
from core import auth
from dispatch import service
from tests.dispatch import factory
from tests.security.conftest import Site, bearer

pytestmark = pytest.mark.browser


def evil(tag: str) -> str:
    """A payload that runs if any part of it is parsed as HTML; ``tag`` finds it on the page."""
    return f"{tag}<img src=x onerror=alert('{tag}')><script>alert('{tag}')</script>'\"><svg onload=alert(1)>"


INJECTED = "document.querySelectorAll('img[src=\"x\"], svg[onload], script:not([src]):not([type])').length"


async def _seed(site: Site) -> dict[str, str]:
    """Every field filled with its payload, through the app's own forms and API where there is one."""
    w = site.world
    pool = site.pool
    async with pool.acquire() as conn:
        await conn.execute("UPDATE app_user SET full_name = $1", evil("US"))
        await conn.execute("UPDATE agency SET name = $2 WHERE id = $1", w.polsek_wonosobo, evil("AG"))
        await conn.execute("UPDATE agency SET name = $2 WHERE id = $1", w.opd, evil("OP"))
        await conn.execute("UPDATE agency_unit SET name = $2 WHERE id = $1", w.patrol_unit, evil("UN"))
        made = await factory.incident(conn, police_agency_id=w.polsek_wonosobo)
        await conn.execute("UPDATE device SET name = $2 WHERE id = $1", made.device_id, evil("DV"))
        await conn.execute("UPDATE incident SET desa_name = $2 WHERE id = $1", made.incident_id, evil("DS"))
        category = await store.create_category(conn, "kat-xss", evil("KT"), group_name="Uji", default_opd_id=w.opd)
    await service.route_pending(pool, site.settings)

    cc, _ = await site.mint("command_centre")
    supervisor, _ = await site.mint("supervisor")
    async with aiohttp.ClientSession(base_url=site.url) as http:
        base = f"/api/v1/incidents/{made.incident_id}"
        for path, body in (
            (f"{base}/notes", {"body": evil("NT")}),
            (f"{base}/transition", {"to": "acknowledged"}),
            (f"{base}/transition", {"to": "dispatched", "unit_id": w.patrol_unit}),
        ):
            r = await http.post(path, json=body, headers=bearer(cc))
            assert r.status in (200, 201), await r.text()
        roster = f"/api/v1/roster/{w.polsek_wonosobo}"
        r = await http.put(
            f"{roster}/shifts/pagi",
            json={"name": evil("SH"), "starts": "07:00", "hours": 8},
            headers=bearer(supervisor),
        )
        assert r.status in (200, 201), await r.text()
        today = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
        r = await http.post(
            f"{roster}/entries",
            json={"day": today, "shift": "pagi", "username": "op-polsek"},
            headers=bearer(supervisor),
        )
        assert r.status in (200, 201), await r.text()
        # citizens' complaints, through the public form: one to work on, one left in the queue
        for _ in range(2):
            r = await http.post(
                "/lapor",
                data={
                    "kind": "pengaduan",
                    "category_id": str(category),
                    "title": evil("JD"),
                    "description": evil("IS"),
                    "address": evil("AL"),
                    "reporter_name": evil("PL"),
                },
                allow_redirects=False,
            )
            assert r.status == 303, await r.text()
            tracking = r.headers["Location"].split("/status/")[1].split("?")[0]
            status_link = r.headers["Location"]  # carries the reporter's secret: the follow-up is shown with it
    complaint_id = await pool.fetchval("SELECT id FROM complaint WHERE tracking_id = $1", tracking)
    # the desk disposes it and the OPD follows up, each from its own form
    for role, data in (
        ("complaint_staff", {"action": "dispose", "opd_id": str(w.opd), "note": evil("CT")}),
        ("opd_officer", {"action": "follow_up", "text": evil("TL")}),
    ):
        s, csrf = await site.cookie_client(role)
        async with s:
            r = await s.post(
                f"/pengaduan/{complaint_id}/aksi", data={**data, "csrf_token": csrf}, allow_redirects=False
            )
            assert r.status == 303, (role, r.status, await r.text())
    # a teguran needs a red complaint (days late): written as the leader's form would
    await pool.execute(
        """INSERT INTO teguran (opd_id, issued_by, issued_by_name, issued_at, text, complaint_ids)
           VALUES ($1, $2, $3, now(), $4, ARRAY[$5::bigint])""",
        w.opd,
        w.users["leader"].id,
        evil("LD"),
        evil("TG"),
        complaint_id,
    )
    return {
        "incident": str(made.incident_id),
        "complaint": str(complaint_id),
        "tracking": tracking,
        "status_link": status_link,
    }


async def test_no_user_controlled_field_runs_as_script_on_any_page(site: Site, page: Page) -> None:
    ids = await _seed(site)
    fired: list[str] = []

    async def on_dialog(d: Dialog) -> None:
        fired.append(d.message)
        await d.dismiss()

    page.on("dialog", on_dialog)
    # the detectors work: the same payload parsed as HTML is seen (and its dialogs are caught)
    await page.set_content("<p>" + evil("CTRL").replace("<img src=x onerror=alert('CTRL')>", "") + "</p>")
    assert await page.evaluate(INJECTED) == 2 and "CTRL" in fired
    fired.clear()
    month = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    polsek = site.world.polsek_wonosobo
    visits: list[tuple[str | None, str, set[str]]] = [
        ("command_centre", "/console", {"US", "DV", "NT", "UN", "AG", "DS"}),
        ("supervisor", f"/piket?instansi={polsek}&bulan={month}&pesan={evil('RF')}", {"SH", "AG", "RF"}),
        ("complaint_staff", "/pengaduan", {"JD", "KT"}),
        ("complaint_staff", f"/pengaduan/{ids['complaint']}", {"JD", "IS", "PL", "AL", "KT", "OP", "CT", "TL"}),
        ("opd_officer", "/pengaduan/opd", {"OP", "JD", "TG", "LD"}),
        ("leader", "/dasbor", {"OP"}),
        ("admin", "/admin/kategori", {"KT", "OP"}),
        ("admin", "/admin/unit", {"UN", "AG"}),
        ("admin", "/admin/instansi", {"AG", "OP"}),
        (None, ids["status_link"], {"JD", "IS", "OP", "TL"}),
        (None, "/lapor", {"KT"}),
    ]
    problems: list[str] = []
    for role, path, tags in visits:
        await page.context.clear_cookies()
        if role is not None:
            token, _ = await site.mint(role, kind="web")
            await page.context.add_cookies([{"name": auth.SESSION_COOKIE, "value": token, "url": site.url}])
        await page.goto(site.url + path)
        if path == "/console":
            await page.click(f'#incident-list li[data-id="{ids["incident"]}"]')
            await page.locator("#notes .note-body").first.wait_for()
        text = await page.locator("body").inner_text()
        for tag in sorted(tags):
            if evil(tag) not in text and f"{tag}<img src=x" not in text:
                problems.append(f"{path} as {role}: {tag} not shown as text")
        if (n := await page.evaluate(INJECTED)) != 0:
            problems.append(f"{path} as {role}: {n} injected elements")
    assert fired == [], fired
    assert not problems, "\n".join(problems)
