"""The drill-down lists over HTTP: what is listed in words, the count of the figure, links to each
record, pages, CSV and Excel of the whole list, refusals in Indonesian, leaders and admins only;
and the incident record page a leader may read (a timeline, no notes)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import asyncpg
import jinja2
import openpyxl
from markupsafe import escape

from complaints.synthetic import seed_synthetic
from core.roles import Role
from core.settings import Settings
from dashboard import figures
from dashboard import tables as dt
from dashboard.period import Period
from dashboard.web import TEMPLATE_DIR
from dispatch import service
from tests.dispatch import factory
from tests.dispatch.conftest import Client, client, settings, world  # noqa: F401  (fixtures)
from tests.visible import assert_in_layout, leaks, visible_text

HTML = {"Accept": "text/html"}


def _count(html: str) -> int:
    m = re.search(r'<b id="jumlah">(\d+)</b>', html)
    assert m, html[:500]
    return int(m.group(1))


async def test_lists_count_what_the_tiles_show_and_link_each_record(
    client: Client,  # noqa: F811
    pool: asyncpg.Pool,
    world: factory.World,  # noqa: F811
    settings: Settings,  # noqa: F811
) -> None:
    now = datetime.now(UTC)
    await seed_synthetic(pool, 260, 0, now=now, batch=260, seed=5)
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        await factory.incident(conn, type="test", police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE incident_track SET acknowledged_at = now(), acknowledged_agency_id = $2 WHERE incident_id = $1""",
            made.incident_id,
            world.polsek_wonosobo,
        )
        await conn.execute(
            """INSERT INTO incident_note (incident_id, username, kind, body)
               VALUES ($1, 'op-polsek', 'note', 'pelapor Budi 0812-rahasia')""",
            made.incident_id,
        )
    leader = await client("leader")
    for t in await figures.tiles(pool, now):
        hrefs = [t.href, *(p.href for p in t.parts)]
        numbers = [t.number, *(p.number for p in t.parts)]
        for href, number in zip(hrefs, numbers, strict=True):
            r = await leader.get(href, headers=HTML)
            assert r.status == 200, (href, await r.text())
            html = await r.text()
            assert_in_layout(html, Role.LEADER)
            assert leaks(html) == [], href
            if t.definition.key.startswith("tanggap"):
                continue  # a time: the list is the acknowledged incidents it is the median of
            if t.definition.key.startswith("sla"):
                continue  # a share: the list is the dispositions it is a share of (test_recount)
            assert _count(html) == number, href

    # all complaints: pages of 100 with a link to each record and a next page
    r = await leader.get("/dasbor/rincian/pengaduan", headers=HTML)
    html = await r.text()
    assert _count(html) == 260 + 0 and 'id="berikutnya"' in html
    assert len(re.findall(r'<td><a href="/pengaduan/\d+">', html)) == 100
    r3 = await leader.get("/dasbor/rincian/pengaduan?halaman=3", headers=HTML)
    html3 = await r3.text()
    assert len(re.findall(r'<td><a href="/pengaduan/\d+">', html3)) == 60 and 'id="berikutnya"' not in html3

    # the whole list, not the page, in CSV and Excel
    csv = await (await leader.get("/dasbor/rincian/pengaduan?unduh=csv")).text()
    assert len(csv.strip().splitlines()) == 1 + 260 and csv.startswith("Nomor laporan,")
    body = await (await leader.get("/dasbor/rincian/pengaduan?warna=merah&unduh=xlsx")).read()
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    async with pool.acquire() as conn:
        red = await conn.fetchval(
            "SELECT count(*) FROM complaint WHERE closed_at IS NULL AND stage IN ('verifikasi', 'tindak_lanjut') "
            "AND due_at <= now()"
        )
    assert red > 0 and sheet.max_row == 1 + red  # the headers and every red complaint

    # the incident list links to the record page: a timeline with the acknowledging agency, no notes
    r = await leader.get("/dasbor/rincian/kedaruratan?terbuka=1", headers=HTML)
    html = await r.text()
    assert _count(html) == 1  # the test alert is never listed
    assert f'href="/dasbor/rincian/kedaruratan/{made.incident_id}"' in html
    r = await leader.get(f"/dasbor/rincian/kedaruratan/{made.incident_id}", headers=HTML)
    assert r.status == 200
    page = visible_text(await r.text())
    assert "Diterima oleh Polsek Wonosobo" in page and "Alarm masuk" in page
    assert "Budi" not in page and "op-polsek" not in page and made.device_id not in page
    heading = visible_text(
        await (
            await leader.get(f"/dasbor/rincian/kedaruratan?instansi={world.polsek_wonosobo}&terbuka=1", headers=HTML)
        ).text()
    )
    assert "Kejadian darurat terbuka, diteruskan ke Polsek Wonosobo" in heading


