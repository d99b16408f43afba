"""`siaga audit verify` as an auditor runs it, after an insider edited a sealed row's content behind
the append-only trigger's back (tests/test_audit_chain.py checks the chain function itself)."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import orjson

from core import audit

ALICE = audit.Actor("alice", 1, "admin", "10.0.0.1")


async def _verify(dsn: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "siaga.cli",
        "audit",
        "verify",
        env={**os.environ, "SIAGA_DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


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
        await audit.seal(conn)
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
