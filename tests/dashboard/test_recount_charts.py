"""Every chart's numbers against a recount over the base rows on a seeded database: per day per
type, per agency per stage (p50/p90), per week per status, red at the end of each day, per desa
and kecamatan. The recounts read the stored rows only (no rollup, no shared query) and bucket
them in Python on the WIB calendar."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from complaints.synthetic import seed_synthetic
from core.labels import WIB
from dashboard import charts
from dashboard.period import Period
from tests.dispatch import factory


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> factory.World:
    """A year of synthetic complaints and emergencies; the emergencies' stages filled in and
    credited to three agencies, some alerts made tests (never counted)."""
    now = datetime.now(UTC)  # taken in the test, not at import
    async with pool.acquire() as conn:
        world = await factory.seed(conn, with_users=False)
    await seed_synthetic(pool, 3000, 1500, seed=16, now=now)
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE incident_track t
                  SET acknowledged_agency_id = (ARRAY[$1, $2, $3]::bigint[])[1 + (i.number % 3)],
                      dispatched_at = CASE WHEN i.number % 5 <> 0 THEN t.acknowledged_at
                                           + make_interval(secs => 30 + (i.number % 17) * 11) END,
                      on_scene_at = CASE WHEN i.number % 5 NOT IN (0, 1) THEN t.acknowledged_at
                                         + make_interval(secs => 600 + (i.number % 23) * 37) END,
                      closed_at = CASE WHEN i.number % 5 NOT IN (0, 1) THEN t.acknowledged_at
                                       + make_interval(secs => 3000 + (i.number % 29) * 53) ELSE t.closed_at END
                 FROM incident i WHERE i.id = t.incident_id""",
            world.polres,
            world.polsek_wonosobo,
            world.dishub,
        )
        # every seventh acknowledgement has no credited agency (made before migration 0014)
        await conn.execute(
            """UPDATE incident_track t SET acknowledged_agency_id = NULL FROM incident i
                WHERE i.id = t.incident_id AND i.number % 7 = 0"""
        )
        await conn.execute("UPDATE incident SET type = 'test' WHERE number % 11 = 0")
    return world


def wib_day(t: datetime) -> date:
    return t.astimezone(WIB).date()


# (days, days back from now to the period's last day)
PERIODS = [(30, 0), (365, 0), (7, 40)]


