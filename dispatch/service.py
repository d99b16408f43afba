"""Dispatch operations over the database: routing, transitions, notes, escalation timers, reads.

Every change is one transaction holding the row change, its audit record, the event for the
consoles and (where the device is told) the downlink row, so they all happen or none does.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from core import audit, events
from core.auth import User
from core.refusal import Kind
from core.settings import Settings
from dispatch import routing, states, visibility
from dispatch.states import State

if TYPE_CHECKING:
    from core.appkeys import HandoverHook

log = logging.getLogger(__name__)


class DispatchError(Exception):
    """A refused dispatch operation: ``kind`` says what sort of refusal, ``code`` is stable for
    programs and the message is for people."""

    def __init__(self, kind: Kind, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


def _not_found() -> DispatchError:
    # the same answer for "does not exist" and "not yours", so nothing leaks
    return DispatchError(Kind.NOT_FOUND, "not_found", "Insiden tidak ditemukan.")


# --- routing ----------------------------------------------------------------------------------


async def load_rules(conn: asyncpg.Connection) -> list[routing.Rule]:
    rows = await conn.fetch(
        """SELECT alert_type, target, agency_kind, fallback_command_centre
             FROM routing_rule WHERE active ORDER BY id"""
    )
    return [
        routing.Rule(r["alert_type"], routing.Target(r["target"]), r["agency_kind"], r["fallback_command_centre"])
        for r in rows
    ]


async def load_directory(conn: asyncpg.Connection) -> routing.Directory:
    rows = await conn.fetch("SELECT id, kind FROM agency WHERE active ORDER BY id")
    by_kind: dict[str, list[int]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r["id"])
    centres = by_kind.get("command_centre")
    centre = centres[0] if centres else None
    if centre is None:
        # an admin deactivated every command centre: it still takes what nobody else can
        centre = await conn.fetchval("SELECT id FROM agency WHERE kind = 'command_centre' ORDER BY id LIMIT 1")
    if centre is None:
        raise RuntimeError("no command-centre agency (migration 0003 seeds one)")
    return routing.Directory(centre, by_kind)


async def route_pending(pool: asyncpg.Pool, settings: Settings, limit: int = 500) -> int:
    """Route incidents that have not been routed yet; safe with several dispatch processes.

    Each transaction claims up to ``limit`` incidents and writes their assignments, tracks, audit
    rows, events and timers with one pipelined statement each, so an earthquake's thousands of
    alerts cost a few round trips per batch instead of several per incident.
    """
    done = 0
    async with pool.acquire() as conn:
        while True:
            async with conn.transaction():
                ids = await conn.fetch(
                    """SELECT i.id FROM incident i
                        WHERE NOT EXISTS (SELECT 1 FROM incident_track t WHERE t.incident_id = i.id)
                          AND i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')
                        ORDER BY i.created_at
                        LIMIT $1
                        FOR UPDATE SKIP LOCKED""",
                    limit,
                )
                if not ids:
                    return done
                rows = await conn.fetch(
                    "SELECT * FROM incident_routing_input WHERE id = ANY($1::uuid[]) ORDER BY created_at",
                    [r["id"] for r in ids],
                )
                rules = await load_rules(conn)
                directory = await load_directory(conn)
                done += await _route_batch(conn, settings, rows, rules, directory)
            if len(ids) < limit:
                return done


def decide(
    inc: asyncpg.Record | dict[str, Any], rules: list[routing.Rule], directory: routing.Directory
) -> routing.Route:
    """The routing decision for one row of ``incident_routing_input``."""
    where = routing.Jurisdiction(
        police_agency_id=inc["police_agency_id"],
        dishub_agency_id=inc["dishub_agency_id"],
        located=inc["location_source"] != "unknown" and inc["lat"] is not None,
        outside_regency=inc["outside_regency"],
    )
    return routing.route(inc["type"], where, rules, directory)


async def _route_batch(
    conn: asyncpg.Connection,
    settings: Settings,
    incs: list[asyncpg.Record],
    rules: list[routing.Rule],
    directory: routing.Directory,
) -> int:
    """Route these incidents; returns how many were routed here (not meanwhile elsewhere)."""
    decisions = [(inc, decide(inc, rules, directory)) for inc in incs]
    # The track row is the "routed" mark. An incident claimed here may have been routed since
    # this statement's snapshot (an operator acting on it routes it on the spot, and a row lock
    # released by a commit does not refresh the claim's NOT EXISTS): such ones are left alone.
    fresh = {
        r["incident_id"]
        for r in await conn.fetch(
            """INSERT INTO incident_track (incident_id, dispatch, route_reason)
               SELECT * FROM unnest($1::uuid[], $2::boolean[], $3::text[])
               ON CONFLICT (incident_id) DO NOTHING RETURNING incident_id""",
            [inc["id"] for inc, _ in decisions],
            [d.dispatch for _, d in decisions],
            [d.reason for _, d in decisions],
        )
    }
    decisions = [(inc, d) for inc, d in decisions if inc["id"] in fresh]
    await conn.executemany(
        """INSERT INTO incident_assignment (incident_id, agency_id, reason) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        [(inc["id"], agency_id, why) for inc, d in decisions for agency_id, why in d.assignments],
    )
    await audit.record_many(
        conn,
        audit.SYSTEM,
        "incident.route",
        [
            (
                "incident",
                str(inc["id"]),
                None,
                {"agencies": list(d.agency_ids), "dispatch": d.dispatch, "reason": d.reason},
            )
            for inc, d in decisions
        ],
    )
    await events.append_many(
        conn,
        "incident.routed",
        [
            (
                {
                    "incident_id": str(inc["id"]),
                    "number": inc["number"],
                    "type": inc["type"],
                    "state": inc["state"],
                    "device_id": inc["device_id"],
                    "agencies": list(d.agency_ids),
                    "dispatch": d.dispatch,
                    "reason": d.reason,
                },
                inc["id"],
            )
            for inc, d in decisions
        ],
    )
    await conn.executemany(
        """INSERT INTO dispatch_timer (incident_id, kind, due_at)
           VALUES ($1, $2, $3::timestamptz + make_interval(secs => $4))
           ON CONFLICT DO NOTHING""",
        [
            (inc["id"], kind, inc["created_at"], after_s)
            for inc, d in decisions
            if d.dispatch
            for kind, after_s in (
                ("ack_supervisor", settings.escalate_supervisor_s),
                ("ack_command_centre", settings.escalate_command_centre_s),
            )
        ],
    )
    for inc, d in decisions:
        if not d.dispatch and inc["state"] == State.NEW:
            # a test press: logged, nobody alerted; the device hears "resolved", so a test shows
            # the whole path (device -> gateway -> dispatch -> device) works
            await _apply(conn, settings, inc, State.RESOLVED, audit.SYSTEM, note="Uji: dicatat, tidak didispatch")
    return len(decisions)


