"""One working day per role, in a real browser against the whole SIAGA: each person signs in on
``/login``, lands on their start page, does their main task and signs out with "Keluar". Every
step is checked (tests/journeys/checks.py) and photographed under ``var/screenshots/``."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.journeys.conftest import OUTSIDE_REGENCY, Journey, Journeys, Siaga

pytestmark = pytest.mark.browser


def _row(page: Page, incident: str) -> Locator:
    return page.locator(f'#incident-list li[data-id="{incident}"]')


async def _move(page: Page, to: str, shown: str, *, note: str = "") -> None:
    await page.click(f'#d-actions button[data-to="{to}"]')
    if to in ("resolved", "false_alarm"):
        # a closing move asks first, in the console's own dialog
        await expect(page.locator("#confirm-dialog")).to_be_visible()
        if note:
            await page.fill("#confirm-note", note)
        await page.click("#confirm-submit")
    await expect(page.locator("#d-state")).to_have_text(shown)


async def _connected_console(journeys: Journeys, role: str, username: str) -> Journey:
    j = await journeys.open(role)
    await j.sign_in(username, "/console")
    await expect(j.page.locator("#conn-status")).to_have_text("terhubung", timeout=10_000)
    await j.step("konsol")
    return j


async def test_operator_takes_a_button_press_from_alarm_to_resolved(journeys: Journeys, siaga: Siaga) -> None:
    j = await _connected_console(journeys, "operator", siaga.polsek_login)
    page = j.page
    incident = await siaga.press()
    row = _row(page, incident)
    await expect(row).to_be_visible(timeout=5000)
    await expect(row).to_have_class(re.compile(r"\balarm\b"))
    await j.step("alarm")

    await row.click()
    await expect(page.locator("#d-title")).to_contain_text("#")
    await _move(page, "acknowledged", "Diterima")
    await j.step("diterima")

    await page.click('#d-actions button[data-to="dispatched"]')
    await expect(page.locator("#dispatch-form")).to_be_visible()
    await page.fill("#dispatch-unit-text", "Patroli 1")
    await page.fill("#dispatch-note", "Meluncur ke alun-alun.")
    await j.step("kirim-unit")
    await page.click("#dispatch-submit")
    await expect(page.locator("#d-state")).to_have_text("Unit dikirim")
    await expect(page.locator("#notes")).to_contain_text("Patroli 1")
    await j.step("unit-dikirim")

    await _move(page, "on_scene", "Di lokasi")
    await j.step("di-lokasi")
    await _move(page, "resolved", "Selesai", note="Warga aman, petugas kembali ke pos.")
    await j.step("selesai")
    state = await siaga.pool.fetchval("SELECT state FROM incident WHERE id = $1::uuid", incident)
    assert state == "resolved"
    await j.sign_out()


async def test_supervisor_sees_a_polsek_incident_and_opens_the_roster(journeys: Journeys, siaga: Siaga) -> None:
    j = await _connected_console(journeys, "supervisor", "supervisor")
    page = j.page
    incident = await siaga.press()
    row = _row(page, incident)
    await expect(row).to_be_visible(timeout=5000)
    await row.click()
    await expect(page.locator("#d-agencies")).to_contain_text("Polsek")
    await j.step("insiden-polsek")

    await page.click('nav a[href="/piket"]')
    await page.wait_for_url(f"{siaga.url}/piket**")
    await expect(page.locator("main")).to_contain_text("Polres")
    await j.step("piket")
    await j.sign_out()


async def test_command_centre_hands_an_out_of_regency_alert_to_complaints(journeys: Journeys, siaga: Siaga) -> None:
    j = await _connected_console(journeys, "pusat-kendali", "pusat")
    page = j.page
    # no Wonosobo agency covers a place outside the regency: routing falls back to the centre
    incident = await siaga.press(OUTSIDE_REGENCY, alert_type="accident")
    row = _row(page, incident)
    await expect(row).to_be_visible(timeout=5000)
    await row.click()
    await expect(page.locator("#d-agencies")).to_contain_text("Pusat")
    await j.step("insiden-luar-wilayah")

    category = await siaga.pool.fetchrow("SELECT id, name FROM complaint_category WHERE active ORDER BY id LIMIT 1")
    await page.click('#d-actions button[data-to="handed_to_complaints"]')
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await page.locator("#handover-category").select_option(str(category["id"]))
    await page.fill("#confirm-note", "Bukan darurat: laporan kerusakan jalan di luar wilayah.")
    await j.step("serah-terima")
    await page.click("#confirm-submit")
    await expect(page.locator("#d-state")).to_have_text("Diteruskan ke pengaduan")
    await j.step("diteruskan")
    handed = await siaga.pool.fetchval(
        "SELECT c.category_id FROM incident i JOIN complaint c ON c.id = i.complaint_id WHERE i.id = $1::uuid",
        incident,
    )
    assert handed == category["id"]
    await j.sign_out()


async def test_complaint_staff_verifies_a_citizen_complaint_and_disposes_it(journeys: Journeys, siaga: Siaga) -> None:
    complaint = await siaga.citizen_complaint("Lampu jalan mati di depan pasar")
    j = await journeys.open("verifikator")
    page = j.page
    await j.sign_in("verifikator", "/pengaduan")
    link = page.locator(f'a[href="/pengaduan/{complaint["id"]}"]')
    await expect(link).to_have_text(complaint["tracking_id"])
    await j.step("antrean")

    await link.click()
    await page.wait_for_url(f"{siaga.url}/pengaduan/{complaint['id']}")
    await expect(page.locator("#judul")).to_have_text("Lampu jalan mati di depan pasar")
    await j.step("laporan")

    opd = await siaga.agency_id("opd-disperkimhub")
    form = page.locator("form:has(input[name=action][value=dispose])")
    await form.locator("select[name=opd_id]").select_option(str(opd))
    await form.locator("input[name=note]").fill("Mohon ditangani bidang penerangan jalan.")
    await j.step("disposisi")
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(f"{siaga.url}/pengaduan/{complaint['id']}")
    await expect(page.locator("main")).to_contain_text("Didisposisikan ke OPD")
    await j.step("didisposisikan")
    row = await siaga.pool.fetchrow("SELECT status, opd_id FROM complaint WHERE id = $1", complaint["id"])
    assert (row["status"], row["opd_id"]) == ("disposisi", opd)
    await j.sign_out()


async def test_opd_officer_follows_up_a_complaint_from_the_inbox(journeys: Journeys, siaga: Siaga) -> None:
    complaint = await siaga.citizen_complaint("Trotoar berlubang", dispose_to="opd-disperkimhub")
    j = await journeys.open("petugas-opd")
    page = j.page
    await j.sign_in("opd", "/pengaduan/opd")
    link = page.locator(f'a[href="/pengaduan/{complaint["id"]}"]')
    await expect(link).to_have_text(complaint["tracking_id"])
    await j.step("kotak-masuk")

    await link.click()
    await page.wait_for_url(f"{siaga.url}/pengaduan/{complaint['id']}")
    form = page.locator("form:has(input[name=action][value=follow_up])")
    await form.locator("textarea[name=text]").fill("Lubang sudah ditambal oleh tim pemeliharaan.")
    await j.step("tindak-lanjut")
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(f"{siaga.url}/pengaduan/{complaint['id']}")
    await expect(page.locator("main")).to_contain_text("Sudah ditindaklanjuti")
    await j.step("ditindaklanjuti")
    status = await siaga.pool.fetchval("SELECT status FROM complaint WHERE id = $1", complaint["id"])
    assert status == "tindak_lanjut"
    await j.sign_out()


async def test_leader_reads_the_dashboard_figures_and_map(journeys: Journeys, siaga: Siaga) -> None:
    await siaga.citizen_complaint("Jalan longsor di Kalibeber")
    j = await journeys.open("pimpinan")
    page = j.page
    await j.sign_in("bupati", "/dasbor")
    await expect(page.locator("main table").first).to_be_visible()
    assert await page.locator("main table td").count() > 0
    # the map is drawn: the library's pane and the kecamatan shapes from the figures
    await expect(page.locator("#peta-kecamatan .leaflet-pane").first).to_be_attached()
    await expect(page.locator("#peta-kecamatan path.leaflet-interactive").first).to_be_visible(timeout=10_000)
    await j.step("dasbor")
    await j.sign_out()


ADMIN_SECTIONS = (
    "/admin/pengguna",
    "/admin/perangkat",
    "/admin/unit",
    "/admin/instansi",
    "/admin/kategori",
    "/admin/cuti",
    "/admin/open311",
    "/admin/audit",
)


async def test_admin_opens_every_section_of_the_admin_home(journeys: Journeys, siaga: Siaga) -> None:
    j = await journeys.open("admin")
    page = j.page
    await j.sign_in("admin", "/admin")
    await expect(page.locator(".card").first).to_be_visible()
    await j.step("beranda")
    linked = {await a.get_attribute("href") for a in await page.locator(".card a[href], a.card[href]").all()}
    assert set(ADMIN_SECTIONS) <= linked, linked
    for path in ADMIN_SECTIONS:
        response = await page.goto(f"{siaga.url}{path}")
        assert response is not None and response.status == 200, (path, response and response.status)
        await j.step(path.rsplit("/", 1)[1])

    # the day's task: a new operator for the Polsek, who can then sign in
    await page.goto(f"{siaga.url}/admin/pengguna")
    form = page.locator("#user-add")
    await form.locator('input[name="username"]').fill("operator-baru")
    await form.locator('input[name="full_name"]').fill("Operator Baru Polsek")
    await form.locator('select[name="role"]').select_option("operator")
    polsek = await siaga.pool.fetchval("SELECT id FROM agency WHERE code = $1", siaga.polsek_login)
    await form.locator('select[name="agency_id"]').select_option(str(polsek))
    await form.locator('input[name="password"]').fill("sandi-rahasia-panjang")
    await j.step("pengguna-baru")
    await form.locator('button[type="submit"]').click()
    await expect(page.locator("main")).to_contain_text("operator-baru")
    await j.step("pengguna-tersimpan")
    role = await siaga.pool.fetchval("SELECT role FROM app_user WHERE username = 'operator-baru'")
    assert role == "operator"
    await page.goto(f"{siaga.url}/admin")
    await j.sign_out()


async def test_citizen_reports_on_the_map_and_follows_the_status(journeys: Journeys, siaga: Siaga) -> None:
    j = await journeys.open("warga")
    page = j.page
    await page.goto(f"{siaga.url}/lapor")
    await page.locator("#peta path.leaflet-interactive").first.wait_for()
    await expect(page.locator("header#top")).to_be_visible()
    await j.step("lapor")
    await page.fill("input[name=title]", "Sampah menumpuk di sungai")
    await page.fill("textarea[name=description]", "Sampah menumpuk di bawah jembatan sejak tiga hari.")
    await page.fill("input[name=reporter_name]", "Siti")
    # the map is fitted to the regency: its middle is inside it
    await page.click("#peta")
    assert await page.input_value("#lat") != ""
    await j.step("lokasi")
    await page.click("form[action='/lapor'] button[type=submit]")
    await page.wait_for_url(f"{siaga.url}/status/**")
    tracking = (await page.locator("#nomor").inner_text()).strip()
    assert re.fullmatch(r"[A-Z]{3}-[A-Z0-9]{4}-[A-Z0-9]{4}", tracking), tracking
    secret_link = await page.locator("#tautan").get_attribute("href")
    assert secret_link and tracking in secret_link
    await j.step("diterima")

    await page.goto(f"{siaga.url}{secret_link}")
    await expect(page.locator("main")).to_contain_text("Menunggu verifikasi")
    await expect(page.locator("#judul")).to_have_text("Sampah menumpuk di sungai")
    await j.step("status")
    stored = await siaga.pool.fetchrow("SELECT status, kecamatan_name FROM complaint WHERE tracking_id = $1", tracking)
    assert stored["status"] == "verifikasi" and stored["kecamatan_name"]
