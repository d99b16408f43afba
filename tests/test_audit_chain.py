"""The audit log is tamper-evident: edits, deletions and concurrent writers checked by the chain."""

import asyncio
import os

import asyncpg
import pytest

from core import audit
from tests.support import run_siaga, seal_all

ALICE = audit.Actor("alice", 1, "admin", "10.0.0.1")


async def _write(pool: asyncpg.Pool, n: int, tag: str) -> None:
    for i in range(n):
        async with pool.acquire() as conn, conn.transaction():
            await audit.record(conn, ALICE, f"{tag}.{i}", object_type="incident", object_id=str(i), after={"i": i})


async def test_chain_holds_under_concurrent_writers_and_breaks_on_tampering(pool: asyncpg.Pool, db_dsn: str) -> None:
    await asyncio.gather(*(_write(pool, 25, f"w{k}") for k in range(4)))
    async with pool.acquire() as conn:
        assert (await audit.verify_chain(conn)).pending == 100  # committed, not sealed yet
        # two sealers at once (two dispatch processes) seal each row once
        sealed = await asyncio.gather(*(_seal(pool) for _ in range(2)))
        assert sum(sealed) == 100
        check = await audit.verify_chain(conn)
        assert check.intact and check.checked == 100 and check.pending == 0 and check.head is not None
        # the seal cannot be used to rewrite a row
        row_id = await conn.fetchval("SELECT id FROM audit_log WHERE chain_pos = 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET action = 'x' WHERE id = $1", row_id)
        # an insider with table rights edits a row behind the append-only trigger's back
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        victim = await conn.fetchval("SELECT id FROM audit_log WHERE chain_pos = 40")
        await conn.execute("UPDATE audit_log SET username = 'mallory' WHERE id = $1", victim)
        assert (await audit.verify_chain(conn)).broken_id == victim
        await conn.execute("UPDATE audit_log SET username = 'alice' WHERE id = $1", victim)
        assert (await audit.verify_chain(conn)).intact
        # a deleted row leaves a gap
        gone = await conn.fetchval("SELECT id FROM audit_log WHERE chain_pos = 70")
        await conn.execute("DELETE FROM audit_log WHERE id = $1", gone)
        broken = await audit.verify_chain(conn)
        assert not broken.intact and broken.checked == 69


async def test_a_replaced_sql_verifier_or_hash_function_does_not_fool_verify(pool: asyncpg.Pool) -> None:
    """verify_chain hashes in Python: replacing the database's own hash or verify function to bless
    an edited row changes nothing."""
    await _write(pool, 5, "fn")
    async with pool.acquire() as conn:
        await seal_all(conn)
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        victim = await conn.fetchval("SELECT id FROM audit_log WHERE chain_pos = 3")
        await conn.execute("UPDATE audit_log SET after = '{\"i\": 99}' WHERE id = $1", victim)
        # the insider makes the database's verifier report an intact chain
        await conn.execute(
            """CREATE OR REPLACE FUNCTION audit_log_verify()
               RETURNS TABLE (checked bigint, broken_id bigint, head bytea, pending bigint)
               LANGUAGE sql AS $$ SELECT count(*), NULL::bigint, NULL::bytea, 0::bigint FROM audit_log $$"""
        )
        assert (await conn.fetchrow("SELECT * FROM audit_log_verify()"))["broken_id"] is None
        assert (await audit.verify_chain(conn)).broken_id == victim


async def _seal(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return await audit.seal(conn)


async def test_cli_verify(db_dsn: str, pool: asyncpg.Pool) -> None:
    await _write(pool, 3, "cli")
    code, out = await run_siaga("audit", "verify", env={**os.environ, "SIAGA_DATABASE_URL": db_dsn})
    assert code == 0 and "utuh: 3 entri" in out, out
