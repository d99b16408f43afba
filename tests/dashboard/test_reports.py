"""The weekly PDF reports on a seeded database: what the regent's and an OPD's report say (read
back from the PDF), the Monday schedule (once per week however many dispatch processes race,
a missed Monday caught up once), the list and download pages per role, and Excel beside each CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from complaints import store
from complaints.synthetic import seed_synthetic
from core import audit, labels
from core.db import open_pool
from core.roles import Role
from core.settings import Settings
from dashboard import charts, figures, reports
from dashboard.period import Period, week_before
from dashboard.tables import opd_compliance, red_list
from tests.dispatch import factory
from tests.dispatch.conftest import Client, client, settings, world  # noqa: F401  (fixtures)
from tests.support import wait_for
from tests.visible import assert_in_layout, leaks

HTML = {"Accept": "text/html"}
# Monday 30 Nov 2026 07:00 WIB: the report of 23-29 Nov is due
MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def pdf_text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(p.extract_text() for p in reader.pages), len(reader.pages)


async def pdf_of(pool: asyncpg.Pool, report_id: int) -> bytes:
    async with pool.acquire() as conn:
        found = await reports.get_report(conn, report_id)
    assert found is not None
    return found[1]


# --- what a report says ------------------------------------------------------------------------------


@pytest.fixture
async def seeded(pool: asyncpg.Pool, world: factory.World) -> factory.World:  # noqa: F811
    await seed_synthetic(pool, 1500, 300, now=MONDAY, batch=1000, seed=11)
    return world


async def test_the_regents_report_says_what_the_dashboard_counts(pool: asyncpg.Pool, seeded: factory.World) -> None:
    period = week_before(MONDAY)
    assert period.words() == "23 Nov 2026 – 29 Nov 2026"
    leader = seeded.users["leader"]
    async with pool.acquire() as conn:
        red = await red_list(conn, MONDAY, limit=1_000_000)
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle] = []

    def beat(due: float) -> None:
        # how late a 10 ms timer fires while the PDF is drawn: the loop must keep serving
        lags.append(loop.time() - due)
        timer[:] = [loop.call_at(loop.time() + 0.01, beat, loop.time() + 0.01)]

    timer.append(loop.call_at(loop.time() + 0.01, beat, loop.time() + 0.01))
    started = time.perf_counter()
    report_id = await reports.generate(pool, "bupati", period, leader.actor(), now=MONDAY)
    seconds = time.perf_counter() - started
    timer[0].cancel()
    assert report_id is not None
    pdf = await pdf_of(pool, report_id)
    assert pdf.startswith(b"%PDF")
    text, pages = pdf_text(pdf)
    print(f"\nregent's report: {pages} pages, {len(pdf) / 1024:.0f} KB in {seconds:.2f} s; ", end="")
    print(f"event loop late by at most {max(lags) * 1000:.0f} ms over {len(lags)} beats")
    assert max(lags) < 1.0
    assert pages >= 2
    # the header of every page, the period in words, the time it was made
    assert text.count("SIAGA · Kabupaten Wonosobo") == pages
    assert f"Halaman {pages} dari {pages}" in text
    assert "23 Nov 2026 – 29 Nov 2026" in text and f"Dibuat {labels.wib(MONDAY)}" in text
    # the tiles: title, value, detail and the tone in words beside its colour
    words = " ".join(text.split())
    tiles = await figures.tiles(pool, MONDAY)
    assert "Sekilas" in words and tiles
    for t in tiles:
        assert f"{t.definition.title} {t.value}" in words, t.definition.key
    # the dashboard's charts are drawn: their titles, and inside the SVG a status of the legend in
    # words, are text in the PDF
    drawn = await charts.for_report(pool, period)
    assert {c.name for c in drawn} >= {"kedaruratan", "pengaduan", "merah"}
    for c in drawn:
        assert " ".join(c.title.split()) in words, c.key
    async with pool.acquire() as conn:
        statuses = [r["status"] for r in await conn.fetch("SELECT DISTINCT status FROM complaint")]
    assert any(labels.label("complaint_status", st) in text for st in statuses)
    async with pool.acquire() as conn:
        league = await opd_compliance(conn, period, MONDAY)
        made = (await reports.list_reports(conn))[0]
        logged = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'report.generate'")
    # the whole red list, every tracking number
    flat = text.replace("\n", " ")
    assert len(red.rows) >= 3
    missing = [r[1] for r in red.rows if r[1] not in flat]
    assert missing == []
    # every OPD of the league table by name
    assert league.rows and [r[2] for r in league.rows if r[2] not in flat] == []
    assert (made.id, made.kind, made.scheduled, made.created_by, made.pages) == (
        report_id,
        "bupati",
        False,
        "Leader",
        pages,
    )
    assert made.filename() == "laporan-bupati-2026-11-23.pdf"
    assert logged["user_id"] == leader.id and logged["after"]["pages"] == pages
    assert labels.audit_action("report.generate") == "Laporan PDF dibuat"
    assert seconds < 10


async def test_an_opd_report_has_its_own_row_and_red_list(pool: asyncpg.Pool, seeded: factory.World) -> None:
    period = week_before(MONDAY)
    async with pool.acquire() as conn:
        red = await conn.fetch(
            """SELECT c.opd_id, a.name, c.tracking_id FROM complaint c JOIN agency a ON a.id = c.opd_id
                WHERE c.closed_at IS NULL AND c.stage = 'tindak_lanjut' AND c.due_at <= $1""",
            MONDAY,
        )
    per_opd = Counter(r["opd_id"] for r in red)
    opd_id, _ = per_opd.most_common(1)[0]
    name = next(r["name"] for r in red if r["opd_id"] == opd_id)
    started = time.perf_counter()
    assert per_opd[opd_id] >= 2
    # a long red list is printed one line per complaint (as a table it would take WeasyPrint too
    # long at thousands of rows): here past one row already, every row still there
    report_id = await reports.generate(
        pool,
        "opd",
        period,
        seeded.users["leader"].actor(),
        opd_id=opd_id,
        now=MONDAY,
        red_table_rows=1,
    )
    seconds = time.perf_counter() - started
    assert report_id is not None
    text, pages = pdf_text(await pdf_of(pool, report_id))
    print(f"\nOPD report: {pages} pages in {seconds:.2f} s")
    flat = text.replace("\n", " ")
    assert f"Laporan mingguan OPD — {name}" in flat
    assert "Pengaduan per minggu menurut status" in text
    assert "Kedaruratan per hari menurut jenis" not in text  # the OPD's own complaint charts only
    own = [r["tracking_id"] for r in red if r["opd_id"] == opd_id]
    others = [r["tracking_id"] for r in red if r["opd_id"] != opd_id]
    assert own and [t for t in own if t not in flat] == []
    assert f"{len(own)} laporan, satu baris per laporan" in flat
    assert others and [t for t in others if t in flat] == []
    # its own SLA row only: no other OPD's name in the league table
    other_names = {r["name"] for r in red if r["opd_id"] != opd_id}
    assert [n for n in other_names if n in flat and n not in name] == []


# --- the schedule ------------------------------------------------------------------------------------


@pytest.fixture
async def small_world(pool: asyncpg.Pool, world: factory.World) -> tuple[factory.World, datetime]:  # noqa: F811
    """One complaint made now, and the first Monday 07:00 WIB after now: its week is due then."""
    async with pool.acquire() as conn:
        clock = await store.load_clock(conn)
        await store.create(conn, store.NewComplaint(description="Lampu jalan mati"), store.Actor.citizen(), clock=clock)
    return world, reports.next_due(datetime.now(UTC))


async def _count(pool: asyncpg.Pool) -> list[tuple[str, int | None, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT kind, opd_id, count(*) AS n FROM dashboard_report GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST"
        )
    return [(r["kind"], r["opd_id"], r["n"]) for r in rows]


async def test_two_schedulers_racing_make_each_report_once(
    pool: asyncpg.Pool, db_dsn: str, small_world: tuple[factory.World, datetime]
) -> None:
    _, monday = small_world
    assert monday.astimezone(labels.WIB).weekday() == 0 and monday.astimezone(labels.WIB).hour == 7
    assert reports.last_due(monday) == monday and reports.last_due(monday - timedelta(seconds=1)) < monday
    async with pool.acquire() as conn:
        opd_ids = [r["id"] for r in await reports.opds(conn)]
    async with open_pool(db_dsn, min_size=1, max_size=4) as a, open_pool(db_dsn, min_size=1, max_size=4) as b:
        made = await asyncio.gather(
            reports.make_due_reports(a, monday),
            reports.make_due_reports(b, monday),
        )
    assert sorted(len(m) for m in made) == [0, 1 + len(opd_ids)]
    expected = [("bupati", None, 1)] + [("opd", o, 1) for o in sorted(opd_ids)]
    assert await _count(pool) == expected
    # once also without the lock: the week's scheduled row is unique
    again = await reports.generate(pool, "bupati", week_before(monday), audit.SYSTEM, now=monday, scheduled=True)
    assert again is None and await _count(pool) == expected
    async with pool.acquire() as conn:
        listed = await reports.list_reports(conn)
        logged = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'report.generate'")
    assert all(r.scheduled and r.created_by is None for r in listed) and logged == len(expected)
    assert {(r.first, r.last) for r in listed} == {(week_before(monday).first, week_before(monday).last)}


async def test_a_missed_monday_is_caught_up_once(
    pool: asyncpg.Pool,
    settings: Settings,  # noqa: F811
    small_world: tuple[factory.World, datetime],
) -> None:
    _, monday = small_world
    # the process was down on Monday 07:00 and starts on Wednesday
    wednesday = monday + timedelta(days=2, hours=3)
    async with pool.acquire() as conn:
        wanted = 1 + len(await reports.opds(conn))
    for _ in range(2):  # a restart later the same week makes nothing again
        stop = asyncio.Event()
        task = asyncio.create_task(reports.run_report_schedule(settings, pool, stop, clock=lambda: wednesday))
        try:
            await wait_for(lambda: _made_all(pool, wanted), timeout=60, what="the missed week's reports")
        finally:
            stop.set()
            async with asyncio.timeout(30):
                await task
        assert sum(n for *_, n in await _count(pool)) == wanted
    # before SIAGA held any record there is nothing to report: a week earlier is never made
    assert await reports.make_due_reports(pool, monday - timedelta(days=7)) == []


async def _made_all(pool: asyncpg.Pool, wanted: int) -> bool:
    return sum(n for *_, n in await _count(pool)) >= wanted


async def test_a_report_that_fails_to_draw_is_tried_again(
    pool: asyncpg.Pool,
    settings: Settings,  # noqa: F811
    small_world: tuple[factory.World, datetime],
) -> None:
    """The schedule runs inside the dispatch role: a failing pass is logged and retried after a
    backoff, it does not end the task (which would end the process that routes emergencies)."""
    _, monday = small_world
    calls: list[int | None] = []

    async def fails_once(pool: asyncpg.Pool, period: Period, opd_id: int | None = None) -> list[charts.Chart]:
        calls.append(opd_id)
        if len(calls) == 1:
            raise RuntimeError("the chart could not be drawn")
        return await charts.for_report(pool, period, opd_id=opd_id)

    async with pool.acquire() as conn:
        wanted = 1 + len(await reports.opds(conn))
    stop = asyncio.Event()
    schedule = reports.run_report_schedule(settings, pool, stop, charts=fails_once, clock=lambda: monday)
    task = asyncio.create_task(schedule)
    try:
        await wait_for(lambda: _made_all(pool, wanted), timeout=60, what="the reports after a failed pass")
        assert not task.done()
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task
    assert calls[0] is None and calls.count(None) == 2  # the regent's report failed once, then was made
    assert sum(n for *_, n in await _count(pool)) == wanted


async def test_the_schedule_can_be_turned_off(pool: asyncpg.Pool, db_dsn: str) -> None:
    stop = asyncio.Event()
    off = Settings(database_url=db_dsn, report_schedule=False)
    # returns at once without waiting for stop
    async with asyncio.timeout(5):
        await reports.run_report_schedule(off, pool, stop)


# --- the pages -----------------------------------------------------------------------------------------


async def test_the_list_and_downloads_per_role(
    pool: asyncpg.Pool,
    client: Client,  # noqa: F811
    small_world: tuple[factory.World, datetime],
) -> None:
    seeded_world, _ = small_world
    # the complaint came two weeks ago, so last week's reports are already due and made in the past
    monday = reports.last_due(datetime.now(UTC))
    async with pool.acquire() as conn:
        await conn.execute("UPDATE complaint SET received_at = received_at - interval '14 days'")
        other_opd = await conn.fetchval(
            "INSERT INTO agency (code, kind, name) VALUES ('t-dinkes', 'opd', 'Dinas Kesehatan') RETURNING id"
        )
        await conn.execute(
            """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
               VALUES ('opd-lain', 'Petugas Dinkes', $1, 'opd_officer', $2)""",
            await factory._password_hash(),
            other_opd,
        )
    made = await reports.make_due_reports(pool, monday)
    async with pool.acquire() as conn:
        listed = {(r.kind, r.opd_id): r for r in await reports.list_reports(conn)}
    assert len(made) == len(listed) >= 3
    bupati, pupr, dinkes = listed[("bupati", None)], listed[("opd", seeded_world.opd)], listed[("opd", other_opd)]

    leader = await client("leader")
    # make one now: the form posts kind, OPD and period, then the list shows it first
    r = await leader.post(
        "/dasbor/laporan",
        data={"jenis": "opd", "opd": str(seeded_world.opd), "dari": "2026-11-01", "sampai": "2026-11-30"},
        headers=HTML,
    )
    assert r.status == 200 and "/dasbor/laporan" in str(r.url), await r.text()
    html = await r.text()
    async with pool.acquire() as conn:
        newest = (await reports.list_reports(conn))[0]
    assert newest.kind == "opd" and newest.opd_id == seeded_world.opd and not newest.scheduled
    assert newest.period.words() == "1 Nov 2026 – 30 Nov 2026" and newest.created_by == "Leader"
    for rep in (newest, bupati, pupr, dinkes):
        assert f'href="/dasbor/laporan/{rep.id}.pdf"' in html
    assert html.index(f"laporan-{newest.id}") < html.index(f"laporan-{bupati.id}")
    assert "terjadwal" in html and "1 Nov 2026 – 30 Nov 2026" in html and "Buat laporan sekarang" in html
    assert_in_layout(html, Role.LEADER)
    assert leaks(html) == []
    r = await leader.get(f"/dasbor/laporan/{bupati.id}.pdf")
    assert r.status == 200 and r.content_type == "application/pdf"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{bupati.filename()}"'
    assert (await r.read()).startswith(b"%PDF")
    # bad input: a refusal in words, never a 500
    r = await leader.post("/dasbor/laporan", data={"jenis": "semua"}, headers=HTML)
    assert r.status == 400 and "jenis" in await r.text()
    r = await leader.post("/dasbor/laporan", data={"jenis": "opd", "opd": "999999"}, headers=HTML)
    assert r.status == 400
    r = await leader.post("/dasbor/laporan", data={"jenis": "bupati", "dari": "2026-12-01", "sampai": "2026-11-01"})
    assert r.status == 400
    assert (await leader.get("/dasbor/laporan/9999999.pdf")).status == 404

    # the OPD officer of Dinas PUPR: their own OPD's reports, nothing else
    opd = await client("opd")
    html = await (await opd.get("/dasbor/laporan", headers=HTML)).text()
    assert f'href="/dasbor/laporan/{pupr.id}.pdf"' in html and f"/dasbor/laporan/{newest.id}.pdf" in html
    assert f"/dasbor/laporan/{bupati.id}.pdf" not in html and f"/dasbor/laporan/{dinkes.id}.pdf" not in html
    assert 'id="form-laporan"' not in html
    assert_in_layout(html, Role.OPD_OFFICER)
    r = await opd.get(f"/dasbor/laporan/{pupr.id}.pdf")
    assert r.status == 200 and "laporan-opd-dinas-pupr-" in r.headers["Content-Disposition"]
    for refused in (bupati, dinkes):
        assert (await opd.get(f"/dasbor/laporan/{refused.id}.pdf")).status == 404
    assert (await opd.post("/dasbor/laporan", data={"jenis": "bupati"})).status == 403
    # the officer of another OPD cannot read Dinas PUPR's
    other = await client("opd-lain")
    assert (await other.get(f"/dasbor/laporan/{pupr.id}.pdf")).status == 404
    assert (await other.get(f"/dasbor/laporan/{dinkes.id}.pdf")).status == 200
    # no one else
    for username in ("op-polsek", "complaints"):
        s = await client(username)
        assert (await s.get("/dasbor/laporan", headers=HTML)).status == 403
        assert (await s.get(f"/dasbor/laporan/{bupati.id}.pdf")).status == 403


# --- Excel beside each CSV -------------------------------------------------------------------------


def _as_csv(v: object) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # Excel keeps 50.0 as the number 50
    return "" if v is None else str(v)


def _number_as_excel(cell: str) -> str:
    try:
        n = float(cell)
    except ValueError:
        return cell
    return str(int(n)) if n.is_integer() and "." in cell else cell


async def test_each_excel_file_has_the_csvs_rows(
    pool: asyncpg.Pool,
    client: Client,  # noqa: F811
    world: factory.World,  # noqa: F811
) -> None:
    await seed_synthetic(pool, 300, 80, batch=300, seed=5)
    s = await client("leader")
    html = await (await s.get("/dasbor?hari=365", headers=HTML)).text()
    for name in ("status", "warna", "opd", "merah", "kecamatan", "tren", "tanggap", "kehadiran", "piket"):
        csv_rows = list(csv.reader(io.StringIO(await (await s.get(f"/dasbor/{name}.csv?hari=365")).text())))
        r = await s.get(f"/dasbor/{name}.xlsx?hari=365")
        assert r.status == 200 and r.headers["Content-Disposition"] == f'attachment; filename="siaga-{name}.xlsx"'
        ws = load_workbook(io.BytesIO(await r.read())).active
        rows = [[c.value for c in row] for row in ws.iter_rows()]
        # headers in words, one per CSV column
        assert len(rows[0]) == len(csv_rows[0]) and not any("_" in str(h) for h in rows[0] if h != "opd_id"), name
        body = [[_as_csv(v) for v in row] for row in rows[1:]]
        # the CSV quotes a cell that would be a formula; Excel keeps it as text
        expected = [[c[1:] if c.startswith("'") else _number_as_excel(c) for c in row] for row in csv_rows[1:]]
        assert body == expected, name
        if name in ("opd", "merah", "status", "kecamatan"):
            assert body, name
        # beside the CSV on the page, for the page's period
        assert f'href="/dasbor/{name}.xlsx?dari=' in html and f'href="/dasbor/{name}.csv?dari=' in html, name
