"""`siaga audit verify` as an auditor runs it, after an insider edited a sealed row's content behind
the append-only trigger's back (tests/test_audit_chain.py checks the chain function itself)."""

from __future__ import annotations

import os

import asyncpg
import orjson

from core import audit
from tests.support import run_siaga, seal_all

ALICE = audit.Actor("alice", 1, "admin", "10.0.0.1")


async def _verify(dsn: str) -> tuple[int, str]:
    return await run_siaga("audit", "verify", env={**os.environ, "SIAGA_DATABASE_URL": dsn})


async def test_cli_verify_names_the_row_whose_content_was_edited(pool: asyncpg.Pool, db_dsn: str) -> None:
    async with pool.acquire() as conn:
        for i in range(5):
            async with conn.transaction():
                await audit.record(
                    conn,
                    ALICE,
                    "incident.transition",
                    object_type="incident",
                    object_id=str(i),
                    after={"to": "resolved"},
                )
        await seal_all(conn)
        code, out = await _verify(db_dsn)
        assert code == 0 and "utuh: 5 entri" in out, out

        # an insider with table rights (superuser) rewrites what an operator did, leaving the seal alone
        victim = await conn.fetchval("SELECT id FROM audit_log WHERE chain_pos = 3")
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        await conn.execute(
            "UPDATE audit_log SET after = $2::jsonb WHERE id = $1", victim, orjson.dumps({"to": "false_alarm"}).decode()
        )
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    code, out = await _verify(db_dsn)
    assert code != 0, out
    assert f"RANTAI AUDIT RUSAK di entri id {victim}" in out and "setelah 2 entri utuh" in out, out


# not part of a row's content: the commit order key the sealer sorts by, used up once sealed
_UNHASHED = {"txid"}
_CHANGE = {
    "text": "coalesce({c}, '') || 'x'",
    "bigint": "coalesce({c}, 0) + 1000",
    "timestamp with time zone": "{c} + interval '1 second'",
    "jsonb": """coalesce({c}, '{{}}'::jsonb) || '{{"x": 1}}'::jsonb""",
    "bytea": "coalesce({c}, ''::bytea) || '\\x00'::bytea",
}


async def test_every_column_of_a_sealed_row_is_covered_by_the_chain(pool: asyncpg.Pool) -> None:
    """A column added to audit_log later and left out of the hash fails here."""
    async with pool.acquire() as conn:
        for i in range(3):
            async with conn.transaction():
                await audit.record(conn, ALICE, "x", object_type="t", object_id=str(i), before={"a": i}, after={})
        await seal_all(conn)
        columns = await conn.fetch(
            """SELECT column_name, data_type FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = 'audit_log' ORDER BY ordinal_position"""
        )
        uncovered = []
        for col in columns:
            name = col["column_name"]
            if name in _UNHASHED:
                continue
            change = _CHANGE[col["data_type"]].format(c=f'"{name}"')
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
                if name == "id":  # an identity column: moved by re-inserting the row under another id
                    cols = ", ".join(f'"{c["column_name"]}"' for c in columns)
                    moved = cols.replace('"id"', '"id" + 1000', 1)
                    await conn.execute(
                        f"""WITH gone AS (DELETE FROM audit_log WHERE chain_pos = 2 RETURNING *)
                            INSERT INTO audit_log ({cols}) OVERRIDING SYSTEM VALUE SELECT {moved} FROM gone"""
                    )
                else:
                    await conn.execute(f'UPDATE audit_log SET "{name}" = {change} WHERE chain_pos = 2')
                if (await audit.verify_chain(conn)).intact:
                    uncovered.append(name)
            finally:
                await tr.rollback()
        assert uncovered == [], f"audit_log columns an insider can change unnoticed: {uncovered}"
        assert (await audit.verify_chain(conn)).intact
