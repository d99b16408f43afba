"""The append-only audit log: who did what, when, with the object's state before and after.

Rows are written inside the caller's transaction, so an action and its audit record commit
together; a trigger in the schema refuses UPDATE, DELETE and TRUNCATE on the table.
"""

from __future__ import annotations

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


async def verify_chain(conn: asyncpg.Connection) -> ChainCheck:
    """Walk the hash chain (migration 0006) in the database; stops at the first broken row."""
    row = await conn.fetchrow("SELECT checked, broken_id, head, pending FROM audit_log_verify()")
    head = bytes(row["head"]) if row["head"] else None
    return ChainCheck(int(row["checked"]), row["broken_id"], head, int(row["pending"]))


async def for_object(conn: asyncpg.Connection, object_type: str, object_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, at, user_id, username, role, action, before, after, client_ip
             FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY id""",
        object_type,
        object_id,
    )
    return [dict(r) for r in rows]
