"""The console through a busy shift, in a real (headless) browser: waiting timers, filters and
search, keys, selection shared with the map, deep links, the sound prompt, confirmed closing moves
and the hand-over to complaints, all in Bahasa Indonesia."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Locator, Page, expect

from core import labels
from core.settings import Settings
from dispatch import service
from siaga.webapp import create_app
from tests.browser import sign_in
from tests.dispatch import factory
from tests.support import serving, wait_for

pytestmark = pytest.mark.browser

# small thresholds, so a card turns yellow and red within the test
FIRST_S = 4
SECOND_S = 8


@pytest.fixture
def settings(db_dsn: str) -> Settings:
    return Settings(
        database_url=db_dsn,
        escalate_supervisor_s=FIRST_S,
        escalate_command_centre_s=SECOND_S,
        on_scene_flag_s=900,
        dispatch_poll_s=0.2,
    )


@pytest.fixture
async def server(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The whole app (with the complaint pipeline, so a hand-over opens a complaint)."""
    async with serving(create_app(settings, pool)) as base:
        yield base


async def _incident(pool: asyncpg.Pool, settings: Settings, agency: int, **kw: object) -> factory.Made:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=agency, **kw)  # type: ignore[arg-type]
    await service.route_pending(pool, settings)
    return made


def _row(page: Page, made: factory.Made) -> Locator:
    return page.locator(f'#incident-list li[data-id="{made.incident_id}"]')


async def _state(pool: asyncpg.Pool, made: factory.Made) -> str:
    return await pool.fetchval("SELECT state FROM incident WHERE id = $1", made.incident_id)


