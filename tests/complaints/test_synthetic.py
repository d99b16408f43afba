"""The synthetic seed (small): marked, consistent with the schema and the clock, and the dashboard reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.dashboard import bench_dashboard
from complaints import store
from complaints.clock import WorkingDayClock
from complaints.model import FollowUp, ReturnToVerification
from complaints.synthetic import FastCalendar, seed_synthetic
from dashboard import tables as dashboard
from dashboard.period import Period
from dispatch import routing, service
from tests.complaints.test_clock import CUTI_2026, CUTI_2027

NOW = datetime(2026, 11, 27, 5, tzinfo=UTC)


def test_fast_calendar_agrees_with_the_clock() -> None:
    clock = WorkingDayClock(CUTI_2026 + CUTI_2027)
    cal = FastCalendar(clock, datetime(2025, 10, 1).date(), datetime(2028, 1, 31).date())
    t = datetime(2025, 11, 1, 3, 17, tzinfo=UTC)
    while t < datetime(2027, 12, 1, tzinfo=UTC):
        for n in (0.5, 1, 3, 5, 10):
            assert cal.add(t, n) == clock.add(t, n), (t, n)
        t = t.replace(hour=(t.hour + 7) % 24) + (datetime(2000, 1, 2) - datetime(2000, 1, 1)) * 1.37


async def test_seed_small(pool: asyncpg.Pool) -> None:
    s = await seed_synthetic(pool, 3000, 800, now=NOW, batch=1000, seed=7)
    assert (s.complaints, s.incidents) == (3000, 800) and s.dispositions > 2000
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM complaint WHERE synthetic AND tracking_id LIKE 'SYN-%'") == 3000
        )
        assert await conn.fetchval("SELECT count(*) FROM complaint_disposition WHERE NOT synthetic") == 0
        assert await conn.fetchval("SELECT count(*) FROM incident WHERE device_id LIKE 'syn-%'") == 800
        statuses = {r["status"] for r in await conn.fetch("SELECT DISTINCT status FROM complaint")}
        assert {"selesai", "disposisi", "arsip", "bukan_wewenang"} <= statuses
        # open OPD stages carry the clock's due date
        row = await conn.fetchrow(
            "SELECT stage_started_at, due_at FROM complaint WHERE stage = 'tindak_lanjut' LIMIT 1"
        )
        clock = await store.load_clock(conn)
        assert row["due_at"] == clock.add(row["stage_started_at"], 5)
        # the seed's year and the WIB day it starts on
        tables = {t.name: t for t in await dashboard.all_tables(pool, NOW, Period.last_days(366, NOW))}
        assert sum(r[2] for r in tables["status"].rows) == 3000
        opd = tables["opd"].rows
        assert opd and [r[0] for r in opd] == list(range(1, len(opd) + 1))
        shares = [r[6] for r in opd if r[6] is not None]
        assert shares == sorted(shares)  # worst first
        assert tables["merah"].rows
        kec = tables["kecamatan"].rows
        # test alerts are no emergency: the per-kecamatan table leaves them out like every other figure
        real = await conn.fetchval("SELECT count(*) FROM incident WHERE type <> 'test'")
        assert sum(r[2] for r in kec) == 3000 and sum(r[4] for r in kec) == real and 0 < real < 800
        assert all(r[1] != r[0] for r in kec)  # named
        assert sum(r[1] for r in tables["tren"].rows) == 3000
        # synthetic complaints stay out of Open311 listings
        assert await store.search(conn, store.RequestFilter()) == []
        await assert_rollups_match(conn)
        await assert_incidents_look_routed(conn)
        await assert_complaints_have_every_colour(conn)
    result = await bench_dashboard(pool, runs=3, now=NOW)
    assert set(result) == {
        "status",
        "warna",
        "opd",
        "merah",
        "kecamatan",
        "tren",
        "tanggap",
        "kehadiran",
        "piket",
        "page",
    }


async def assert_incidents_look_routed(conn: asyncpg.Connection) -> None:
    """Synthetic incidents carry what the dispatcher writes: assignments as the real router decides
    them, an acknowledging agency it was routed to, stage stamps in order, some still open."""
    rules, directory = await service.load_rules(conn), await service.load_directory(conn)
    rows = await conn.fetch(
        """SELECT i.id, i.type, i.state, i.created_at, i.police_agency_id, i.location_source, i.lat,
                  t.dispatch, t.route_reason, t.escalation_level, t.escalated_at, t.acknowledged_at,
                  t.acknowledged_agency_id, t.dispatched_at, t.on_scene_at, t.closed_at,
                  coalesce(array_agg(a.agency_id ORDER BY a.agency_id) FILTER (WHERE a.reason IN ('rule', 'fallback')),
                           '{}') AS routed,
                  coalesce(array_agg(a.agency_id) FILTER (WHERE a.reason = 'escalation'), '{}') AS escalated_to
             FROM incident i JOIN incident_track t ON t.incident_id = i.id
             LEFT JOIN incident_assignment a ON a.incident_id = i.id
            GROUP BY i.id, t.incident_id"""
    )
    assert len(rows) == 800
    kinds_of = {a: k for k, ids in directory.by_kind.items() for a in ids}
    for r in rows:
        where = routing.Jurisdiction(police_agency_id=r["police_agency_id"], located=r["lat"] is not None)
        decided = routing.route(r["type"], where, rules, directory)
        assert (r["dispatch"], r["route_reason"]) == (decided.dispatch, decided.reason), r
        assert sorted(r["routed"]) == sorted(decided.agency_ids), r
        if r["type"] == "test":
            assert not r["routed"] and r["acknowledged_at"] is None
        else:
            assert r["routed"], r  # every dispatched incident went somewhere
        stamps = [r["created_at"], r["acknowledged_at"], r["dispatched_at"], r["on_scene_at"], r["closed_at"]]
        present = [t for t in stamps if t is not None]
        assert present == sorted(present) and present[-1] <= NOW, r
        if r["dispatched_at"] is not None:
            assert r["acknowledged_at"] is not None
        assert (r["closed_at"] is not None) == (r["state"] in ("resolved", "false_alarm", "handed_to_complaints")), r
        if r["acknowledged_at"] is not None:
            assert r["acknowledged_agency_id"] in set(r["routed"]) | set(r["escalated_to"]), r
        else:
            assert r["acknowledged_agency_id"] is None
        assert (r["escalation_level"] > 0) == (r["escalated_at"] is not None)
        if r["escalated_to"]:
            assert r["escalation_level"] == 2 and directory.command_centre_id in set(r["routed"]) | set(
                r["escalated_to"]
            )
    states = {r["state"] for r in rows}
    assert {"resolved", "false_alarm", "handed_to_complaints"} <= states
    assert states & {"new", "acknowledged", "dispatched", "on_scene"}, "some still open at NOW"
    reasons = {r["route_reason"] for r in rows}
    assert {"rule", "no_dispatch", "unknown_location"} <= reasons
    # accidents go to the police and to Dishub; the police is the kecamatan's Polsek where there is one
    accident = next(r for r in rows if r["type"] == "accident" and r["route_reason"] == "rule")
    assert sorted(kinds_of[a] for a in accident["routed"]) == [
        "dishub",
        "polsek" if accident["police_agency_id"] in directory.of_kind("polsek") else "polres",
    ]
    assert any(r["escalation_level"] == 2 for r in rows) and any(r["escalation_level"] == 1 for r in rows)
    credited = {kinds_of[r["acknowledged_agency_id"]] for r in rows if r["acknowledged_agency_id"]}
    assert {"polsek", "dishub"} <= credited
    assert len({r["acknowledged_agency_id"] for r in rows if r["acknowledged_agency_id"]}) >= 5


async def assert_complaints_have_every_colour(conn: asyncpg.Connection) -> None:
    """Open complaints of every colour at NOW, returned dispositions, and reprimands read and unread."""
    colours = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE due_at <= $1) AS red,
                  count(*) FILTER (WHERE yellow_at <= $1 AND due_at > $1) AS yellow,
                  count(*) FILTER (WHERE yellow_at > $1) AS green
             FROM complaint WHERE closed_at IS NULL""",
        NOW,
    )
    assert colours["red"] and colours["yellow"] and colours["green"], colours
    assert await conn.fetchval("SELECT count(*) FROM complaint_disposition WHERE outcome = 'returned'")
    teguran = await conn.fetch("SELECT opd_id, issued_at, complaint_ids, read_at FROM teguran")
    assert any(t["read_at"] for t in teguran) and any(t["read_at"] is None for t in teguran)
    for t in teguran:
        assert t["issued_at"] <= NOW and t["complaint_ids"] and (t["read_at"] is None or t["read_at"] > t["issued_at"])
        # a teguran names complaints that were red at that OPD
        assert await conn.fetchval(
            """SELECT bool_and(EXISTS (SELECT 1 FROM complaint_disposition d
                                        WHERE d.complaint_id = c AND d.opd_id = $1 AND d.red_at IS NOT NULL))
                 FROM unnest($2::bigint[]) c""",
            t["opd_id"],
            t["complaint_ids"],
        )


