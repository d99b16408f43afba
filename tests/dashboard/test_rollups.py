"""The per-day summaries behind the dashboard (migration 0017, dashboard/rollup.py): a write to a
summarised day makes its summary out of date and the next figure rebuilds it, equal to the plain
SQL over the base rows; two builders at once do not fail or double a row; today is counted live;
the page's shift report is the whole report's first rows; the quantiles are PostgreSQL's."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from complaints.synthetic import seed_synthetic
from core.labels import WIB
from dashboard import charts, rollup, tables
from dashboard.period import Period, wib_day_start
from tests.dispatch import factory
from tests.support import wait_for

STALE_S = 60.0


def _to_today(since: datetime) -> Period:
    """The WIB days from the one of ``since`` to today (what the figure's table is asked for)."""
    return Period(since.astimezone(WIB).date(), datetime.now(UTC).astimezone(WIB).date())


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> factory.World:
    """Two months of synthetic complaints and emergencies, their acknowledgements credited to
    the agencies they were routed to, the later stages filled in."""
    now = datetime.now(UTC)  # taken in the test, not at import
    async with pool.acquire() as conn:
        world = await factory.seed(conn, with_users=False)
    await seed_synthetic(pool, 400, 600, seed=17, now=now)
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE incident_track t
                  SET acknowledged_agency_id = (SELECT s.agency_id FROM incident_assignment s
                                                 WHERE s.incident_id = t.incident_id ORDER BY s.agency_id LIMIT 1),
                      dispatched_at = t.acknowledged_at + make_interval(secs => 30 + (i.number % 17) * 11),
                      on_scene_at = t.acknowledged_at + make_interval(secs => 600 + (i.number % 23) * 37)
                 FROM incident i WHERE i.id = t.incident_id AND t.acknowledged_at IS NOT NULL"""
        )
    return world


# ---- the plain SQL over the base rows (the queries before the summaries) ----------------------


async def ack_recount(conn: asyncpg.Connection, since: datetime) -> list[list[object]]:
    rows = await conn.fetch(
        """SELECT a.name AS agency, count(*) AS n, count(ack.at) AS acked,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ack.at - i.created_at)) AS p50,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM ack.at - i.created_at)) AS p90,
                  count(*) FILTER (WHERE t.escalation_level > 0) AS escalated
             FROM incident i
             JOIN incident_assignment s ON s.incident_id = i.id AND s.reason IN ('rule', 'fallback')
             JOIN agency a ON a.id = s.agency_id
             LEFT JOIN incident_track t ON t.incident_id = i.id
            CROSS JOIN LATERAL (SELECT CASE WHEN t.acknowledged_agency_id = s.agency_id
                                            THEN t.acknowledged_at END AS at) ack
            WHERE i.created_at >= $1 AND i.type <> 'test'
            GROUP BY a.id, a.name ORDER BY p90 DESC NULLS LAST, a.name""",
        wib_day_start(since.astimezone(WIB).date()),
    )

    def secs(v: float | None) -> str:
        return "" if v is None else f"{v:.0f}"

    return [[r["agency"], r["n"], r["acked"], secs(r["p50"]), secs(r["p90"]), r["escalated"]] for r in rows]


async def stage_recount(conn: asyncpg.Connection, period: Period) -> dict[int, dict[str, tuple]]:
    rows = await conn.fetch(
        """WITH s AS (
                SELECT t.acknowledged_agency_id AS agency_id,
                       extract(epoch FROM t.acknowledged_at - i.created_at) AS diterima,
                       extract(epoch FROM t.dispatched_at - t.acknowledged_at) AS dikirim,
                       extract(epoch FROM t.on_scene_at - t.dispatched_at) AS tiba,
                       CASE WHEN i.state = 'resolved' THEN extract(epoch FROM t.closed_at - t.on_scene_at) END
                           AS selesai
                  FROM incident i JOIN incident_track t ON t.incident_id = i.id
                 WHERE i.created_at >= $1 AND i.created_at < $2 AND i.type <> 'test'
                   AND t.acknowledged_at IS NOT NULL AND t.acknowledged_agency_id IS NOT NULL)
           SELECT agency_id,
                  percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY diterima) AS diterima, count(diterima) AS dn,
                  percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY dikirim) AS dikirim, count(dikirim) AS kn,
                  percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY tiba) AS tiba, count(tiba) AS tn,
                  percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY selesai) AS selesai, count(selesai) AS sn
             FROM s GROUP BY 1""",
        period.start,
        period.end,
    )

    def q(v: list[float] | None, n: int) -> tuple:
        return (v[0], v[1], n) if v else (None, None, n)

    return {
        r["agency_id"]: {
            "diterima": q(r["diterima"], r["dn"]),
            "dikirim": q(r["dikirim"], r["kn"]),
            "tiba": q(r["tiba"], r["tn"]),
            "selesai": q(r["selesai"], r["sn"]),
        }
        for r in rows
    }


async def state(conn: asyncpg.Connection, kind: str, day: date) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT version, built_version FROM dash_rollup_day WHERE kind = $1 AND day = $2", kind, day
    )


# ---- the tests --------------------------------------------------------------------------------


async def test_a_change_to_a_past_day_rebuilds_its_summary(pool: asyncpg.Pool, seeded: factory.World) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    period = Period.last_days(30, now)
    since = now - timedelta(days=30)
    async with pool.acquire() as conn:
        assert (await tables.time_to_acknowledge(conn, _to_today(since))).rows == await ack_recount(conn, since)
        got = {s.agency_id: s.stages for s in await charts.stage_times(conn, period)}
        assert got == await stage_recount(conn, period)

        # an acknowledged emergency of some days ago, its day summarised
        inc = await conn.fetchrow(
            """SELECT i.id, i.created_at, s.agency_id FROM incident i
                 JOIN incident_assignment s ON s.incident_id = i.id AND s.reason IN ('rule', 'fallback')
                 JOIN incident_track t ON t.incident_id = i.id AND t.acknowledged_at IS NOT NULL
                WHERE i.type <> 'test' AND i.created_at >= $1 AND i.created_at < $2
                ORDER BY i.created_at LIMIT 1""",
            now - timedelta(days=25),
            now - timedelta(days=5),
        )
        day = inc["created_at"].astimezone(WIB).date()
        before = await state(conn, "incident", day)
        assert before is not None and before["built_version"] == before["version"]

        # acknowledged much later, and escalated: the day's summary goes out of date at once
        await conn.execute(
            """UPDATE incident_track
                  SET acknowledged_at = $2::timestamptz + interval '4000 seconds', escalation_level = 2,
                      acknowledged_agency_id = $3
                WHERE incident_id = $1""",
            inc["id"],
            inc["created_at"],
            inc["agency_id"],
        )
        stale = await state(conn, "incident", day)
        assert stale["version"] > before["version"] and stale["built_version"] != stale["version"]

        # the next figure rebuilds it and equals the recount
        table = await tables.time_to_acknowledge(conn, _to_today(since))
        assert table.rows == await ack_recount(conn, since)
        rebuilt = await state(conn, "incident", day)
        assert rebuilt["built_version"] == rebuilt["version"]
        got = {s.agency_id: s.stages for s in await charts.stage_times(conn, period)}
        assert got == await stage_recount(conn, period)
        # the incident counts on its day of the daily chart
        by_type = {(d, t): n for d, t, n in await charts.incidents_by_type(conn, period)}
        counted = await conn.fetch(
            """SELECT (created_at AT TIME ZONE 'Asia/Jakarta')::date AS day, type, count(*) AS n FROM incident
                WHERE created_at >= $1 AND created_at < $2 AND type <> 'test' GROUP BY 1, 2""",
            period.start,
            period.end,
        )
        assert by_type == {(r["day"], r["type"]): r["n"] for r in counted}

        # an emergency moved to another day leaves the old day's count and joins the new one's
        await conn.execute("UPDATE incident SET created_at = created_at - interval '3 days' WHERE id = $1", inc["id"])
        by_type = {(d, t): n for d, t, n in await charts.incidents_by_type(conn, period)}
        counted = await conn.fetch(
            """SELECT (created_at AT TIME ZONE 'Asia/Jakarta')::date AS day, type, count(*) AS n FROM incident
                WHERE created_at >= $1 AND created_at < $2 AND type <> 'test' GROUP BY 1, 2""",
            period.start,
            period.end,
        )
        assert by_type == {(r["day"], r["type"]): r["n"] for r in counted}
        assert (await tables.time_to_acknowledge(conn, _to_today(since))).rows == await ack_recount(conn, since)


async def test_a_finished_disposition_of_a_past_day_moves_the_red_line(
    pool: asyncpg.Pool, seeded: factory.World
) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    today = now.astimezone(WIB).date()
    period = Period.last_days(30, now)

    async def recount(conn: asyncpg.Connection) -> list[tuple[date, int]]:
        out = []
        d = period.first
        while d <= today:
            end = min(wib_day_start(d + timedelta(days=1)), now)
            n = await conn.fetchval(
                """SELECT count(*) FROM complaint_disposition
                    WHERE due_at <= $1 AND (finished_at IS NULL OR finished_at > $1)""",
                end,
            )
            out.append((d, n))
            d += timedelta(days=1)
        return out

    async with pool.acquire() as conn:
        assert await charts.red_by_day(conn, period, now) == await recount(conn)
        red = await conn.fetchrow(
            """SELECT id, due_at FROM complaint_disposition
                WHERE due_at >= $1 AND due_at < $2 ORDER BY due_at LIMIT 1""",
            now - timedelta(days=25),
            now - timedelta(days=5),
        )
        assert red is not None
        # followed up a day after it fell due: red one day only, on a summarised day
        await conn.execute(
            "UPDATE complaint_disposition SET finished_at = due_at + interval '1 day' WHERE id = $1", red["id"]
        )
        assert await charts.red_by_day(conn, period, now) == await recount(conn)


async def test_two_builders_at_once(pool: asyncpg.Pool, seeded: factory.World) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    today = now.astimezone(WIB).date()
    first, last = today - timedelta(days=40), today
    async with pool.acquire() as holder:
        # a third session holds the builders' lock, so both builders are waiting at the same time
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT pg_advisory_xact_lock(hashtext('siaga.dash_rollup'), hashtext('incident'))")

        async def build() -> date | None:
            async with pool.acquire() as conn:
                return await rollup.settled(conn, "incident", first, last)

        builders = [asyncio.create_task(build()) for _ in range(2)]

        async def both_waiting() -> bool:
            return (
                await holder.fetchval(
                    """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
                )
                >= 2
            )

        await wait_for(both_waiting, what="two builders waiting for the lock")
        await tx.commit()
        built = await asyncio.gather(*builders)
    assert built == [today - timedelta(days=2)] * 2
    async with pool.acquire() as conn:
        # every day once, each built from its current version (the seed's writes made the rows of
        # other days, not built)
        days = await conn.fetch(
            """SELECT day, version, built_version FROM dash_rollup_day
                WHERE kind = 'incident' AND day >= $1 AND day <= $2 ORDER BY day""",
            first,
            last,
        )
        assert [r["day"] for r in days] == [first + timedelta(days=i) for i in range(39)]
        assert all(r["version"] == r["built_version"] for r in days)
        since = now - timedelta(days=40)
        assert (await tables.time_to_acknowledge(conn, _to_today(since))).rows == await ack_recount(conn, since)


