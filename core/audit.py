"""The append-only audit log: who did what, when, with the object's state before and after.

Rows are written inside the caller's transaction, so an action and its audit record commit
together; a trigger in the schema refuses UPDATE, DELETE and TRUNCATE on the table.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Actor:
    """Who acted: a signed-in user, or the system itself (``user_id`` None)."""

    username: str
    user_id: int | None = None
    role: str | None = None
    client_ip: str | None = None


SYSTEM = Actor(username="system")


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """Append one audit row; returns its id."""
    return int(
        await conn.fetchval(
            """INSERT INTO audit_log
                   (user_id, username, role, action, object_type, object_id, before, after, client_ip)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            actor.user_id,
            actor.username,
            actor.role,
            action,
            object_type,
            object_id,
            before,
            after,
            actor.client_ip,
        )
    )


async def record_incident(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    incident_id: uuid.UUID,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """Append one audit row about an incident; returns its id."""
    return await record(
        conn, actor, action, object_type="incident", object_id=str(incident_id), before=before, after=after
    )


async def record_many(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    rows: Sequence[tuple[str | None, str | None, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    """Append one audit row per ``(object_type, object_id, before, after)`` in one pipelined call."""
    await conn.executemany(
        """INSERT INTO audit_log
               (user_id, username, role, action, object_type, object_id, before, after, client_ip)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        [
            (actor.user_id, actor.username, actor.role, action, otype, oid, before, after, actor.client_ip)
            for otype, oid, before, after in rows
        ],
    )


@dataclass(frozen=True)
class ChainCheck:
    """The result of walking the audit chain: ``broken_id`` is None when it is intact."""

    checked: int
    broken_id: int | None
    head: bytes | None
    pending: int = 0

    @property
    def intact(self) -> bool:
        return self.broken_id is None


async def seal(conn: asyncpg.Connection) -> int:
    """Chain the committed rows not sealed yet (migration 0006); returns how many were sealed."""
    return int(await conn.fetchval("SELECT audit_log_seal()"))


# The content each seal covers, serialised by PostgreSQL's own jsonb output (the same expression
# as audit_row_hash in migration 0006); the hashing and the chain walk happen here, in Python.
_CHAIN_ROWS = """
SELECT chain_pos, id, prev_hash, hash,
       convert_to(jsonb_build_array(chain_pos, id, extract(epoch FROM at), user_id, username, role,
                                    action, object_type, object_id, before, after, client_ip)::text,
                  'UTF8') AS content
  FROM audit_log WHERE chain_pos IS NOT NULL ORDER BY chain_pos"""


async def verify_chain(conn: asyncpg.Connection) -> ChainCheck:
    """Walk the hash chain (migration 0006); stops at the first broken row.

    The SHA-256 chain is recomputed here rather than by the database's ``audit_log_verify()``, so
    someone who can replace SQL functions cannot make a rewritten log verify.
    """
    prev: bytes | None = None
    checked = 0
    # one snapshot for the count and the walk (inside a caller's transaction, that one's)
    snapshot = conn.transaction() if conn.is_in_transaction() else conn.transaction(isolation="repeatable_read")
    async with snapshot:
        pending = int(await conn.fetchval("SELECT count(*) FROM audit_log WHERE chain_pos IS NULL"))
        async for r in conn.cursor(_CHAIN_ROWS, prefetch=2000):
            expected = hashlib.sha256((prev or b"") + bytes(r["content"])).digest()
            stored_prev = bytes(r["prev_hash"]) if r["prev_hash"] is not None else None
            stored = bytes(r["hash"]) if r["hash"] is not None else None
            if r["chain_pos"] != checked + 1 or stored_prev != prev or stored != expected:
                return ChainCheck(checked, r["id"], prev, pending)
            prev = stored
            checked += 1
    return ChainCheck(checked, None, prev, pending)


async def for_object(conn: asyncpg.Connection, object_type: str, object_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, at, user_id, username, role, action, before, after, client_ip
             FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY id""",
        object_type,
        object_id,
    )
    return [dict(r) for r in rows]