BAD = [
    "/dasbor/rincian/pengaduan?warna=ungu",
    "/dasbor/rincian/pengaduan?status=hilang",
    "/dasbor/rincian/pengaduan?dari=2026-13-01",
    "/dasbor/rincian/pengaduan?dari=2026-12-05&sampai=2026-12-01",
    "/dasbor/rincian/pengaduan?opd=abc",
    "/dasbor/rincian/kedaruratan?jenis=test",
    "/dasbor/rincian/kedaruratan?terbuka=ya",
    "/dasbor/rincian/kedaruratan?kecamatan=%3Cscript%3E",
    "/dasbor/rincian/disposisi?hasil=semua",
    "/dasbor/rincian/disposisi?opd=999999",
    "/dasbor/rincian/pengaduan?halaman=0",
    "/dasbor/rincian/pengaduan?unduh=pdf",
    "/dasbor/rincian/kedaruratan/bukan-uuid",
    "/dasbor/rincian/kedaruratan/00000000-0000-0000-0000-000000000000",
]


async def test_bad_filters_are_refused_in_indonesian_and_only_readers_open_lists(client: Client) -> None:  # noqa: F811
    leader = await client("leader")
    for url in BAD:
        r = await leader.get(url, headers=HTML)
        assert r.status in (400, 404), url
        html = await r.text()
        assert r.content_type == "text/html" and "Traceback" not in html, url
        assert_in_layout(html, Role.LEADER)
        assert leaks(html) == [], url
    for username in ("op-polsek", "opd", "complaints", "cc"):
        s = await client(username)
        for url in ("/dasbor/rincian/pengaduan", "/dasbor/rincian/kedaruratan", "/dasbor/rincian/disposisi"):
            assert (await s.get(url, headers=HTML)).status == 403, (username, url)
    admin = await client("admin")
    assert (await admin.get("/dasbor/rincian/disposisi?hasil=terlambat", headers=HTML)).status == 200


async def test_the_tile_strip_and_tables_link_every_number_and_explain_it(
    pool: asyncpg.Pool,
    world: factory.World,  # noqa: F811
) -> None:
    """The includes helper E's page uses: ``dashboard/_tiles.html`` (context ``tiles``) and
    ``dashboard/_table.html`` (context ``t``), rendered as the page renders them (autoescape)."""
    now = datetime.now(UTC)
    await seed_synthetic(pool, 120, 0, now=now, batch=120, seed=9)
    env = jinja2.Environment(
        loader=jinja2.PrefixLoader({"dashboard": jinja2.FileSystemLoader(TEMPLATE_DIR)}), autoescape=True
    )
    tiles = await figures.tiles(pool, now)
    html = env.get_template("dashboard/_tiles.html").render(tiles=tiles)
    assert leaks(html) == []
    text = visible_text(html)
    for t in tiles:
        assert f'href="{escape(t.href)}"' in html and t.value in text, t.definition.key
        assert f'title="{escape(t.definition.counts)}"' in html  # the tooltip
        assert t.definition.title in text
        for p in t.parts:
            assert f'href="{escape(p.href)}"' in html and p.words in text
    assert html.count("<details") == len(tiles)  # the definition for touch, too
    for table in await dt.all_tables(pool, now, Period.last_days(365, now)):
        html = env.get_template("dashboard/_table.html").render(t=table)
        assert leaks(html) == [], table.name
        for row in table.cell_links():
            for href in row:
                if href:
                    assert f'<a href="{escape(href)}">' in html, (table.name, href)
        if table.rows and table.figures:
            assert "title=" in html, table.name
    opd = next(t for t in await dt.all_tables(pool, now, Period.last_days(365, now)) if t.name == "opd")
    assert opd.rows and all(links[2] and "hasil=jatuh_tempo" in links[2] for links in opd.cell_links())
