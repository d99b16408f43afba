"""The leader's page in a real browser (Debian chromium, headless) at 1366×768: every chart is
drawn, the tiles and the first two charts are on the first screen, the map shows its legend and
follows its toggles, and nothing errs or is fetched from outside the machine. Screenshots of the
first screen and of the whole page go to var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

pytest.importorskip("playwright.async_api", reason="pip install playwright (no browser download needed)")

from playwright.async_api import Page, expect

from complaints.synthetic import seed_synthetic
from dashboard import charts, figures
from dashboard.period import Period, today
from tests.browser import browser, page  # noqa: F401  (fixtures)
from tests.dispatch import factory
from tests.dispatch.conftest import settings, world  # noqa: F401  (fixtures)
from tests.journeys.checks import _READ_ATTRIBUTES_JS, untranslated

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
FIRST_SCREEN = 768


@pytest.mark.browser
async def test_the_leader_sees_tiles_and_charts_first(
    page: Page,  # noqa: F811
    server: str,
    pool: asyncpg.Pool,
    world: factory.World,  # noqa: F811
) -> None:
    await seed_synthetic(pool, 800, 500, seed=8)
    # the synthetic emergencies were acknowledged by no one in particular: credit two agencies
    await pool.execute(
        """UPDATE incident_track t
              SET acknowledged_agency_id = CASE WHEN i.number % 2 = 0 THEN $1::bigint ELSE $2::bigint END,
                  dispatched_at = t.acknowledged_at + interval '2 minutes',
                  on_scene_at = t.acknowledged_at + interval '14 minutes',
                  closed_at = t.acknowledged_at + interval '50 minutes'
             FROM incident i WHERE i.id = t.incident_id""",
        world.polres,
        world.dishub,
    )
    await page.set_viewport_size({"width": 1366, "height": FIRST_SCREEN})
    await page.goto(f"{server}/login")
    await page.fill("#username", "leader")
    await page.fill("#password", factory.PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state("load")
    await page.goto(f"{server}/dasbor?hari=90")

    # every chart is drawn: an SVG with bars or points, each with its tooltip
    for name in charts.CHART_NAMES:
        svg = page.locator(f"#grafik-{name} svg")
        await expect(svg).to_be_visible()
        box = await svg.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, name
    for name in ("kedaruratan", "pengaduan", "merah", "tahap"):
        assert await page.locator(f"#grafik-{name} svg g.bar title, #grafik-{name} svg g.dots title").count() > 0

    # the first screen: the tiles and at least two charts end above 768 px
    tiles = page.locator("#ubin")
    box = await tiles.bounding_box()
    assert box is not None and box["y"] + box["height"] <= FIRST_SCREEN, box
    # every tile is on the page, each with its number a link to the rows behind it
    expected = await figures.tiles(pool, datetime.now(UTC))
    assert len(expected) >= 6
    assert await page.locator("#ubin article.ubin").count() == len(expected)
    assert await page.locator("#ubin article.ubin p.ubin-angka a[href^='/dasbor/rincian/']").count() == len(expected)
    on_first = 0
    for name in charts.CHART_NAMES:
        b = await page.locator(f"#grafik-{name} svg").bounding_box()
        if b is not None and b["y"] + b["height"] <= FIRST_SCREEN:
            on_first += 1
    assert on_first >= 2, on_first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "dasbor-layar-pertama.png"))

    # the map draws its areas and its legend, with the words of each class
    legend = page.locator("#peta-legenda-daftar")
    await expect(legend).to_be_visible()
    await expect(legend.locator("li").first).to_have_text("Tidak ada pengaduan")
    assert await legend.locator("li").count() >= 2
    await expect(page.locator("#peta-kecamatan path.leaflet-interactive")).to_have_count(15)
    await page.check("#peta-tingkat-desa")
    await page.check("#peta-ukuran-kedaruratan")
    await expect(page.locator("#peta-kecamatan")).to_have_attribute("data-digambar", "desa-kedaruratan")
    await expect(page.locator("#peta-legenda-judul")).to_have_text("Jumlah kedaruratan per desa/kelurahan")
    await expect(legend.locator("li").first).to_have_text("Tidak ada kedaruratan")
    assert await page.locator("#peta-kecamatan path.leaflet-interactive").count() > 200
    await page.screenshot(path=str(SCREENSHOTS / "dasbor-halaman-penuh.png"), full_page=True)
    # what a person reads, tooltips included, is Bahasa Indonesia: no code, no English word
    text = await page.locator("body").inner_text()
    attributes = "\n".join(await page.evaluate(_READ_ATTRIBUTES_JS))
    assert untranslated(text) == [] and untranslated(attributes) == []
    tooltips = await page.locator("#grafik-opd svg g.bar title").all_text_contents()
    assert tooltips and all("tepat waktu" in t or "jatuh tempo" in t for t in tooltips), tooltips[:3]

    # the period selector: a chosen span redraws every chart over it
    chosen = Period(today(datetime.now(UTC)) - timedelta(days=60), today(datetime.now(UTC)) - timedelta(days=31))
    await page.fill("#periode-dari", chosen.first.isoformat())
    await page.fill("#periode-sampai", chosen.last.isoformat())
    await page.click("#periode-tampilkan")
    query = f"dari={chosen.first.isoformat()}&sampai={chosen.last.isoformat()}"
    await page.wait_for_url(f"**/dasbor?{query}")
    await expect(page.locator("#periode-kata")).to_contain_text(chosen.words())
    href = await page.locator("#unduh-grafik-kedaruratan").get_attribute("href")
    assert href == f"/dasbor/grafik/kedaruratan.svg?{query}"
    # the charts count over the chosen days: the bars' links carry days inside it only
    links = await page.locator("#grafik-kedaruratan svg a").evaluate_all(
        "els => els.map(e => e.getAttribute('xlink:href') || e.getAttribute('href'))"
    )
    assert links
    for link in links:
        q = parse_qs(urlsplit(link).query)
        assert chosen.first.isoformat() <= q["dari"][0] <= q["sampai"][0] <= chosen.last.isoformat(), link
