"""Console presence and the routing that never leaves an alert with an empty chair.

Presence lives in the database (``console_presence``, migration 0007), so it holds with several
web processes and survives one being killed: each console WebSocket keeps a row whose beat the
web process refreshes; a clean close ends the row at once, a killed process's rows go stale after
``presence_stale_s``; a signed-out session stops counting at once (the row carries the session's
key). Rows are kept as intervals, so the hours with no one present are computable.

The dispatch loop calls :func:`cover_unattended` and :func:`check_attendance` right after routing.
Both are set-based and safe with several dispatch processes (``SKIP LOCKED``, ``ON CONFLICT``,
conditional updates), and both append events, so consoles see the change and other loops wake.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import asyncpg

from core import audit, events
from core.auth import User
from core.roles import Role
from core.settings import Settings

log = logging.getLogger(__name__)

_OPEN = ("resolved", "false_alarm", "handed_to_complaints")


def session_key(token: str | None) -> bytes | None:
    """The key of a session as ``user_session.token_hash`` stores it (SHA-256 of the token)."""
    return hashlib.sha256(token.encode()).digest() if token else None


async def command_centre_id(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval("SELECT id FROM agency WHERE kind = 'command_centre' ORDER BY active DESC, id LIMIT 1")
    )


async def agency_for(conn: asyncpg.Connection, user: User) -> int | None:
    """The agency a console counts for: the user's own; the command centre's for its staff."""
    if user.agency_id is not None:
        return user.agency_id
    if user.role is Role.COMMAND_CENTRE:
        return await command_centre_id(conn)
    return None


async def connect(conn: asyncpg.Connection, user: User, agency_id: int | None, key: bytes | None) -> uuid.UUID:
    """A console opened: its presence row, and a wake-up so dispatch re-checks the agency."""
    socket_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO console_presence (socket_id, user_id, agency_id, session_key) VALUES ($1, $2, $3, $4)",
            socket_id,
            user.id,
            agency_id,
            key,
        )
        await _wake_dispatch(conn)
    return socket_id


async def beat(conn: asyncpg.Connection, socket_id: uuid.UUID) -> str:
    """Refresh a console's row: 'ok', 'ended' (closed as stale: open a new row) or 'signed_out'."""
    async with conn.transaction():
        # a lost beat costs nothing that the next one does not restore: no WAL flush for it
        await conn.execute("SET LOCAL synchronous_commit TO off")
        row = await conn.fetchrow(
            """UPDATE console_presence p SET last_beat = clock_timestamp()
                WHERE p.socket_id = $1 AND p.ended_at IS NULL
            RETURNING p.session_key IS NULL OR EXISTS (
                      SELECT 1 FROM user_session s WHERE s.token_hash = p.session_key
                         AND s.revoked_at IS NULL AND s.expires_at > clock_timestamp()) AS signed_in""",
            socket_id,
        )
        if row is None:
            ended = await conn.fetchval("SELECT end_reason FROM console_presence WHERE socket_id = $1", socket_id)
            return "signed_out" if ended == "signed_out" else "ended"
    return "ok" if row["signed_in"] else "signed_out"


async def disconnect(conn: asyncpg.Connection, socket_id: uuid.UUID, reason: str = "closed") -> None:
    """A console closed (or its session ended): it stops counting now."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE console_presence SET ended_at = clock_timestamp(), end_reason = $2
                WHERE socket_id = $1 AND ended_at IS NULL RETURNING agency_id, user_id""",
            socket_id,
            reason,
        )
        if row is not None:
            await _wake_dispatch(conn)


async def _wake_dispatch(conn: asyncpg.Connection) -> None:
    """Wake the dispatch loops at commit (they listen on the bus channel) to re-check presence.
    Not an event row: consoles have nothing to show for it, and NOTIFY is only a wake-up."""
    await conn.execute("SELECT pg_notify($1, '')", events.CHANNEL)


async def close_stale(conn: asyncpg.Connection, settings: Settings) -> int:
    """End the rows of consoles not heard from (a killed web process) or signed out."""
    return int(
        await conn.fetchval(
            """WITH gone AS (
                 UPDATE console_presence p
                    SET ended_at = CASE WHEN s.revoked_at IS NOT NULL OR s.expires_at <= clock_timestamp()
                                        THEN least(coalesce(s.revoked_at, s.expires_at), clock_timestamp())
                                        ELSE p.last_beat + make_interval(secs => $1) END,
                        end_reason = CASE WHEN s.revoked_at IS NOT NULL OR s.expires_at <= clock_timestamp()
                                          THEN 'signed_out' ELSE 'stale' END
                   FROM console_presence q LEFT JOIN user_session s ON s.token_hash = q.session_key
                  WHERE p.socket_id = q.socket_id AND p.ended_at IS NULL
                    AND (p.last_beat <= clock_timestamp() - make_interval(secs => $1)
                         OR s.revoked_at IS NOT NULL OR s.expires_at <= clock_timestamp())
                 RETURNING 1)
               SELECT count(*) FROM gone""",
            settings.presence_stale_s,
        )
    )