@pytest.mark.parametrize("spec", PERIODS, ids=["30-hari", "365-hari", "7-hari-lalu"])
async def test_every_chart_recounts(pool: asyncpg.Pool, seeded: factory.World, spec: tuple[int, int]) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    days, back = spec
    period = Period.last_days(days, now - timedelta(days=back))
    async with pool.acquire() as conn:
        incidents = await conn.fetch(
            """SELECT i.created_at, i.type, i.state, i.desa_code, i.kecamatan_code, t.acknowledged_at,
                      t.acknowledged_agency_id, t.dispatched_at, t.on_scene_at, t.closed_at
                 FROM incident i LEFT JOIN incident_track t ON t.incident_id = i.id"""
        )
        complaints = await conn.fetch("SELECT received_at, status, desa_code, kecamatan_code, opd_id FROM complaint")
        dispositions = await conn.fetch("SELECT opd_id, due_at, finished_at FROM complaint_disposition")

        # (a) emergencies per WIB day per type, tests left out
        want_a = Counter(
            (wib_day(r["created_at"]), r["type"])
            for r in incidents
            if period.start <= r["created_at"] < period.end and r["type"] != "test"
        )
        got_a = {(d, k): n for d, k, n in await charts.incidents_by_type(conn, period)}
        assert got_a == dict(want_a)
        assert sum(want_a.values()) > 0 or period.days == 7

        # (c) complaints per ISO week (Monday, WIB) per status now
        want_c = Counter(
            (charts.monday(wib_day(r["received_at"])), r["status"])
            for r in complaints
            if period.start <= r["received_at"] < period.end
        )
        got_c = {(w, s): n for w, s, n in await charts.complaints_by_week(conn, period)}
        assert got_c == dict(want_c)
        assert sum(want_c.values()) > 0
        opd = next(r["opd_id"] for r in complaints if r["opd_id"] is not None)
        want_opd = Counter(
            (charts.monday(wib_day(r["received_at"])), r["status"])
            for r in complaints
            if period.start <= r["received_at"] < period.end and r["opd_id"] == opd
        )
        got_opd = {(w, s): n for w, s, n in await charts.complaints_by_week(conn, period, opd)}
        assert got_opd == dict(want_opd)

        # (e) dispositions red at the end of each WIB day (today: now)
        got_e = await charts.red_by_day(conn, period, now)
        assert [d for d, _ in got_e] == [
            period.first + timedelta(days=i) for i in range((min(period.last, wib_day(now)) - period.first).days + 1)
        ]
        for day, n in got_e:
            end = min(datetime(day.year, day.month, day.day, tzinfo=WIB) + timedelta(days=1), now)
            want = sum(
                1 for r in dispositions if r["due_at"] <= end and (r["finished_at"] is None or r["finished_at"] > end)
            )
            assert n == want, day
        assert any(n for _, n in got_e)
        got_e_opd = await charts.red_by_day(conn, period, now, opd)
        end = min(period.end, now)
        assert got_e_opd[-1][1] == sum(
            1
            for r in dispositions
            if r["opd_id"] == opd and r["due_at"] <= end and (r["finished_at"] is None or r["finished_at"] > end)
        )

        # (b) per credited agency per stage: p50 and p90 of calendar seconds (percentile_cont)
        stages = {s.agency_id: s for s in await charts.stage_times(conn, period)}
        spans: dict[int, dict[str, list[float]]] = {}
        for r in incidents:
            if not (period.start <= r["created_at"] < period.end) or r["type"] == "test":
                continue
            if r["acknowledged_at"] is None or r["acknowledged_agency_id"] is None:
                continue
            mine = spans.setdefault(r["acknowledged_agency_id"], {k: [] for k, _ in charts.STAGES})
            pairs = {
                "diterima": (r["created_at"], r["acknowledged_at"]),
                "dikirim": (r["acknowledged_at"], r["dispatched_at"]),
                "tiba": (r["dispatched_at"], r["on_scene_at"]),
                "selesai": (r["on_scene_at"], r["closed_at"] if r["state"] == "resolved" else None),
            }
            for k, (a, b) in pairs.items():
                if a is not None and b is not None:
                    mine[k].append((b - a).total_seconds())
        assert set(stages) == set(spans)
        for agency, per_stage in spans.items():
            for k, values in per_stage.items():
                p50, p90, n = stages[agency].stages[k]
                assert n == len(values), (agency, k)
                if values:
                    assert math.isclose(p50, percentile_cont(values, 0.5), abs_tol=1e-3), (agency, k)
                    assert math.isclose(p90, percentile_cont(values, 0.9), abs_tol=1e-3), (agency, k)
                else:
                    assert p50 is None and p90 is None

    # (f) per kecamatan and per desa: complaints received and emergencies (tests left out)
    for level in ("kecamatan", "desa"):
        column = f"{level}_code"
        got_f = await charts.per_area(pool, period, level)
        want_pengaduan = Counter(
            r[column] for r in complaints if period.start <= r["received_at"] < period.end and r[column]
        )
        want_darurat = Counter(
            r[column]
            for r in incidents
            if period.start <= r["created_at"] < period.end and r["type"] != "test" and r[column]
        )
        assert {k: v["pengaduan"] for k, v in got_f.items() if v["pengaduan"]} == dict(want_pengaduan)
        assert {k: v["kedaruratan"] for k, v in got_f.items() if v["kedaruratan"]} == dict(want_darurat)
        assert all(v["nama"] != k for k, v in got_f.items()), "every area has its name"


def percentile_cont(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    s = sorted(values)
    at = q * (len(s) - 1)
    lo, hi = math.floor(at), math.ceil(at)
    return s[lo] + (s[hi] - s[lo]) * (at - lo)


async def test_the_league_is_the_compliance_table(pool: asyncpg.Pool, seeded: factory.World) -> None:
    """The league chart reads the OPD compliance table (its one rule, recounted with the tables):
    the same OPDs, shares and returns, each bar's words saying them."""
    now = datetime.now(UTC)  # taken in the test, not at import
    from dashboard import tables

    period = Period.last_days(90, now)
    async with pool.acquire() as conn:
        table = await tables.opd_compliance(conn, period, now)
        league = await charts.opd_league(conn, period, now)
    col = {c: i for i, c in enumerate(table.columns)}
    assert [(x.opd_id, x.share, x.returned) for x in league] == [
        (r[col["opd_id"]], r[col["persen_tepat"]], r[col["dikembalikan"]]) for r in table.rows
    ]
    drawn = charts.league_chart(period, league)
    for x in league:
        if x.share is not None:
            assert f"{x.opd}: {charts.num(x.share)}% tepat waktu" in drawn.svg