async def test_the_waiting_timer_turns_yellow_then_red_at_the_escalation_thresholds(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    # made after sign-in, so the card is seen from its first second; the stream brings it
    made = await _incident(pool, settings, world.polsek_wonosobo)
    wait = _row(page, made).locator(".wait")
    await expect(wait).to_have_attribute("data-level", "normal", timeout=3000)
    await expect(wait).to_have_text(re.compile(r"^Menunggu 00:0\d$"))
    await expect(wait).to_have_attribute("data-level", "kuning", timeout=(FIRST_S + 2) * 1000)
    await expect(wait).to_have_class(re.compile(r"\bwait-kuning\b"))
    # the colour is said in words too, not by colour alone
    await expect(wait).to_contain_text("Kuning: lewat batas Supervisor")
    await expect(wait).to_have_attribute("data-level", "merah", timeout=(SECOND_S - FIRST_S + 2) * 1000)
    await expect(wait).to_contain_text("Merah: lewat batas Pusat kendali")
    await expect(wait).to_have_class(re.compile(r"\bwait-merah\b"))


async def test_filters_and_search_narrow_the_list(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    town = await _incident(pool, settings, world.polsek_wonosobo)
    fire = await _incident(pool, settings, world.polsek_wonosobo, type="fire", lat=-7.37, lon=109.91)
    kertek = await _incident(pool, settings, world.polsek_kertek, lat=-7.38, lon=109.92)
    await pool.execute(
        "UPDATE incident SET desa_name = 'Kalikajar', kecamatan_name = 'Kertek' WHERE id = $1", kertek.incident_id
    )
    await sign_in(page, server, "supervisor", factory.PASSWORD)
    count = page.locator("#open-count")
    await expect(count).to_have_text("3 dari 3")

    await page.select_option("#f-type", label="Kebakaran")
    await expect(count).to_have_text("1 dari 3")
    await expect(_row(page, fire)).to_be_visible()
    await page.select_option("#f-type", value="")

    await page.select_option("#f-kecamatan", label="Kertek")
    await expect(count).to_have_text("1 dari 3")
    await expect(_row(page, kertek)).to_be_visible()
    await page.select_option("#f-kecamatan", value="")

    await page.select_option("#f-agency", label="Polsek Kertek")
    await expect(count).to_have_text("1 dari 3")
    await expect(_row(page, kertek)).to_be_visible()
    await page.select_option("#f-agency", value="")

    await page.select_option("#f-state", label="Diterima")
    await expect(count).to_have_text("0 dari 3")
    await expect(page.locator("#empty-filter")).to_be_visible()
    await page.select_option("#f-state", value="")

    for query, found in [(town.device_id, town), (f"#{fire.number}", fire), ("kalikajar", kertek)]:
        await page.fill("#f-search", query)
        await expect(count).to_have_text("1 dari 3")
        await expect(_row(page, found)).to_be_visible()
    await page.fill("#f-search", "")
    await expect(count).to_have_text("3 dari 3")


async def test_keys_move_through_the_cards_and_acknowledge_the_selected_one(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    first = await _incident(pool, settings, world.polsek_wonosobo)
    second = await _incident(pool, settings, world.polsek_wonosobo, lat=-7.37, lon=109.91)
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    await expect(_row(page, second)).to_be_visible()
    selected = re.compile(r"\bselected\b")

    await page.keyboard.press("j")
    await expect(_row(page, first)).to_have_class(selected)
    await page.keyboard.press("j")
    await expect(_row(page, second)).to_have_class(selected)
    await expect(_row(page, first)).not_to_have_class(selected)
    await page.keyboard.press("ArrowUp")
    await expect(_row(page, first)).to_have_class(selected)
    await expect(page.locator("#d-title")).to_contain_text(f"#{first.number}")

    # while typing in the search box the keys are letters, not commands
    await page.keyboard.press("/")
    await expect(page.locator("#f-search")).to_be_focused()
    await page.keyboard.type("a")
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Escape")
    await expect(page.locator("#f-search")).not_to_be_focused()
    assert await _state(pool, first) == "new"

    await page.keyboard.press("a")
    await expect(page.locator("#d-state")).to_have_text("Diterima")

    async def acknowledged() -> bool:
        return await _state(pool, first) == "acknowledged"

    await wait_for(acknowledged, timeout=5, what="first incident acknowledged by key")
    assert await _state(pool, second) == "new"

    await page.keyboard.press("d")
    await expect(page.locator("#dispatch-form")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#dispatch-form")).to_be_hidden()

    await page.keyboard.press("?")
    help_dialog = page.locator("#help-dialog")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("Terima insiden terpilih")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()


async def test_a_marker_click_selects_its_card_and_a_deep_link_selects_on_load(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    west = await _incident(pool, settings, world.polsek_wonosobo, lat=-7.36, lon=109.85)
    east = await _incident(pool, settings, world.polsek_wonosobo, lat=-7.36, lon=109.95)
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    await expect(_row(page, east)).to_be_visible()
    await page.click(f'#map path.incident-marker[data-id="{east.incident_id}"]')
    await expect(_row(page, east)).to_have_class(re.compile(r"\bselected\b"))
    await expect(page.locator("#d-title")).to_contain_text(f"#{east.number}")
    await expect(page.locator(f'#map path.incident-marker.selected[data-id="{east.incident_id}"]')).to_have_count(1)
    assert page.url.endswith(f"/console#insiden-{east.incident_id}")

    await page.goto(f"{server}/console#insiden-{west.incident_id}")
    await page.reload()
    await expect(_row(page, west)).to_have_class(re.compile(r"\bselected\b"))
    await expect(page.locator("#d-title")).to_contain_text(f"#{west.number}")
    await expect(page.locator(f'#map path.incident-marker.selected[data-id="{west.incident_id}"]')).to_have_count(1)


async def test_the_sound_prompt_is_shown_at_sign_in_and_the_state_toggles(
    server: str, world: factory.World, page: Page
) -> None:
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    toggle = page.locator("#sound-toggle")
    await expect(page.locator("#sound-prompt")).to_be_visible()
    await expect(toggle).to_have_text("Bunyi: mati")
    await page.click("#sound-enable")
    await expect(page.locator("#sound-prompt")).to_be_hidden()
    await expect(toggle).to_have_text("Bunyi: aktif")
    await toggle.click()
    await expect(toggle).to_have_text("Bunyi: mati")
    await toggle.click()
    await expect(toggle).to_have_text("Bunyi: aktif")


async def test_a_false_alarm_needs_a_note(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    made = await _incident(pool, settings, world.polsek_wonosobo)
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    await _row(page, made).click()
    await page.click('#d-actions button[data-to="acknowledged"]')
    await expect(page.locator("#d-state")).to_have_text("Diterima")

    await page.click('#d-actions button[data-to="false_alarm"]')
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await page.click("#confirm-submit")
    await expect(page.locator("#confirm-error")).to_have_text("Tulis alasannya di kotak catatan.")
    assert await _state(pool, made) == "acknowledged"
    await page.click("#confirm-cancel")
    await expect(dialog).to_be_hidden()
    assert await _state(pool, made) == "acknowledged"

    await page.click('#d-actions button[data-to="false_alarm"]')
    await page.fill("#confirm-note", "anak bermain tombol")
    await page.click("#confirm-submit")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#d-state")).to_have_text("Alarm palsu")
    assert await _state(pool, made) == "false_alarm"
    note = await pool.fetchval(
        "SELECT body FROM incident_note WHERE incident_id = $1 ORDER BY id DESC LIMIT 1", made.incident_id
    )
    assert note == "anak bermain tombol"


async def test_a_hand_over_needs_a_category_and_links_complaint_and_incident(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    category = await pool.fetchval(
        """INSERT INTO complaint_category (code, name, group_name, default_opd_id)
           VALUES ('lampu-jalan', 'Lampu jalan mati', 'Prasarana', $1) RETURNING id""",
        world.opd,
    )
    made = await _incident(pool, settings, world.polsek_wonosobo)
    await sign_in(page, server, "cc", factory.PASSWORD)
    await _row(page, made).click()
    await page.click('#d-actions button[data-to="handed_to_complaints"]')
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    description = page.locator("#handover-description")
    await expect(description).to_have_value(re.compile(r"^Darurat \(tombol panik\) di Wonosobo Timur, Kec\. Wonosobo"))

    await page.fill("#confirm-note", "bukan darurat, lampu jalan mati")
    await page.click("#confirm-submit")
    await expect(page.locator("#confirm-error")).to_have_text("Pilih kategori pengaduan.")
    assert await _state(pool, made) == "new"

    await page.select_option("#handover-category", label="Lampu jalan mati")
    await page.fill("#handover-description", "Lampu jalan di depan pasar mati sejak kemarin.")
    await page.click("#confirm-submit")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#d-state")).to_have_text("Diteruskan ke pengaduan")

    row = await pool.fetchrow(
        """SELECT i.state, i.complaint_id, c.incident_id, c.category_id, c.description
             FROM incident i JOIN complaint c ON c.id = i.complaint_id WHERE i.id = $1""",
        made.incident_id,
    )
    assert row is not None and row["state"] == "handed_to_complaints"
    assert row["incident_id"] == made.incident_id and row["category_id"] == category
    assert row["description"].startswith("Lampu jalan di depan pasar mati sejak kemarin.")
    link = page.locator("#d-complaint-link")
    await expect(link).to_have_attribute("href", f"/pengaduan/{row['complaint_id']}")


# English a console once showed (Leaflet's controls, the browser's fetch errors, JS's empties)
_ENGLISH = ("Zoom", "Leaflet", "undefined", "null", "NaN", "Failed", "Error", "Loading", "Sound", "incident.")


async def test_the_console_shows_no_english_and_no_internal_code(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    made = await _incident(pool, settings, world.polsek_wonosobo)
    await _incident(pool, settings, world.polsek_wonosobo, type="crime", lat=-7.37, lon=109.91)
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    await _row(page, made).click()
    await page.click('#d-actions button[data-to="acknowledged"]')
    await expect(page.locator("#d-state")).to_have_text("Diterima")
    await page.click('#d-actions button[data-to="dispatched"]')
    await page.select_option("#dispatch-unit", label="Patroli 1")
    await page.click("#dispatch-submit")
    await expect(page.locator("#d-state")).to_have_text("Unit dikirim")
    await expect(page.locator("#history")).to_contain_text("Unit dikirim")

    text = await page.inner_text("body")
    codes = {code for group in labels.GROUPS.values() for code in group if "_" in code}
    assert not [c for c in codes if re.search(rf"\b{re.escape(c)}\b", text)], text
    assert not [w for w in _ENGLISH if w in text], text
    assert await page.get_attribute(".leaflet-control-zoom-in", "title") == "Perbesar"
    assert await page.get_attribute(".leaflet-control-zoom-out", "title") == "Perkecil"
    assert "Leaflet" not in await page.inner_text(".leaflet-control-container")
    await expect(page.locator("#d-source")).to_have_text("GPS · ±12 m")


async def test_resolving_asks_first_and_takes_an_empty_note(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World, page: Page
) -> None:
    made = await _incident(pool, settings, world.polsek_wonosobo)
    await sign_in(page, server, "op-polsek", factory.PASSWORD)
    await _row(page, made).click()
    await page.keyboard.press("a")
    await expect(page.locator("#d-state")).to_have_text("Diterima")
    await page.keyboard.press("d")
    await page.select_option("#dispatch-unit", label="Patroli 1")
    await page.click("#dispatch-submit")
    await expect(page.locator("#d-state")).to_have_text("Unit dikirim")
    await page.click('#d-actions button[data-to="resolved"]')
    # one click only opens the question; nothing is closed yet
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await expect(page.locator("#confirm-note-label")).to_have_text("Catatan (boleh kosong)")
    assert await _state(pool, made) == "dispatched"
    await page.click("#confirm-submit")
    await expect(page.locator("#d-state")).to_have_text("Selesai")
    assert await _state(pool, made) == "resolved"
    await expect(_row(page, made)).to_have_count(0)