# --- transitions and notes --------------------------------------------------------------------


async def _agencies(conn: asyncpg.Connection, incident_id: uuid.UUID) -> list[int]:
    rows = await conn.fetch(
        "SELECT agency_id FROM incident_assignment WHERE incident_id = $1 ORDER BY agency_id", incident_id
    )
    return [r["agency_id"] for r in rows]


def _visible(user: User, agencies: list[int]) -> bool:
    return visibility.in_scope(user, agencies)


async def _lock_visible(
    conn: asyncpg.Connection, settings: Settings, user: User, incident_id: uuid.UUID
) -> asyncpg.Record:
    """Lock the incident for a change by ``user``; routes it first if the router has not yet."""
    if await conn.fetchval("SELECT id FROM incident WHERE id = $1 FOR UPDATE", incident_id) is None:
        raise _not_found()
    inc = await conn.fetchrow("SELECT * FROM incident_routing_input WHERE id = $1", incident_id)
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM incident_track WHERE incident_id = $1)", inc["id"]):
        await _route_batch(conn, settings, [inc], await load_rules(conn), await load_directory(conn))
        inc = await conn.fetchrow("SELECT * FROM incident_routing_input WHERE id = $1", incident_id)
    if not _visible(user, await _agencies(conn, incident_id)):
        raise _not_found()
    return inc


_STAMP = {
    State.ACKNOWLEDGED: "acknowledged_at",
    State.DISPATCHED: "dispatched_at",
    State.ON_SCENE: "on_scene_at",
}


