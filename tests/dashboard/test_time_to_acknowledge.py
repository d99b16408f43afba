"""The dashboard's emergency table: time to acknowledge per agency, from dispatch's own rows."""

from datetime import UTC, datetime

import asyncpg

from core.settings import Settings
from dashboard.period import Period
from dashboard.tables import time_to_acknowledge
from dispatch import service
from tests.dispatch import factory


async def test_p50_p90_per_agency_from_routed_incidents(pool: asyncpg.Pool, db_dsn: str) -> None:
    async with pool.acquire() as conn:
        world = await factory.seed(conn, with_users=False)
        made = [await factory.incident(conn, police_agency_id=world.polsek_wonosobo) for _ in range(10)]
        await factory.incident(conn, type="test", police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, Settings(database_url=db_dsn))
    async with pool.acquire() as conn:
        # acknowledged after 10, 20, ... 90 seconds; the last one never
        for i, m in enumerate(made[:-1]):
            await conn.execute(
                """UPDATE incident_track t SET acknowledged_at = i.created_at + make_interval(secs => $2),
                                              acknowledged_agency_id = $3
                     FROM incident i WHERE i.id = t.incident_id AND t.incident_id = $1""",
                m.incident_id,
                float(10 * (i + 1)),
                world.polsek_wonosobo,
            )
        table = await time_to_acknowledge(conn, Period.last_days(2, datetime.now(UTC)))
    rows = {r[0]: r for r in table.rows}
    polsek = await pool.fetchval("SELECT name FROM agency WHERE id = $1", world.polsek_wonosobo)
    assert rows[polsek][1:] == [10, 9, "50", "82", 0]  # the test alert is not counted
