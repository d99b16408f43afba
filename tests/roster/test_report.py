"""The shift report reconciles exactly with the incident rows: every alert counted once per agency
it was routed to, in the one shift instance (WIB, across midnight, month and year ends) that
contains it; time to acknowledge, escalations and the hours no console was present."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

import aiohttp
import asyncpg
from aiohttp import web

from core import audit
from core.settings import Settings
from dispatch import roster, roster_rules, service
from dispatch.roster_rules import WIB
from siaga.webapp import create_app
from tests.dispatch import factory
from tests.support import free_port

POLSEK_SHIFTS = [("P", "Pagi", "06:00", 8), ("S", "Siang", "14:00", 8), ("M", "Malam", "22:00", 8)]
DISHUB_SHIFTS = [("P", "Pagi", "06:00", 8), ("S", "Siang", "14:00", 8)]  # no night shift: a gap
FROM = datetime(2025, 12, 31, tzinfo=WIB)
TO = datetime(2026, 1, 2, tzinfo=WIB)


def wib(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=WIB)


# (created WIB, type, seconds to acknowledge or None, escalated)
ALERTS = [
    ("2025-12-30 23:00", "panic", 10, False),  # before the period: not counted
    ("2025-12-31 05:59:59", "panic", 10, False),  # the night shift of 30 Dec
    ("2025-12-31 06:00", "panic", 20, False),  # pagi 31 Dec
    ("2025-12-31 07:00", "panic", 30, False),
    ("2025-12-31 08:00", "panic", 40, False),
    ("2025-12-31 09:00", "panic", 50, False),
    ("2025-12-31 13:00", "panic", None, True),  # never acknowledged, escalated
    ("2025-12-31 23:30", "crime", 90, True),  # malam 31 Dec (acknowledged after escalating)
    ("2026-01-01 02:00", "accident", 15, False),  # malam 31 Dec for polsek; outside Dishub's shifts
    ("2026-01-01 05:59", "test", None, False),  # a test press: never counted
    ("2026-01-01 14:00", "accident", 25, False),  # siang 1 Jan for both
    ("2026-01-01 23:59:59", "panic", None, False),  # malam 1 Jan
    ("2026-01-02 00:00", "panic", None, False),  # after the period
]


async def _seed(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> list[uuid.UUID]:
    async with pool.acquire() as conn:
        for agency, shifts in ((world.polsek_wonosobo, POLSEK_SHIFTS), (world.dishub, DISHUB_SHIFTS)):
            for code, name, start, hours in shifts:
                await roster.save_shift(conn, audit.SYSTEM, agency, roster_rules.make_shift(code, name, start, hours))
        ids = []
        for created, kind, _, _ in ALERTS:
            made = await factory.incident(
                conn,
                type=kind,
                police_agency_id=world.polsek_wonosobo,
                dishub_unit_id=world.dishub_post if kind == "accident" else None,
            )
            await conn.execute("UPDATE incident SET created_at = $2 WHERE id = $1", made.incident_id, wib(created))
            ids.append(made.incident_id)
    await service.route_pending(pool, settings)
    async with pool.acquire() as conn:
        for iid, (created, _, ack, escalated) in zip(ids, ALERTS, strict=True):
            await conn.execute(
                # the polsek's operators acknowledge (Dishub is credited with none of them)
                """UPDATE incident_track
                      SET acknowledged_at = $2, escalation_level = $3,
                          acknowledged_agency_id = CASE WHEN $2::timestamptz IS NOT NULL THEN $4::bigint END
                    WHERE incident_id = $1""",
                iid,
                wib(created) + timedelta(seconds=ack) if ack is not None else None,
                1 if escalated else 0,
                world.polsek_wonosobo,
            )
        # presence of the polsek: 06:00-10:00 and 09:00-12:00 on 31 Dec (union 06:00-12:00), and a
        # console of a killed web process whose last beat was 15:00 (counts until the window ends)
        for start, end, beat in [
            ("2025-12-31 06:00", "2025-12-31 10:00", "2025-12-31 10:00"),
            ("2025-12-31 09:00", "2025-12-31 12:00", "2025-12-31 12:00"),
            ("2025-12-31 14:30", None, "2025-12-31 15:00"),
        ]:
            await conn.execute(
                """INSERT INTO console_presence (socket_id, user_id, agency_id, connected_at, last_beat, ended_at)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                uuid.uuid4(),
                world.users["op-polsek"].id,
                world.polsek_wonosobo,
                wib(start),
                wib(beat),
                wib(end) if end else None,
            )
    return ids


