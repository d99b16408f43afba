"""The event bus between roles: rows in PostgreSQL, NOTIFY only as a wake-up.

A reader keeps a :class:`Cursor` and asks for what came after it. Paging is by (txid, id) and
only below ``bus_horizon()`` (migration 0001): the oldest transaction still in progress that
could write to this database. So an event committed late by a slow transaction is never skipped
(a plain ``id > last`` cursor would skip it), and a long transaction in another database of the
same cluster (an import, a benchmark) does not hold the consoles back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

CHANNEL = "siaga_event"  # notified by the trigger on event (migration 0001)
_CURSOR = re.compile(r"([0-9]{1,20})\.([0-9]{1,19})")


@dataclass(frozen=True, order=True)
class Cursor:
    txid: int = 0
    id: int = 0

    def encode(self) -> str:
        return f"{self.txid}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        # ASCII digits within xid8 and bigint: int() alone takes '१', '-1' and 30 digits, which
        # PostgreSQL then refuses, after the WebSocket has been upgraded
        m = _CURSOR.fullmatch(text)
        if m is None or int(m[1]) >= 2**64 or int(m[2]) >= 2**63:
            raise ValueError(f"bad event cursor {text!r}")
        return cls(int(m[1]), int(m[2]))


@dataclass(frozen=True)
class Event:
    cursor: Cursor
    at: datetime
    kind: str
    incident_id: uuid.UUID | None
    complaint_id: int | None
    data: dict[str, Any]


async def append(
    conn: asyncpg.Connection,
    kind: str,
    data: dict[str, Any] | None = None,
    *,
    incident_id: uuid.UUID | None = None,
    complaint_id: int | None = None,
) -> None:
    """Add an event inside the caller's transaction; a trigger wakes the readers at commit."""
    await conn.execute(
        "INSERT INTO event (kind, incident_id, complaint_id, data) VALUES ($1, $2, $3, $4)",
        kind,
        incident_id,
        complaint_id,
        data or {},
    )


async def append_many(
    conn: asyncpg.Connection, kind: str, items: Sequence[tuple[dict[str, Any], uuid.UUID | None]]
) -> None:
    """Add one ``kind`` event per ``(data, incident_id)`` inside the caller's transaction."""
    await conn.executemany(
        "INSERT INTO event (kind, incident_id, data) VALUES ($1, $2, $3)",
        [(kind, incident_id, data) for data, incident_id in items],
    )


_HEAD = """
WITH horizon AS MATERIALIZED (SELECT bus_horizon() AS h)
SELECT txid::text::bigint AS txid, id FROM event, horizon
 WHERE txid < horizon.h
 ORDER BY txid DESC, id DESC LIMIT 1"""
_READ_AFTER = """
WITH horizon AS MATERIALIZED (SELECT bus_horizon() AS h)
SELECT txid::text::bigint AS txid, id, at, kind, incident_id, complaint_id, data
  FROM event, horizon
 WHERE (txid, id) > ($1::text::xid8, $2)
   AND txid < horizon.h
 ORDER BY txid, id
 LIMIT $3"""


async def head(conn: asyncpg.Connection) -> Cursor:
    """A cursor past every event that exists now (for a reader that wants only new ones)."""
    row = await conn.fetchrow(_HEAD)
    return Cursor(row["txid"], row["id"]) if row else Cursor()


async def read_after(conn: asyncpg.Connection, cursor: Cursor, limit: int = 500) -> list[Event]:
    """Events after ``cursor`` from finished transactions, oldest first."""
    rows = await conn.fetch(
        _READ_AFTER,
        str(cursor.txid),
        cursor.id,
        limit,
    )
    return [
        Event(
            Cursor(r["txid"], r["id"]), r["at"], r["kind"], r["incident_id"], r["complaint_id"], r["data"]
        )
        for r in rows
    ]