async def _apply(
    conn: asyncpg.Connection,
    settings: Settings,
    inc: asyncpg.Record,
    target: State,
    actor: audit.Actor,
    *,
    note: str | None = None,
    unit_id: int | None = None,
    unit_label: str | None = None,
    handover: HandoverHook | None = None,
    handover_category_id: int | None = None,
    handover_description: str | None = None,
) -> None:
    current = inc["state"]
    iid = inc["id"]
    await conn.execute("UPDATE incident SET state = $2, updated_at = clock_timestamp() WHERE id = $1", iid, target)
    match target:
        case State.ACKNOWLEDGED:
            # who acknowledged, and for which agency: the figures per agency credit only that one
            await conn.execute(
                """UPDATE incident_track
                      SET acknowledged_at = clock_timestamp(), acknowledged_by = $2,
                          acknowledged_agency_id = (SELECT agency_id FROM app_user WHERE id = $2)
                    WHERE incident_id = $1""",
                iid,
                actor.user_id,
            )
            await conn.execute(
                """INSERT INTO dispatch_timer (incident_id, kind, due_at)
                   VALUES ($1, 'on_scene', clock_timestamp() + make_interval(secs => $2))
                   ON CONFLICT DO NOTHING""",
                iid,
                settings.on_scene_flag_s,
            )
        case State.DISPATCHED:
            await conn.execute(
                "UPDATE incident_track SET dispatched_at = clock_timestamp() WHERE incident_id = $1", iid
            )
        case State.ON_SCENE:
            await conn.execute(
                """UPDATE incident_track SET on_scene_at = clock_timestamp(), flagged_at = NULL
                    WHERE incident_id = $1""",
                iid,
            )
        case _:
            await conn.execute(
                "UPDATE incident_track SET closed_at = clock_timestamp(), flagged_at = NULL WHERE incident_id = $1",
                iid,
            )
    if note or unit_id is not None or unit_label:
        await conn.execute(
            """INSERT INTO incident_note (incident_id, user_id, username, kind, body, unit_id, unit_label)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            iid,
            actor.user_id,
            actor.username,
            "dispatch" if target is State.DISPATCHED else ("system" if actor.user_id is None else "note"),
            note or "",
            unit_id,
            unit_label,
        )
    device_state = states.DEVICE_STATE[target]
    if device_state is not None:
        await conn.execute(
            "INSERT INTO downlink (device_id, payload) VALUES ($1, $2)",
            inc["device_id"],
            {"seq": inc["seq"], "incident_id": str(iid), "state": device_state},
        )
    after: dict[str, Any] = {"state": target.value}
    if note:
        after["note"] = note
    if unit_id is not None or unit_label:
        after["unit_id"] = unit_id
        after["unit"] = unit_label
    await audit.record_incident(
        conn,
        actor,
        f"incident.{target.value}",
        iid,
        before={"state": current},
        after=after,
    )
    data = {
        "incident_id": str(iid),
        "number": inc["number"],
        "type": inc["type"],
        "from": current,
        "to": target.value,
        "state": target.value,
        "by": actor.username,
        "agencies": await _agencies(conn, iid),
    }
    if unit_label:
        data["unit"] = unit_label
    await events.append(conn, "incident.state", data, incident_id=iid)
    if target is State.HANDED_TO_COMPLAINTS:
        # the complaint pipeline picks this up from the bus (or through the hook siaga wires)
        await events.append(conn, "incident.handed_to_complaints", data, incident_id=iid)
        if handover is not None:
            await handover(conn, iid, category_id=handover_category_id, description=handover_description)


@dataclass(frozen=True)
class TransitionRequest:
    to: str
    note: str | None = None
    unit_id: int | None = None
    unit: str | None = None
    # a hand-over to complaints: the complaint's category and description, as the operator wrote it
    category_id: int | None = None
    description: str | None = None


async def transition(
    pool: asyncpg.Pool,
    settings: Settings,
    user: User,
    incident_id: uuid.UUID,
    req: TransitionRequest,
    *,
    client_ip: str | None = None,
    handover: HandoverHook | None = None,
) -> dict[str, Any]:
    """Move an incident to ``req.to`` as ``user``; returns the incident as the API shows it."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            inc = await _lock_visible(conn, settings, user, incident_id)
            try:
                states.check(inc["state"], req.to, user.role)
            except states.TransitionError as e:
                if e.reason == "role":
                    raise DispatchError(Kind.FORBIDDEN, "forbidden", str(e)) from None
                raise DispatchError(Kind.CONFLICT, "conflict", await _conflict_message(conn, inc, e)) from None
            target = State(req.to)
            unit_label = (req.unit or "").strip() or None
            if req.unit_id is not None:
                unit = await conn.fetchrow(
                    """SELECT u.id, u.name, u.agency_id FROM agency_unit u
                        WHERE u.id = $1 AND u.active
                          AND u.agency_id IN (SELECT agency_id FROM incident_assignment WHERE incident_id = $2)""",
                    req.unit_id,
                    incident_id,
                )
                if unit is None or (user.role == "operator" and unit["agency_id"] != user.agency_id):
                    raise DispatchError(Kind.INVALID, "bad_unit", "Unit itu tidak dapat dikirim ke insiden ini.")
                unit_label = unit_label or unit["name"]
            if target is State.DISPATCHED and unit_label is None:
                raise DispatchError(Kind.INVALID, "unit_required", "Sebutkan unit yang dikirim.")
            if target is State.HANDED_TO_COMPLAINTS and req.category_id is not None:
                # the complaint pipeline refuses an unknown category deep inside the hook; say it here
                if not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM complaint_category WHERE id = $1 AND active)", req.category_id
                ):
                    raise DispatchError(Kind.INVALID, "bad_category", "Kategori pengaduan itu tidak ada.")
            await _apply(
                conn,
                settings,
                inc,
                target,
                user.actor(client_ip),
                note=(req.note or "").strip() or None,
                unit_id=req.unit_id,
                unit_label=unit_label,
                handover=handover,
                handover_category_id=req.category_id,
                handover_description=(req.description or "").strip() or None,
            )
        return await _detail(conn, user, incident_id)