async def test_report_reconciles_with_incident_rows(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    await _seed(pool, settings, world)
    stale = 600.0  # 10 minutes, so the killed console counts until 15:10
    async with pool.acquire() as conn:
        rows = await roster.shift_report(conn, FROM, TO, stale)
        # the incident rows, counted independently: per agency routed to (rule/fallback), not tests
        truth = await conn.fetch(
            """SELECT a.agency_id, i.created_at FROM incident i
                 JOIN incident_assignment a ON a.incident_id = i.id AND a.reason IN ('rule', 'fallback')
                WHERE i.created_at >= $1 AND i.created_at < $2 AND i.type <> 'test'""",
            FROM,
            TO,
        )
        patterns = {a: await roster.shifts(conn, a) for a in (world.polsek_wonosobo, world.dishub)}
    # each alert placed by the pure rule; None = outside every shift
    expected: Counter[tuple[int, str | None, object]] = Counter()
    for r in truth:
        found = roster_rules.shift_at(patterns[r["agency_id"]], r["created_at"])
        expected[(r["agency_id"], found[0].code if found else None, found[1] if found else None)] += 1
    got = Counter({(r["agency_id"], r["shift_code"], r["day"]): r["alerts"] for r in rows if r["alerts"]})
    assert got == expected
    assert sum(r["alerts"] for r in rows) == len(truth) == 12

    by = {(r["agency_id"], r["shift_code"], str(r["day"])): r for r in rows}
    pw, dh = world.polsek_wonosobo, world.dishub
    # the night shift of 30 Dec is in the report (it overlaps the period) with its one alert
    assert by[(pw, "M", "2025-12-30")]["alerts"] == 1
    pagi = by[(pw, "P", "2025-12-31")]
    assert (pagi["alerts"], pagi["acknowledged"], pagi["unacked_escalations"]) == (5, 4, 1)
    # percentile_cont over 20, 30, 40, 50 s
    assert pagi["ack_p50_s"] == 35.0 and abs(pagi["ack_p90_s"] - 47.0) < 1e-9
    # present 06:00-12:00 of 06:00-14:00
    assert abs(pagi["hours_unattended"] - 2.0) < 1e-9
    # siang 31 Dec: the killed console counted 14:30 to 15:00 + 10 min
    assert abs(by[(pw, "S", "2025-12-31")]["hours_unattended"] - (8 - 40 / 60)) < 1e-9
    # the night shift of 30 Dec is cut to the period (00:00-06:00 of 31 Dec)
    assert abs(by[(pw, "M", "2025-12-30")]["hours_unattended"] - 6.0) < 1e-9
    malam = by[(pw, "M", "2025-12-31")]
    assert (malam["alerts"], malam["unacked_escalations"]) == (2, 1)
    assert by[(pw, "M", "2026-01-01")]["alerts"] == 1
    # Dishub: the 02:00 accident fell outside its shifts, the 14:00 one in siang
    assert by[(dh, None, "None")]["alerts"] == 1
    assert by[(dh, "S", "2026-01-01")]["alerts"] == 1
    # the polsek acknowledged the accident routed to both: Dishub is not credited with it
    assert by[(dh, "S", "2026-01-01")]["acknowledged"] == 0
    assert by[(pw, "S", "2026-01-01")]["acknowledged"] == 1
    # every instance of the period is listed, also the quiet ones (3 + 1 polsek shifts a day, 2 dishub)
    assert len([r for r in rows if r["agency_id"] == pw]) == 7
    assert len([r for r in rows if r["agency_id"] == dh and r["shift_code"]]) == 4


async def test_report_starts_at_the_first_record(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    """Shifts before SIAGA recorded anything (here: its first alert, on 31 Dec 08:00) were not
    unstaffed: the report lists no instance that ended before then."""
    await _seed(pool, settings, world)
    async with pool.acquire() as conn:
        # only what happened from 31 Dec 08:00: the earlier alerts and consoles never existed
        first = wib("2025-12-31 08:00")
        await conn.execute("DELETE FROM console_presence WHERE connected_at < $1", first)
        old = [r["id"] for r in await conn.fetch("SELECT id FROM incident WHERE created_at < $1", first)]
        for table in ("dispatch_timer", "incident_assignment", "incident_track", "incident_note", "event"):
            await conn.execute(f"DELETE FROM {table} WHERE incident_id = ANY($1::uuid[])", old)
        await conn.execute("DELETE FROM incident WHERE id = ANY($1::uuid[])", old)
        rows = await roster.shift_report(conn, FROM, TO, 600.0)
    polsek = {(r["shift_code"], str(r["day"])) for r in rows if r["agency_id"] == world.polsek_wonosobo}
    # the night shift of 30 Dec (ended 06:00) is gone; pagi 31 Dec (06:00-14:00) spans the first
    # record and counts as unattended only from it
    assert ("M", "2025-12-30") not in polsek and ("P", "2025-12-31") in polsek
    pagi = next(
        r
        for r in rows
        if r["agency_id"] == world.polsek_wonosobo and r["shift_code"] == "P" and str(r["day"]) == "2025-12-31"
    )
    # 08:00-14:00 less the console of 09:00-12:00
    assert abs(pagi["hours_unattended"] - 3.0) < 1e-9


async def test_report_on_the_dashboard_and_as_csv(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, db_dsn: str
) -> None:
    await _seed(pool, settings, world)
    app = create_app(settings, pool)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base_url=base) as s:
            r = await s.post("/api/v1/login", json={"username": "leader", "password": factory.PASSWORD})
            s.headers["Authorization"] = "Bearer " + (await r.json())["token"]
            page = await s.get("/dasbor?hari=3660", headers={"Accept": "text/html"})
            assert page.status == 200, await page.text()
            text = await page.text()
            assert "Kehadiran operator di konsol sekarang" in text
            assert "Laporan per instansi dan shift piket" in text
            csv_text = await (await s.get("/dasbor/piket.csv?hari=3660")).text()
            lines = csv_text.strip().splitlines()
            assert lines[0].startswith("instansi,shift,tanggal_wib")
            # every alert since the first one; the CSV adds up to the incident rows as well
            total = sum(int(line.split(",")[5]) for line in lines[1:])
            rows = await pool.fetchval(
                """SELECT count(*) FROM incident i JOIN incident_assignment a ON a.incident_id = i.id
                    AND a.reason IN ('rule', 'fallback') WHERE i.type <> 'test'"""
            )
            assert total == rows
            presence = await (await s.get("/dasbor/kehadiran.csv")).text()
            assert "Polsek Wonosobo,0,KOSONG" in presence
            # the roster page's report for December, as CSV, in WIB
            cc = await s.get(f"/piket/laporan.csv?instansi={world.polsek_wonosobo}&bulan=2025-12")
            assert cc.status == 200
            assert "Polsek Wonosobo,P,2025-12-31,2025-12-31 06:00,2025-12-31 14:00,5,4,35,47,1,2.00" in await cc.text()
    finally:
        await runner.cleanup()
