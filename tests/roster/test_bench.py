"""Benchmark (marked slow): what presence-aware routing adds to every dispatch pass, and the
shift report, on a year of synthetic incidents; each figure beside a raw baseline measured in the
same run. Run: pytest tests/roster/test_bench.py -m slow -s"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from complaints.synthetic import seed_synthetic
from core import audit
from core.settings import Settings
from dispatch import presence, roster, roster_rules
from tests.dispatch import factory

pytestmark = pytest.mark.slow

INCIDENTS = 50_000
OPEN = 300


async def _avg_ms(fn: Callable[[], Awaitable[object]], n: int) -> float:
    await fn()
    started = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - started) * 1000 / n


async def test_bench_presence_pass_and_shift_report(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    now = datetime.now(UTC)
    await seed_synthetic(pool, 0, INCIDENTS, now=now, seed=9)
    agencies = [world.polsek_wonosobo, world.polsek_kertek, world.dishub, world.damkar, world.polres]
    async with pool.acquire() as conn:
        # the seed routes its incidents already; this adds one more agency to most of them
        await conn.execute(
            """INSERT INTO incident_assignment (incident_id, agency_id, reason)
               SELECT id, ($1::bigint[])[1 + abs(hashtext(id::text)) % 5], 'rule' FROM incident
               ON CONFLICT DO NOTHING""",
            agencies,
        )
        await conn.execute(
            """WITH o AS (SELECT id FROM incident ORDER BY created_at DESC LIMIT $1)
               UPDATE incident SET state = 'new' WHERE id IN (SELECT id FROM o)""",
            OPEN,
        )
        for agency in agencies:
            for code, name, start in (("P", "Pagi", "06:00"), ("S", "Siang", "14:00"), ("M", "Malam", "22:00")):
                await roster.save_shift(conn, audit.SYSTEM, agency, roster_rules.make_shift(code, name, start, 8))
        # consoles: two agencies staffed now, a month of past intervals for all
        for agency in agencies[:2]:
            await presence.connect(conn, world.users["op-polsek"], agency, None)
        await conn.execute(
            """INSERT INTO console_presence (socket_id, user_id, agency_id, connected_at, last_beat, ended_at,
                                             end_reason)
               SELECT gen_random_uuid(), $1, ($2::bigint[])[1 + g % 5], $3::timestamptz - make_interval(hours => g * 3),
                      $3::timestamptz - make_interval(hours => g * 3 - 2),
                      $3::timestamptz - make_interval(hours => g * 3 - 2), 'closed'
                 FROM generate_series(1, 240) g""",
            world.users["op-polsek"].id,
            agencies,
            now,
        )
        await conn.execute("ANALYZE")
        # the first pass covers the open incidents of the three empty agencies
        first = time.perf_counter()
        covered = await presence.cover_unattended(conn, settings)
        first_ms = (time.perf_counter() - first) * 1000

        async def steady_pass() -> None:
            await presence.cover_unattended(conn, settings)
            await presence.close_stale(conn, settings)
            await presence.check_attendance(conn, settings)

        raw_ms = await _avg_ms(lambda: conn.fetchval("SELECT 1"), 200)
        pass_ms = await _avg_ms(steady_pass, 200)

        since = now - timedelta(days=30)
        report_ms = await _avg_ms(lambda: roster.shift_report(conn, since, now, settings.presence_stale_s), 5)
        raw_report_ms = await _avg_ms(
            lambda: conn.fetch(
                """SELECT a.agency_id, count(*), count(t.acknowledged_at) FROM incident i
                     JOIN incident_assignment a ON a.incident_id = i.id
                     LEFT JOIN incident_track t ON t.incident_id = i.id
                    WHERE i.created_at >= $1 AND i.created_at < $2 GROUP BY 1""",
                since,
                now,
            ),
            5,
        )
        rows = await roster.shift_report(conn, since, now, settings.presence_stale_s)
    print(
        f"\n{INCIDENTS} incidents, {OPEN} open, 5 agencies x 3 shifts, {covered} (incident, empty agency) covered "
        f"in the first pass: {first_ms:.1f} ms"
        f"\npresence work per dispatch pass (steady): {pass_ms:.2f} ms; raw SELECT 1 round trip {raw_ms:.3f} ms;"
        f" ratio {pass_ms / raw_ms:.1f}x"
        f"\nshift report, 30 days ({len(rows)} rows): {report_ms:.1f} ms; raw count per agency {raw_report_ms:.1f} ms;"
        f" ratio {report_ms / raw_report_ms:.1f}x"
    )
    assert covered > 0
