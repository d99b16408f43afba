"""What `siaga demo` puts in the database shows the product: the shipped complaint categories
(Open311 services with descriptions) and a supervisor on duty for the Polres and its Polsek."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from complaints import categories, open311, store
from core import auth
from core.settings import Settings
from dispatch import visibility
from siaga.cli import _demo_setup, demo_homes


async def test_the_demo_loads_categories_and_binds_the_supervisor_to_the_polres(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = Settings(database_url=db_dsn, data_dir=str(tmp_path / "var"))
    logins, _, _ = await _demo_setup(settings, pool, demo_homes(2))
    shipped = categories.parse_categories_csv(categories.shipped_text())
    async with pool.acquire() as conn:
        services = [open311.service(c) for c in await store.list_categories(conn)]
        assert len(services) == len(shipped)
        assert all(s["description"] for s in services)
        assert {s["service_code"] for s in services if s["metadata"]} == {r.code for r in shipped if r.attributes}

        row = await conn.fetchrow(
            """SELECT u.full_name, a.code FROM app_user u JOIN agency a ON a.id = u.agency_id
                WHERE u.username = 'supervisor'"""
        )
        assert (row["full_name"], row["code"]) == ("Supervisor Piket Polres", "polres-wonosobo")
        _, session = await auth.login(conn, settings, "supervisor", logins["supervisor"], kind="api")
        polres_and_polsek = await conn.fetch("SELECT id FROM agency WHERE kind IN ('polres', 'polsek')")
        assert visibility.incident_scope(session.user) == frozenset(r["id"] for r in polres_and_polsek)

        audited = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'category.%'")
    # a second start of the demo changes nothing
    await _demo_setup(settings, pool, demo_homes(2))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM complaint_category") == len(shipped)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'category.%'") == audited


async def test_the_demo_gives_the_polres_and_each_polsek_login_units_to_dispatch(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = Settings(database_url=db_dsn, data_dir=str(tmp_path / "var"))
    _, _, users = await _demo_setup(settings, pool, demo_homes(3))
    police = {"polres-wonosobo", *(agency for _, role, agency, _ in users if role == "operator" and agency != "dishub")}
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.code, array_agg(u.name ORDER BY u.name) AS names FROM agency_unit u
                 JOIN agency a ON a.id = u.agency_id WHERE a.kind IN ('polres', 'polsek') AND u.active
                GROUP BY a.code"""
        )
        assert {r["code"] for r in rows} == police
        assert all(r["names"] == ["Motor 1", "Patroli 1", "Patroli 2"] for r in rows)
        audited = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'unit.add'")
    assert audited == 3 * len(police)
    await _demo_setup(settings, pool, demo_homes(3))  # a second start adds none
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'unit.add'") == audited