async def present(conn: asyncpg.Connection, stale_s: float) -> list[dict[str, Any]]:
    """Per responding agency: who is present now and since when (for the command centre and the
    dashboard); ``stale_s`` is ``settings.presence_stale_s``."""
    rows = await conn.fetch(
        """WITH p AS (SELECT c.agency_id, u.username, u.full_name, min(c.connected_at) AS since
                        FROM present_consoles($1) c JOIN app_user u ON u.id = c.user_id
                       WHERE c.agency_id IS NOT NULL GROUP BY 1, 2, 3)
           SELECT g.id AS agency_id, g.code, g.name, g.kind,
                  EXISTS (SELECT 1 FROM shift_pattern s WHERE s.agency_id = g.id AND s.active) AS rostered,
                  coalesce(array_agg(p.username ORDER BY p.username) FILTER (WHERE p.username IS NOT NULL), '{}')
                      AS operators,
                  min(p.since) AS since,
                  (SELECT count(*) FROM incident_assignment a JOIN incident i ON i.id = a.incident_id
                    WHERE a.agency_id = g.id AND i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints'))
                      AS open_incidents
             FROM agency g LEFT JOIN p ON p.agency_id = g.id
            WHERE g.active AND g.kind <> 'opd'
            GROUP BY g.id ORDER BY (g.kind <> 'command_centre'), g.kind, g.name""",
        stale_s,
    )
    return [dict(r) | {"operators": list(r["operators"])} for r in rows]


async def cover_unattended(conn: asyncpg.Connection, settings: Settings, limit: int = 200) -> int:
    """Hand to the command centre (and the agency's on-call supervisor) every open, dispatched
    incident routed to a watched agency that has no one present; once per incident and agency.

    Watched: agencies with a duty roster, or all with ``presence_watch_all``. Returns how many
    (incident, agency) pairs were covered in this call.
    """
    covered = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                """WITH live AS (SELECT DISTINCT agency_id FROM present_consoles($1) WHERE agency_id IS NOT NULL),
                        cand AS (
                   SELECT a.incident_id, a.agency_id
                     FROM incident i
                     JOIN incident_track t ON t.incident_id = i.id AND t.dispatch
                     JOIN incident_assignment a ON a.incident_id = i.id AND a.reason IN ('rule', 'fallback')
                     JOIN agency g ON g.id = a.agency_id AND g.kind <> 'command_centre'
                    WHERE i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')
                      AND ($2 OR EXISTS (SELECT 1 FROM shift_pattern s WHERE s.agency_id = a.agency_id AND s.active))
                      AND NOT EXISTS (SELECT 1 FROM live WHERE live.agency_id = a.agency_id)
                      AND NOT EXISTS (SELECT 1 FROM incident_cover c
                                       WHERE c.incident_id = a.incident_id AND c.empty_agency_id = a.agency_id)
                    ORDER BY i.created_at
                    LIMIT $3
                    FOR UPDATE OF i SKIP LOCKED)
                   INSERT INTO incident_cover (incident_id, empty_agency_id, on_call_user_ids)
                   SELECT c.incident_id, c.agency_id,
                          coalesce((SELECT array_agg(DISTINCT e.user_id ORDER BY e.user_id) FROM roster_entry e
                                     WHERE e.agency_id = c.agency_id AND e.on_call
                                       AND e.starts_at <= clock_timestamp() AND e.ends_at > clock_timestamp()), '{}')
                     FROM cand c
                   ON CONFLICT DO NOTHING
                   RETURNING incident_id, empty_agency_id, on_call_user_ids""",
                settings.presence_stale_s,
                settings.presence_watch_all,
                limit,
            )
            if not rows:
                return covered
            centre = await command_centre_id(conn)
            for r in rows:
                await _cover_one(conn, r["incident_id"], r["empty_agency_id"], list(r["on_call_user_ids"]), centre)
            covered += len(rows)
        if len(rows) < limit:
            return covered


