"""The charts as the page and the reports get them: SVG that parses, a <title> on every bar and
point, links only to the drill-down lists, nothing fetched from outside the machine; each alone
at /dasbor/grafik/<name>.svg for the leader and admin, a refusal in words for bad input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from complaints.synthetic import seed_synthetic
from dashboard import charts
from dashboard.period import Period
from tests.dashboard.test_page import HTML
from tests.dispatch.conftest import Client, client, settings, world  # noqa: F401  (fixtures)
from tests.visible import leaks

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")


def check_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # parses as XML
    assert root.tag == f"{SVG}svg"
    assert "<script" not in svg and "<?xml" not in svg
    # no address off loopback: only the two namespace names are URLs
    for url in re.findall(r"https?://[^\s\"'<>)]+", svg):
        assert url in NAMESPACES, url
    bars = [g for g in root.iter(f"{SVG}g") if {"bar", "dots"} & set((g.get("class") or "").split())]
    for g in bars:
        holder = g.find(f"{SVG}a")
        title = (holder if holder is not None else g).find(f"{SVG}title")
        assert title is not None and title.text, ET.tostring(g)[:200]
    for a in root.iter(f"{SVG}a"):
        assert a.get(XLINK, "").startswith("/dasbor/rincian/"), a.get(XLINK)
        assert a.get("target") == "_top"
    return root


@pytest.fixture
async def seeded(pool: asyncpg.Pool, world: object) -> None:  # noqa: F811
    await seed_synthetic(pool, 600, 400, seed=5)


async def test_every_chart_is_clean_svg(pool: asyncpg.Pool, seeded: None) -> None:
    now = datetime.now(UTC)
    for days in (30, 365):
        period = Period.last_days(days, now)
        drawn = await charts.all_charts(pool, period, now)
        assert [c.name for c in drawn] == list(charts.CHART_NAMES)
        for c in drawn:
            root = check_svg(c.svg)
            assert c.definition.counts and c.title == c.definition.title
            if c.name in ("kedaruratan", "pengaduan", "merah"):
                assert not c.empty, c.name
                assert root.find(f"{SVG}title").text == c.title
                titles = [
                    t.text
                    for g in root.iter(f"{SVG}g")
                    if {"bar", "dots"} & set((g.get("class") or "").split())
                    for t in g.iter(f"{SVG}title")
                ]
                assert titles and all(t and re.search(r"\d", t) for t in titles), c.name


async def test_a_report_of_an_opd_has_only_its_complaint_charts(pool: asyncpg.Pool, seeded: None) -> None:
    opd = await pool.fetchval("SELECT opd_id FROM complaint WHERE opd_id IS NOT NULL LIMIT 1")
    period = Period.last_days(90, datetime.now(UTC))
    regency = await charts.for_report(pool, period)
    own = await charts.for_report(pool, period, opd_id=opd)
    assert [c.name for c in regency] == list(charts.CHART_NAMES)
    assert [c.name for c in own] == ["merah", "pengaduan", "opd"]
    for c in own:
        check_svg(c.svg)
        for href in re.findall(r'xlink:href="([^"]+)"', c.svg):
            if c.name != "merah" or "opd=" in href:
                assert f"opd={opd}" in href, href


def test_numbers_read_with_a_decimal_comma() -> None:
    assert charts.num(1234.5) == "1.234,5" and charts.num(7, 0) == "7"
    assert charts.band(95.0).startswith("Baik") and charts.band(70.0).startswith("Cukup")
    assert charts.band(69.9).startswith("Kurang") and charts.band(None) == charts.NO_DUE


async def test_empty_period_draws_words_not_a_blank(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    for c in await charts.all_charts(pool, Period.last_days(7, now - timedelta(days=3000)), now):
        check_svg(c.svg)
        assert c.empty, c.name
        if c.name == "merah":  # no red is an answer: a line at nought, every day titled
            assert "0 disposisi kode merah" in c.svg
        else:
            assert "Belum ada data pada periode ini" in c.svg, c.name


async def test_each_chart_alone_over_http(client: Client, seeded: None) -> None:  # noqa: F811
    s = await client("leader")
    for name in charts.CHART_NAMES:
        r = await s.get(f"/dasbor/grafik/{name}.svg?hari=30")
        assert r.status == 200 and r.content_type == "image/svg+xml", name
        check_svg(await r.text())
    r = await s.get("/dasbor/grafik/tidak-ada.svg")
    assert r.status == 404
    r = await s.get("/dasbor/grafik/merah.svg?dari=2026-13-01", headers=HTML)
    assert r.status == 400 and "dari" in await r.text()
    r = await s.get("/dasbor/wilayah.json?tingkat=desa&hari=365")
    assert r.status == 200
    areas = await r.json()
    assert areas and all(len(code.split(".")) == 4 for code in areas)
    r = await s.get("/dasbor/wilayah.json?tingkat=provinsi", headers=HTML)
    assert r.status == 400
    page = await s.get("/dasbor?hari=90", headers=HTML)
    html = await page.text()
    assert page.status == 200 and leaks(html) == []
    for name in charts.CHART_NAMES:
        assert f'id="grafik-{name}"' in html
    assert 'id="periode-dari"' in html and 'aria-current="page"' in html
    opd = await (await client("op-polsek")).get("/dasbor/grafik/merah.svg")
    assert opd.status == 403