async def _conflict_message(conn: asyncpg.Connection, inc: asyncpg.Record, e: states.TransitionError) -> str:
    """Who moved the incident to its present state and when, if the event log says (usually the
    other operator who pressed first); else the state machine's own sentence."""
    last = await conn.fetchrow(
        """SELECT e.at, coalesce(nullif(u.full_name, ''), e.data->>'by') AS who
             FROM event e LEFT JOIN app_user u ON u.username = e.data->>'by'
            WHERE e.incident_id = $1 AND e.kind = 'incident.state' AND e.data->>'to' = $2
            ORDER BY e.id DESC LIMIT 1""",
        inc["id"],
        inc["state"],
    )
    if last is None or not last["who"]:
        return str(e)
    return states.changed_first(inc["state"], last["who"], last["at"])


async def add_note(
    pool: asyncpg.Pool,
    settings: Settings,
    user: User,
    incident_id: uuid.UUID,
    body: str,
    *,
    client_ip: str | None = None,
    request_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Add a note; returns it and whether it is new. With ``request_key`` (the client's
    Idempotency-Key) a retry of the same request returns the note it stored the first time."""
    body = body.strip()
    if not body:
        raise DispatchError(Kind.INVALID, "empty_note", "Catatan tidak boleh kosong.")
    if len(body) > 4000:
        raise DispatchError(Kind.INVALID, "note_too_long", "Catatan paling banyak 4000 karakter.")
    if request_key is not None and not 1 <= len(request_key) <= 200:
        raise DispatchError(Kind.INVALID, "bad_idempotency_key", "Idempotency-Key harus 1 sampai 200 karakter.")
    if user.role not in states.NOTE_WRITERS:
        raise DispatchError(Kind.FORBIDDEN, "forbidden", "Peran Anda tidak boleh menambah catatan.")
    async with pool.acquire() as conn, conn.transaction():
        await _lock_visible(conn, settings, user, incident_id)
        note = await conn.fetchrow(
            """INSERT INTO incident_note (incident_id, user_id, username, kind, body, request_key)
               VALUES ($1, $2, $3, 'note', $4, $5)
               ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING
               RETURNING id, at, username, kind, body, unit_label""",
            incident_id,
            user.id,
            user.username,
            body,
            request_key,
        )
        if note is None:
            # a retry: the first attempt committed (the incident lock orders two racing retries)
            first = await conn.fetchrow(
                """SELECT id, incident_id, at, username, kind, body, unit_label FROM incident_note
                    WHERE user_id = $1 AND request_key = $2""",
                user.id,
                request_key,
            )
            if first["incident_id"] != incident_id or first["body"] != body:
                raise DispatchError(
                    Kind.CONFLICT, "idempotency_key_reused", "Idempotency-Key ini sudah dipakai untuk catatan lain."
                )
            return {k: first[k] for k in ("id", "at", "username", "kind", "body", "unit_label")}, False
        await audit.record_incident(
            conn,
            user.actor(client_ip),
            "incident.note",
            incident_id,
            after={"note_id": note["id"], "body": body},
        )
        await events.append(
            conn,
            "incident.note",
            {"incident_id": str(incident_id), "note_id": note["id"], "agencies": await _agencies(conn, incident_id)},
            incident_id=incident_id,
        )
    return dict(note), True


# --- escalation timers ------------------------------------------------------------------------


async def fire_due_timers(pool: asyncpg.Pool, settings: Settings) -> int:
    """Act on every due timer, one per transaction; returns how many fired (acted or skipped)."""
    fired = 0
    async with pool.acquire() as conn:
        while True:
            async with conn.transaction():
                timer = await conn.fetchrow(
                    """SELECT id, incident_id, kind FROM dispatch_timer
                        WHERE fired_at IS NULL AND due_at <= clock_timestamp()
                        ORDER BY due_at LIMIT 1
                        FOR UPDATE SKIP LOCKED"""
                )
                if timer is None:
                    return fired
                outcome = await _fire(conn, timer)
                await conn.execute(
                    "UPDATE dispatch_timer SET fired_at = clock_timestamp(), outcome = $2 WHERE id = $1",
                    timer["id"],
                    outcome,
                )
                fired += 1


async def _fire(conn: asyncpg.Connection, timer: asyncpg.Record) -> str:
    iid = timer["incident_id"]
    inc = await conn.fetchrow(
        """SELECT i.id, i.number, i.type, i.state, t.escalation_level
             FROM incident i JOIN incident_track t ON t.incident_id = i.id
            WHERE i.id = $1 FOR UPDATE OF i, t""",
        iid,
    )
    if inc is None:
        return "skipped:unrouted"
    kind = timer["kind"]
    if kind in ("ack_supervisor", "ack_command_centre"):
        if inc["state"] != State.NEW:
            return f"skipped:{inc['state']}"
        level = 1 if kind == "ack_supervisor" else 2
        added: list[int] = []
        if level == 2:
            rows = await conn.fetch(
                """INSERT INTO incident_assignment (incident_id, agency_id, reason)
                   SELECT $1, id, 'escalation' FROM agency
                    WHERE active AND (kind = 'command_centre' OR id IN (
                          SELECT g.parent_id FROM agency g JOIN incident_assignment a ON a.agency_id = g.id
                           WHERE a.incident_id = $1 AND g.parent_id IS NOT NULL))
                   ON CONFLICT DO NOTHING RETURNING agency_id""",
                iid,
            )
            added = [r["agency_id"] for r in rows]
        await conn.execute(
            """UPDATE incident_track SET escalation_level = GREATEST(escalation_level, $2),
                      escalated_at = clock_timestamp() WHERE incident_id = $1""",
            iid,
            level,
        )
        after = {"escalation_level": level, "added_agencies": added}
        await audit.record_incident(
            conn,
            audit.SYSTEM,
            "incident.escalate",
            iid,
            before={"escalation_level": inc["escalation_level"]},
            after=after,
        )
        await events.append(
            conn,
            "incident.escalated",
            {
                "incident_id": str(iid),
                "number": inc["number"],
                "type": inc["type"],
                "state": inc["state"],
                "level": level,
                "raised_to": "supervisor" if level == 1 else "command_centre",
                "added": added,
                "agencies": await _agencies(conn, iid),
            },
            incident_id=iid,
        )
        return f"escalated:{level}"
    # on_scene: acknowledged but nobody on scene in time
    if inc["state"] not in (State.ACKNOWLEDGED, State.DISPATCHED):
        return f"skipped:{inc['state']}"
    await conn.execute("UPDATE incident_track SET flagged_at = clock_timestamp() WHERE incident_id = $1", iid)
    await audit.record_incident(
        conn,
        audit.SYSTEM,
        "incident.flag",
        iid,
        after={"flag": "not_on_scene", "state": inc["state"]},
    )
    await events.append(
        conn,
        "incident.flagged",
        {
            "incident_id": str(iid),
            "number": inc["number"],
            "type": inc["type"],
            "state": inc["state"],
            "flag": "not_on_scene",
            "agencies": await _agencies(conn, iid),
        },
        incident_id=iid,
    )
    return "flagged"


async def next_timer_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM dispatch_timer WHERE fired_at IS NULL")


# --- reads ------------------------------------------------------------------------------------


def urgency_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Console order: new before handled, escalated and flagged first, then by type, oldest first."""
    return (
        row["state"] != State.NEW,
        row["state"] in states.CLOSED,
        -row["escalation_level"],
        row["flagged_at"] is None,
        routing.type_urgency(row["type"]),
        row["created_at"],
    )


def _row(r: asyncpg.Record) -> dict[str, Any]:
    d = dict(r)
    d["agencies"] = list(d["agencies"])
    return d


async def list_incidents(
    conn: asyncpg.Connection, user: User, *, which: str = "open", limit: int = 200
) -> list[dict[str, Any]]:
    scope = visibility.incident_scope(user)
    if scope is not None and not scope:
        return []
    rows = await conn.fetch(
        """SELECT * FROM incident_console c
            WHERE ($1::bigint[] IS NULL OR EXISTS (
                    SELECT 1 FROM incident_assignment x WHERE x.incident_id = c.id AND x.agency_id = ANY($1)))
              AND CASE $2::text
                    WHEN 'open' THEN c.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')
                    WHEN 'closed' THEN c.state IN ('resolved', 'false_alarm', 'handed_to_complaints')
                    ELSE true END
            ORDER BY c.created_at DESC
            LIMIT $3""",
        None if scope is None else sorted(scope),
        which,
        limit,
    )
    out = [_row(r) for r in rows]
    if which == "open":
        out.sort(key=urgency_key)
    return out


async def get_incident(conn: asyncpg.Connection, user: User, incident_id: uuid.UUID) -> dict[str, Any]:
    return await _detail(conn, user, incident_id)


async def _detail(conn: asyncpg.Connection, user: User, incident_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM incident_console WHERE id = $1", incident_id)
    if row is None or not _visible(user, list(row["agencies"])):
        raise _not_found()
    inc = _row(row)
    extra = await conn.fetchrow(
        """SELECT a.seq, a.received_at, a.device_ts, a.channel,
                  d.online, d.last_seen_at, d.battery AS device_battery, d.fixed, d.description,
                  t.dispatched_at, t.on_scene_at, t.closed_at, t.escalated_at, t.route_reason,
                  i.complaint_id
             FROM incident i JOIN alert a ON a.id = i.alert_id JOIN device d ON d.id = i.device_id
             LEFT JOIN incident_track t ON t.incident_id = i.id
            WHERE i.id = $1""",
        incident_id,
    )
    inc.update(dict(extra))
    inc["assignments"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT g.id AS agency_id, g.code, g.name, g.kind, x.reason, x.assigned_at
                 FROM incident_assignment x JOIN agency g ON g.id = x.agency_id
                WHERE x.incident_id = $1 ORDER BY x.assigned_at, g.id""",
            incident_id,
        )
    ]
    inc["notes"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT id, at, username, kind, body, unit_id, unit_label FROM incident_note
                WHERE incident_id = $1 ORDER BY id""",
            incident_id,
        )
    ]
    inc["history"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT id, at, kind, data FROM event WHERE incident_id = $1 ORDER BY id", incident_id
        )
    ]
    unit_agencies = [user.agency_id] if user.role == "operator" else inc["agencies"]
    inc["units"] = [
        dict(r)
        for r in await conn.fetch(
            """SELECT u.id, u.name, u.kind, u.agency_id FROM agency_unit u
                WHERE u.active AND u.agency_id = ANY($1::bigint[]) ORDER BY u.agency_id, u.name""",
            unit_agencies,
        )
    ]
    inc["allowed"] = states.allowed_targets(inc["state"], user.role)
    return inc


async def complaint_categories(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The active complaint categories a hand-over may file under (the table is the complaint
    pipeline's; dispatch only reads the names to offer them)."""
    rows = await conn.fetch(
        """SELECT id, code, name, group_name FROM complaint_category WHERE active ORDER BY group_name, name"""
    )
    return [dict(r) for r in rows]


async def agencies_named(conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
    rows = await conn.fetch("SELECT id, code, name, short_name, kind FROM agency ORDER BY id")
    return {r["id"]: dict(r) for r in rows}