async def _cover_one(conn: asyncpg.Connection, iid: uuid.UUID, empty: int, on_call: list[int], centre: int) -> None:
    people = await conn.fetch(
        "SELECT id, username, agency_id FROM app_user WHERE id = ANY($1::bigint[]) ORDER BY id", on_call
    )
    wanted = [(centre, "unattended")] + [
        (p["agency_id"], "on_call") for p in people if p["agency_id"] is not None and p["agency_id"] != empty
    ]
    added = await conn.fetch(
        """INSERT INTO incident_assignment (incident_id, agency_id, reason)
           SELECT $1, x.agency_id, x.reason FROM unnest($2::bigint[], $3::text[]) AS x(agency_id, reason)
           ON CONFLICT DO NOTHING RETURNING agency_id""",
        iid,
        [a for a, _ in wanted],
        [why for _, why in wanted],
    )
    inc = await conn.fetchrow("SELECT number, type, state FROM incident WHERE id = $1", iid)
    agencies = [
        r["agency_id"]
        for r in await conn.fetch(
            "SELECT agency_id FROM incident_assignment WHERE incident_id = $1 ORDER BY agency_id", iid
        )
    ]
    on_call_public = [{"user_id": p["id"], "username": p["username"]} for p in people]
    await audit.record_incident(
        conn,
        audit.SYSTEM,
        "incident.unattended",
        iid,
        after={"empty_agency_id": empty, "added_agencies": [r["agency_id"] for r in added], "on_call": on_call_public},
    )
    await events.append(
        conn,
        "incident.unattended",
        {
            "incident_id": str(iid),
            "number": inc["number"],
            "type": inc["type"],
            "state": inc["state"],
            "empty_agency_id": empty,
            "added": [r["agency_id"] for r in added],
            "on_call": on_call_public,
            "agencies": agencies,
        },
        incident_id=iid,
    )
    log.info("incident %s: agency %d has no one present; handed to the command centre", iid, empty)


async def check_attendance(conn: asyncpg.Connection, settings: Settings) -> int:
    """Record each agency's someone-present / no-one-present transitions; when the last console of
    an agency with open incidents goes, alarm the command centre (once per transition). Returns
    the number of alarms raised."""
    async with conn.transaction():
        # one checker at a time: two dispatch processes updating the same rows in another order
        # could deadlock, and the alarm must be raised by exactly one of them
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('siaga.agency_attendance'))")
        flips = await conn.fetch(
            """WITH live AS (SELECT DISTINCT agency_id FROM present_consoles($1) WHERE agency_id IS NOT NULL),
                    want AS (SELECT k.agency_id,
                                    EXISTS (SELECT 1 FROM live l WHERE l.agency_id = k.agency_id) AS present
                               FROM (SELECT agency_id FROM agency_attendance UNION SELECT agency_id FROM live) k),
                    ins AS (INSERT INTO agency_attendance (agency_id, present)
                            SELECT agency_id, true FROM want WHERE present ON CONFLICT DO NOTHING RETURNING agency_id)
               UPDATE agency_attendance a SET present = w.present, changed_at = clock_timestamp()
                 FROM want w
                WHERE w.agency_id = a.agency_id AND a.present IS DISTINCT FROM w.present
            RETURNING a.agency_id, a.present""",
            settings.presence_stale_s,
        )
        gone = [r["agency_id"] for r in flips if not r["present"]]
        if not gone:
            return 0
        centre = await command_centre_id(conn)
        rows = await conn.fetch(
            """SELECT g.id, g.name,
                      array_agg(i.number ORDER BY i.number) FILTER (WHERE i.id IS NOT NULL) AS numbers,
                      array_agg(i.id ORDER BY i.number) FILTER (WHERE i.id IS NOT NULL) AS ids
                 FROM agency g
                 LEFT JOIN incident_assignment a ON a.agency_id = g.id
                 LEFT JOIN incident i ON i.id = a.incident_id
                      AND i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')
                WHERE g.id = ANY($1::bigint[]) GROUP BY g.id ORDER BY g.id""",
            gone,
        )
        raised = 0
        for r in rows:
            numbers = list(r["numbers"] or [])
            if not numbers:
                continue
            data = {
                "agency_id": r["id"],
                "agency": r["name"],
                "open_incidents": numbers,
                "incident_ids": [str(i) for i in r["ids"]],
                "agencies": [centre],
            }
            await audit.record(
                conn, audit.SYSTEM, "agency.unattended", object_type="agency", object_id=str(r["id"]), after=data
            )
            await events.append(conn, "agency.unattended", data)
            log.warning("agency %s has no one present and %d open incidents", r["name"], len(numbers))
            raised += 1
        return raised