async def test_today_is_counted_live(pool: asyncpg.Pool, seeded: factory.World) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    today = now.astimezone(WIB).date()
    since = now - timedelta(days=7)
    async with pool.acquire() as conn:
        await tables.time_to_acknowledge(conn, _to_today(since))
        made = await factory.incident(conn, police_agency_id=seeded.polres)
        await conn.execute(
            "INSERT INTO incident_assignment (incident_id, agency_id, reason) VALUES ($1, $2, 'rule')",
            made.incident_id,
            seeded.polres,
        )
        # nothing of today is summarised, and no write of today touched a summary
        assert (
            await conn.fetchval("SELECT count(*) FROM dash_rollup_day WHERE day >= $1", today - timedelta(days=1)) == 0
        )
        assert await conn.fetchval("SELECT count(*) FROM dash_ack_day WHERE day >= $1", today - timedelta(days=1)) == 0
        assert (await tables.time_to_acknowledge(conn, _to_today(since))).rows == await ack_recount(conn, since)


async def test_the_pages_shift_report_is_the_whole_reports_first_rows(
    pool: asyncpg.Pool, seeded: factory.World
) -> None:
    now = datetime.now(UTC)  # taken in the test, not at import
    async with pool.acquire() as conn:
        # two shifts a day for one agency; the others have none (all their alerts outside)
        for code, starts, hours in (("P", "07:00", 12), ("M", "19:00", 12)):
            await conn.execute(
                """INSERT INTO shift_pattern (agency_id, code, name, starts, duration, created_at)
                   VALUES ($1, $2, $2, $3::time, make_interval(hours => $4), $5)""",
                seeded.polres,
                code,
                datetime.strptime(starts, "%H:%M").time(),
                hours,
                now - timedelta(days=60),
            )
        for days in (3, 20, 45):
            since = now - timedelta(days=days)
            whole = await tables.shift_report(conn, since, now, STALE_S)
            for limit in (5, 30, tables.SHIFT_PAGE_ROWS):
                page = await tables.shift_report(conn, since, now, STALE_S, limit=limit)
                assert page.rows == whole.rows[:limit], (days, limit)
                assert page.page_rows == whole.page_rows[:limit], (days, limit)
        # a pattern change makes the summaries of the alerts outside the schedule out of date
        await conn.execute("UPDATE shift_pattern SET active = false WHERE code = 'M'")
        since = now - timedelta(days=20)
        whole = await tables.shift_report(conn, since, now, STALE_S)
        assert (await tables.shift_report(conn, since, now, STALE_S, limit=40)).rows == whole.rows[:40]


async def test_quantiles_are_postgresqls(pool: asyncpg.Pool) -> None:
    rng = random.Random(17)
    async with pool.acquire() as conn:
        for n in (1, 2, 3, 10, 11, 1001):
            v = [rng.uniform(0, 5000) for _ in range(n)] + [float(rng.randint(0, 50)) for _ in range(n)]
            want = await conn.fetchval(
                "SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY x) FROM unnest($1::float8[]) x", v
            )
            blob = await conn.fetchval("SELECT string_agg(float8send(x), '') FROM unnest($1::float8[]) x", v)
            assert rollup.percentile_cont(rollup.values(blob), (0.5, 0.9)) == list(want)
        assert rollup.percentile_cont(rollup.values(b""), (0.5, 0.9)) == [None, None]
