"""Migration 0016's ``disposition_red_daily``: the sweep counts what the literal definition counts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg

from complaints.synthetic import seed_synthetic

NOW = datetime(2026, 11, 27, 5, tzinfo=UTC)

# red at the midnight WIB that ends the day: fell due by then and not finished by then
_LITERAL = """
SELECT g::date AS day, d.opd_id, count(*) AS red
  FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') g
  JOIN complaint_disposition d
    ON d.due_at <= ((g::date + 1)::timestamp AT TIME ZONE 'Asia/Jakarta')
   AND (d.finished_at IS NULL OR d.finished_at > ((g::date + 1)::timestamp AT TIME ZONE 'Asia/Jakarta'))
 GROUP BY 1, 2
"""


async def test_red_per_day_matches_the_definition(pool: asyncpg.Pool) -> None:
    await seed_synthetic(pool, 1500, 0, now=NOW, batch=500, seed=21)
    async with pool.acquire() as conn:
        # a disposition due exactly at a WIB midnight is red at that midnight, and one finished at
        # that very instant is not: the edges of the definition, on rows of their own
        edge = await conn.fetchval("SELECT min(id) FROM complaint_disposition WHERE finished_at IS NOT NULL")
        await conn.execute(
            """UPDATE complaint_disposition SET due_at = timestamptz '2026-10-20 00:00+07',
                      finished_at = timestamptz '2026-10-21 00:00+07' WHERE id = $1""",
            edge,
        )
        for first, last in ((date(2026, 10, 1), date(2026, 11, 26)), (date(2026, 10, 19), date(2026, 10, 21))):
            swept = await conn.fetch("SELECT day, opd_id, red FROM disposition_red_daily($1, $2)", first, last)
            literal = {(r["day"], r["opd_id"]): r["red"] for r in await conn.fetch(_LITERAL, first, last)}
            assert literal and sum(literal.values()) > 0
            # the sweep lists every day for each OPD in it, zeros included; the literal count omits zeros
            assert {(r["day"], r["opd_id"]): r["red"] for r in swept if r["red"]} == literal
            assert {r["day"] for r in swept} == {
                date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)
            }
        opd = await conn.fetchval("SELECT opd_id FROM complaint_disposition WHERE id = $1", edge)
        by_day = {
            r["day"]: r["red"]
            for r in await conn.fetch(
                "SELECT day, red FROM disposition_red_daily('2026-10-19', '2026-10-21') WHERE opd_id = $1", opd
            )
        }
        literal = {
            r["day"]: r["red"]
            for r in await conn.fetch(_LITERAL, date(2026, 10, 19), date(2026, 10, 21))
            if r["opd_id"] == opd
        }
        assert all(by_day[d] == literal.get(d, 0) for d in by_day)