async def assert_rollups_match(conn: asyncpg.Connection) -> None:
    """The trigger-kept daily counts equal a recount of the base tables."""
    live = await conn.fetch(
        """SELECT (received_at AT TIME ZONE 'Asia/Jakarta')::date AS day, status, coalesce(kecamatan_code, ''),
                  count(*) AS n
             FROM complaint GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    )
    rolled = await conn.fetch(
        "SELECT day, status, kecamatan_code, n FROM complaint_daily WHERE n <> 0 ORDER BY 1, 2, 3"
    )
    assert [tuple(r) for r in rolled] == [tuple(r) for r in live]
    live = await conn.fetch(
        """SELECT (disposed_at AT TIME ZONE 'Asia/Jakarta')::date AS day, opd_id, count(*) AS total,
                  count(*) FILTER (WHERE outcome = 'followed_up' AND on_time) AS on_time,
                  count(*) FILTER (WHERE outcome = 'followed_up' AND NOT on_time) AS late,
                  count(*) FILTER (WHERE outcome = 'returned') AS returned
             FROM complaint_disposition GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    rolled = await conn.fetch(
        """SELECT day, opd_id, total, on_time, late, returned FROM complaint_disposition_daily
            WHERE total <> 0 OR on_time <> 0 OR late <> 0 OR returned <> 0 ORDER BY 1, 2"""
    )
    assert [tuple(r) for r in rolled] == [tuple(r) for r in live]


async def test_rollups_follow_seeding_transitions_and_the_sweep(pool: asyncpg.Pool) -> None:
    await seed_synthetic(pool, 1500, 0, now=NOW, batch=400, seed=11)
    clock = WorkingDayClock(CUTI_2026 + CUTI_2027)
    async with pool.acquire() as conn:
        await assert_rollups_match(conn)
        # move some open ones along: follow-ups by their OPD, bounces, closures by the sweep
        rows = await conn.fetch("SELECT id, opd_id FROM complaint WHERE status = 'disposisi' ORDER BY id LIMIT 40")
        for i, r in enumerate(rows):
            officer = store.Actor(store.Role.OPD_OFFICER, None, "x", agency_id=r["opd_id"])
            action = FollowUp(text="ok") if i % 3 else ReturnToVerification(reason="bukan kami")
            await store.act(conn, r["id"], action, officer, clock=clock, now=NOW)
        await conn.execute("DELETE FROM complaint_disposition WHERE id = (SELECT min(id) FROM complaint_disposition)")
    await store.sweep(pool, clock, datetime(2027, 3, 1, tzinfo=UTC))
    async with pool.acquire() as conn:
        await assert_rollups_match(conn)


# Multi-row statements of every kind, so the roll-up sees rows arrive, change day, OPD and outcome,
# and leave, in the same statement as others.
_DISPOSITION_CHANGES = (
    "UPDATE complaint_disposition SET on_time = NOT on_time WHERE outcome = 'followed_up' AND id % 3 = 0",
    "UPDATE complaint_disposition SET disposed_at = disposed_at - interval '1 day' WHERE id % 4 = 0",
    """UPDATE complaint_disposition SET opd_id = (SELECT min(opd_id) FROM complaint_disposition)
        WHERE id % 7 = 0""",
    "UPDATE complaint_disposition SET outcome = 'returned' WHERE outcome = 'followed_up' AND id % 5 = 0",
    "DELETE FROM complaint_disposition WHERE id % 11 = 0",
    # last: the rolled-back run drew other ids for these rows
    """INSERT INTO complaint_disposition
           (complaint_id, opd_id, round, disposed_at, yellow_at, due_at, finished_at, outcome, on_time)
       SELECT complaint_id, opd_id, round + 100, disposed_at, yellow_at, due_at, finished_at, outcome, on_time
         FROM complaint_disposition WHERE finished_at IS NOT NULL AND id % 13 = 0""",
)
_ROLLED = "SELECT day, opd_id, total, on_time, late, returned FROM complaint_disposition_daily ORDER BY 1, 2"


def _function_of_0004() -> str:
    """The roll-up trigger function as migration 0004 wrote it (one INSERT per operation)."""
    sql = (Path(__file__).parents[2] / "core" / "migrations" / "0004_complaints.sql").read_text()
    start = sql.index("CREATE FUNCTION complaint_disposition_daily_apply()")
    end = sql.index("END $$;", start) + len("END $$;")
    return sql[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


async def test_disposition_rollup_counts_as_the_first_trigger_did(pool: asyncpg.Pool) -> None:
    await seed_synthetic(pool, 400, 0, now=NOW, batch=200, seed=5)
    async with pool.acquire() as conn:
        assert (await conn.fetchval("SELECT count(*) FROM complaint_disposition")) > 100
        # the same changes under the original function, undone afterwards
        tx = conn.transaction()
        await tx.start()
        await conn.execute(_function_of_0004())
        for statement in _DISPOSITION_CHANGES:
            await conn.execute(statement)
        before = [tuple(r) for r in await conn.fetch(_ROLLED)]
        await tx.rollback()
        body = await conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'complaint_disposition_daily_apply'")
        assert body.count("INSERT INTO complaint_disposition_daily") == 1
        for statement in _DISPOSITION_CHANGES:
            await conn.execute(statement)
        assert [tuple(r) for r in await conn.fetch(_ROLLED)] == before
        await assert_rollups_match(conn)
