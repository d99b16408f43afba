"""Complaint rows: creation, transitions with history and events, the SLA sweep, teguran, categories.

Plain parameterised SQL over the tables of migration 0004. Every change of a complaint writes a
history row (actor, before, after) and an event in the same transaction. Locks are always taken
on the complaint row first (``FOR NO KEY UPDATE``, which does not block the foreign-key checks of
inserts that reference it), so two writers never deadlock and the sweep can skip what is busy.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from complaints import citizen, transitions
from complaints.clock import Pause, WorkingDayClock
from complaints.model import (
    CLOSED,
    Action,
    Actor,
    AutoClose,
    Dispose,
    Forbidden,
    InvalidAction,
    Kind,
    NotFound,
    RequestFilter,
    SlaLimits,
    Stage,
    Transition,
)
from complaints.open311 import validate_attributes as validate_attributes
from complaints.transitions import state_of as state_of
from core import events, labels
from core.roles import Role

log = logging.getLogger(__name__)

# No 0/O/1/I/L: read out over the phone.
_TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
CHANNELS = frozenset({"web", "open311", "app", "dispatch", "desk"})


def new_tracking_id() -> str:
    """``WSB-XXXX-XXXX``: what a citizen writes down to follow a complaint."""
    chars = "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(8))
    return f"WSB-{chars[:4]}-{chars[4:]}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- collective leave and the clock -------------------------------------------------------------


async def load_clock(conn: asyncpg.Connection | asyncpg.Pool) -> WorkingDayClock:
    """The clock with the cuti bersama an admin entered."""
    rows = await conn.fetch("SELECT day FROM collective_leave")
    return WorkingDayClock(r["day"] for r in rows)


async def set_collective_leave(conn: asyncpg.Connection, days: Iterable[date], *, note: str = "", actor: Actor) -> None:
    """Add cuti bersama days (idempotent). Open stages keep their due dates until
    :func:`recompute_due` runs."""
    await conn.executemany(
        """INSERT INTO collective_leave (day, note, created_by) VALUES ($1, $2, $3)
           ON CONFLICT (day) DO UPDATE SET note = EXCLUDED.note""",
        [(d, note, actor.name or actor.role) for d in days],
    )


async def remove_collective_leave(conn: asyncpg.Connection, day: date) -> bool:
    return await conn.fetchval("DELETE FROM collective_leave WHERE day = $1 RETURNING true", day) or False


async def list_collective_leave(conn: asyncpg.Connection, year: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT day, note, created_by FROM collective_leave WHERE extract(year FROM day) = $1 ORDER BY day",
        year,
    )


# --- categories ----------------------------------------------------------------------------------


async def create_category(
    conn: asyncpg.Connection,
    code: str,
    name: str,
    *,
    description: str = "",
    group_name: str = "",
    keywords: Sequence[str] = (),
    default_opd_id: int | None = None,
    attributes: list[dict[str, Any]] | None = None,
) -> int:
    try:
        return int(
            await conn.fetchval(
                """INSERT INTO complaint_category
                       (code, name, description, group_name, keywords, default_opd_id, attributes)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
                code,
                name,
                description,
                group_name,
                list(keywords),
                default_opd_id,
                attributes or [],
            )
        )
    except asyncpg.UniqueViolationError:
        raise InvalidAction("code", f"kode {code!r} sudah dipakai") from None
    except asyncpg.CheckViolationError:
        raise InvalidAction("code", f"kode {code!r} tidak sah") from None


async def update_category(conn: asyncpg.Connection, category_id: int, **changes: Any) -> None:
    allowed = ("name", "description", "group_name", "keywords", "default_opd_id", "attributes", "active")
    bad = set(changes) - set(allowed)
    if bad:
        raise InvalidAction(sorted(bad)[0], "tidak bisa diubah")
    row = await conn.fetchrow("SELECT * FROM complaint_category WHERE id = $1", category_id)
    if row is None:
        raise NotFound(f"kategori {category_id}")
    merged = {k: changes.get(k, row[k]) for k in allowed}
    await conn.execute(
        """UPDATE complaint_category
              SET name = $2, description = $3, group_name = $4, keywords = $5, default_opd_id = $6,
                  attributes = $7, active = $8
            WHERE id = $1""",
        category_id,
        *(merged[k] for k in allowed),
    )


async def list_categories(conn: asyncpg.Connection, *, active_only: bool = True) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM complaint_category WHERE active OR NOT $1 ORDER BY group_name, name""", active_only
    )


async def category_by_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM complaint_category WHERE code = $1", code)


async def get_category(conn: asyncpg.Connection, category_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM complaint_category WHERE id = $1", category_id)


async def set_category_attributes(
    conn: asyncpg.Connection, actor: Actor, category_id: int, attributes: list[dict[str, Any]]
) -> None:
    """Replace a category's Open311 attribute definitions, checked by :func:`validate_attributes`
    (InvalidAction with an Indonesian message otherwise); audited with the list before and after."""
    checked = validate_attributes(attributes)
    from core import audit

    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT code, attributes FROM complaint_category WHERE id = $1 FOR NO KEY UPDATE", category_id
        )
        if before is None:
            raise NotFound(f"kategori {category_id}")
        if before["attributes"] == checked:
            return
        await conn.execute("UPDATE complaint_category SET attributes = $2 WHERE id = $1", category_id, checked)
        await audit.record(
            conn,
            audit.Actor(
                username=actor.name or str(actor.user_id),
                user_id=actor.user_id,
                role=actor.role,
                client_ip=actor.client_ip,
            ),
            "category.attributes",
            object_type="complaint_category",
            object_id=before["code"],
            before={"attributes": before["attributes"]},
            after={"attributes": checked},
        )


# --- Open311 clients -----------------------------------------------------------------------------


def _key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_open311_client(conn: asyncpg.Connection, name: str) -> tuple[int, str]:
    """A new API key for an Open311 client; returns (id, key). Only the key's hash is kept."""
    key = secrets.token_urlsafe(24)
    cid = await conn.fetchval(
        "INSERT INTO open311_client (name, key_hash) VALUES ($1, $2) RETURNING id", name, _key_hash(key)
    )
    return int(cid), key


async def list_open311_clients(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every client, never its key (only the key's hash is kept)."""
    return await conn.fetch("SELECT id, name, active, created_at FROM open311_client ORDER BY active DESC, name, id")


async def set_open311_client_active(conn: asyncpg.Connection, client_id: int, active: bool) -> asyncpg.Record | None:
    """Switch a client's key on or off; the client's row before the change, None when there is none."""
    return await conn.fetchrow(
        """UPDATE open311_client n SET active = $2 FROM open311_client o
            WHERE n.id = $1 AND o.id = n.id RETURNING o.id, o.name, o.active""",
        client_id,
        active,
    )


async def open311_client_for_key(conn: asyncpg.Connection, key: str) -> int | None:
    return await conn.fetchval("SELECT id FROM open311_client WHERE key_hash = $1 AND active", _key_hash(key[:200]))


# --- creating complaints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewComplaint:
    description: str
    kind: Kind = Kind.PENGADUAN
    channel: str = "web"
    title: str = ""
    category_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    desa_code: str | None = None
    desa_name: str | None = None
    kecamatan_code: str | None = None
    kecamatan_name: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    anonim: bool = False
    rahasia: bool = False
    media_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    open311_client_id: int | None = None
    incident_id: uuid.UUID | None = None

    def validate(self) -> None:
        if not self.description or not self.description.strip():
            raise InvalidAction("description", "isi laporan wajib diisi")
        if len(self.description) > 10000:
            raise InvalidAction("description", "paling panjang 10000 karakter")
        if len(self.title) > 200:
            raise InvalidAction("title", "paling panjang 200 karakter")
        if self.channel not in CHANNELS:
            raise InvalidAction("channel", f"saluran {self.channel!r} tidak dikenal")
        if (self.lat is None) != (self.lon is None):
            raise InvalidAction("lat", "lintang dan bujur harus diisi berdua")
        if self.lat is not None and self.lon is not None:
            if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
                raise InvalidAction("lat", "koordinat di luar jangkauan")
        for name in ("reporter_name", "reporter_email", "reporter_phone", "address", "media_url"):
            value = getattr(self, name)
            if value is not None and len(value) > 500:
                raise InvalidAction(name, "terlalu panjang")


async def create(
    conn: asyncpg.Connection,
    new: NewComplaint,
    actor: Actor,
    *,
    clock: WorkingDayClock,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    now: datetime | None = None,
    citizen_secret: str | None = None,
) -> asyncpg.Record:
    """Store a new complaint in verification (its clocks start now); returns the row.

    ``citizen_secret`` (from :func:`complaints.citizen.new_secret`) is what the reporter will act
    with; only its hash is stored. Without one (a handover from dispatch) the reporter acts through
    the complaint desk."""
    new.validate()
    now = now or _utcnow()
    if new.category_id is not None:
        ok = await conn.fetchval("SELECT active FROM complaint_category WHERE id = $1", new.category_id)
        if not ok:
            raise InvalidAction("category_id", "kategori tidak dikenal")
    yellow = clock.yellow_at(now, limits.verification_days)
    due = clock.add(now, limits.verification_days)
    async with conn.transaction():
        for _ in range(5):
            try:
                async with conn.transaction():
                    row = await conn.fetchrow(
                        """INSERT INTO complaint
                               (tracking_id, token, kind, channel, status, title, description, category_id,
                                lat, lon, address, desa_code, desa_name, kecamatan_code, kecamatan_name,
                                reporter_name, reporter_email, reporter_phone, anonim, rahasia, media_url,
                                attributes, open311_client_id, incident_id, received_at, updated_at,
                                stage, stage_started_at, yellow_at, due_at, citizen_secret_hash)
                           VALUES ($1, $2, $3, $4, 'verifikasi', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                   $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $24,
                                   'verifikasi', $24, $25, $26, $27)
                           RETURNING *""",
                        new_tracking_id(),
                        secrets.token_urlsafe(12),
                        Kind(new.kind).value,
                        new.channel,
                        new.title,
                        new.description,
                        new.category_id,
                        new.lat,
                        new.lon,
                        new.address,
                        new.desa_code,
                        new.desa_name,
                        new.kecamatan_code,
                        new.kecamatan_name,
                        new.reporter_name,
                        new.reporter_email,
                        new.reporter_phone,
                        new.anonim,
                        new.rahasia,
                        new.media_url,
                        new.attributes,
                        new.open311_client_id,
                        new.incident_id,
                        now,
                        yellow,
                        due,
                        citizen.secret_hash(citizen_secret) if citizen_secret is not None else None,
                    )
                break
            except asyncpg.UniqueViolationError as e:
                # a tracking id collision is astronomically rare; a second complaint for the
                # same incident is not
                if new.incident_id is not None and "incident" in (e.constraint_name or ""):
                    raise InvalidAction("incident_id", "insiden ini sudah dialihkan ke pengaduan") from None
                continue
        else:  # pragma: no cover
            raise RuntimeError("could not draw a unique tracking id")
        await _history(conn, row["id"], now, "create", actor, None, _snapshot(row), note=new.channel)
        await events.append(
            conn,
            "complaint.created",
            {"tracking_id": row["tracking_id"], "channel": new.channel, "kind": row["kind"]},
            complaint_id=row["id"],
            incident_id=new.incident_id,
        )
    return row


def incident_title(alert_type: str | None, desa: str | None, kecamatan: str | None) -> str:
    """A handed-over incident's title as staff read it: what happened and where, e.g.
    ``Darurat (tombol panik) di Desa Kalianget`` (never a bare incident number)."""
    what = labels.ALERT_TYPE.get(alert_type or "", "Kejadian dari pusat kendali")
    if desa:
        return f"{what} di Desa {desa}"
    if kecamatan:
        return f"{what} di Kecamatan {kecamatan}"
    return what


async def create_from_incident(
    conn: asyncpg.Connection,
    incident_id: uuid.UUID,
    actor: Actor | None = None,
    *,
    description: str | None = None,
    kind: Kind = Kind.PENGADUAN,
    category_id: int | None = None,
    clock: WorkingDayClock | None = None,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    now: datetime | None = None,
) -> asyncpg.Record:
    """Hand a non-emergency incident over to the complaint pipeline (inside the caller's transaction
    if there is one): the complaint copies the incident's place and both rows link to each other.

    Marking the incident ``handed_to_complaints`` is dispatch's business, not done here. Dispatch
    calls this as ``hook(conn, incident_id)``; the actor then is the command centre.
    """
    if actor is None:
        actor = Actor(Role.COMMAND_CENTRE, name="pusat kendali")
    inc = await conn.fetchrow(
        """SELECT id, number, type, lat, lon, desa_code, desa_name, kecamatan_code, kecamatan_name,
                  complaint_id, created_at
             FROM incident WHERE id = $1 FOR NO KEY UPDATE""",
        incident_id,
    )
    if inc is None:
        raise NotFound(f"insiden {incident_id}")
    if inc["complaint_id"] is not None:
        raise InvalidAction("incident_id", "insiden ini sudah dialihkan ke pengaduan")
    if clock is None:
        clock = await load_clock(conn)
    kind_words = labels.label("alert_type", inc["type"])
    text = f"Dialihkan dari insiden #{inc['number']} ({kind_words}) oleh pusat kendali."
    note = description
    if note is None and await conn.fetchval("SELECT to_regclass('incident_note') IS NOT NULL"):
        # the dispatcher's note on the handover (dispatch writes it in the same transaction)
        note = await conn.fetchval(
            "SELECT body FROM incident_note WHERE incident_id = $1 AND body <> '' ORDER BY id DESC LIMIT 1",
            incident_id,
        )
    if note:
        text = f"{note}\n\n{text}"
    new = NewComplaint(
        description=text,
        kind=kind,
        channel="dispatch",
        title=incident_title(inc["type"], inc["desa_name"], inc["kecamatan_name"]),
        category_id=category_id,
        lat=inc["lat"],
        lon=inc["lon"],
        desa_code=inc["desa_code"],
        desa_name=inc["desa_name"],
        kecamatan_code=inc["kecamatan_code"],
        kecamatan_name=inc["kecamatan_name"],
        incident_id=incident_id,
    )
    async with conn.transaction():
        row = await create(conn, new, actor, clock=clock, limits=limits, now=now)
        await conn.execute("UPDATE incident SET complaint_id = $2 WHERE id = $1", incident_id, row["id"])
    return row


# --- reading ------------------------------------------------------------------------------------------


async def get(conn: asyncpg.Connection, complaint_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(_SELECT + " WHERE c.id = $1", complaint_id)


async def get_by_tracking(conn: asyncpg.Connection, tracking_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_SELECT + " WHERE c.tracking_id = $1", tracking_id.strip().upper()[:40])


async def get_by_token(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_SELECT + " WHERE c.token = $1", token[:100])


_SELECT = """SELECT c.*, cat.code AS category_code, cat.name AS category_name, a.name AS opd_name,
                    a.short_name AS opd_short_name
               FROM complaint c
               LEFT JOIN complaint_category cat ON cat.id = c.category_id
               LEFT JOIN agency a ON a.id = c.opd_id"""


async def history(conn: asyncpg.Connection, complaint_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM complaint_history WHERE complaint_id = $1 ORDER BY id", complaint_id)


async def latest_history(conn: asyncpg.Connection, complaint_id: int) -> asyncpg.Record | None:
    """The complaint's last history line: who changed it last, and when."""
    return await conn.fetchrow(
        """SELECT at, action, actor_name, actor_role FROM complaint_history
            WHERE complaint_id = $1 ORDER BY id DESC LIMIT 1""",
        complaint_id,
    )


async def history_by_agency(conn: asyncpg.Connection, complaint_id: int, agency_id: int) -> list[asyncpg.Record]:
    """The history entries written by users of one agency (an OPD's own part of the story)."""
    return await conn.fetch(
        """SELECT h.* FROM complaint_history h JOIN app_user u ON u.id = h.actor_user_id
            WHERE h.complaint_id = $1 AND u.agency_id = $2 ORDER BY h.id""",
        complaint_id,
        agency_id,
    )


async def dispositions(conn: asyncpg.Connection, complaint_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT d.id, d.opd_id, a.name AS opd_name, d.round, d.disposed_at, d.disposed_by, d.note,
                  d.yellow_at, d.due_at, d.red_at, d.opd_head_notified_at, d.sekda_notified_at,
                  d.finished_at, d.outcome, d.followup_text, d.followup_photo IS NOT NULL AS has_photo,
                  d.return_reason, d.working_s, d.on_time
             FROM complaint_disposition d JOIN agency a ON a.id = d.opd_id
            WHERE d.complaint_id = $1 ORDER BY d.round""",
        complaint_id,
    )


async def followup_photo(conn: asyncpg.Connection, disposition_id: int) -> tuple[bytes, str] | None:
    row = await conn.fetchrow(
        "SELECT followup_photo, followup_photo_type FROM complaint_disposition WHERE id = $1", disposition_id
    )
    if row is None or row["followup_photo"] is None:
        return None
    return bytes(row["followup_photo"]), row["followup_photo_type"] or "application/octet-stream"


async def pauses(conn: asyncpg.Connection, complaint_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kind, started_at, ended_at, reason FROM complaint_pause WHERE complaint_id = $1 ORDER BY id",
        complaint_id,
    )


async def reporter_identity(
    conn: asyncpg.Connection, complaint_id: int, actor: Actor, *, client_ip: str | None = None
) -> dict[str, Any]:
    """The reporter's name and contacts, for verification staff only; every view is audited."""
    from core import audit  # imported here: the audit log is core's, and only this reads it

    if actor.role not in (Role.COMPLAINT_STAFF, Role.ADMIN):
        raise Forbidden("view_reporter", actor.role)
    row = await conn.fetchrow(
        "SELECT reporter_name, reporter_email, reporter_phone, anonim FROM complaint WHERE id = $1",
        complaint_id,
    )
    if row is None:
        raise NotFound(f"pengaduan {complaint_id}")
    await audit.record(
        conn,
        audit.Actor(
            username=actor.name or str(actor.user_id), user_id=actor.user_id, role=actor.role, client_ip=client_ip
        ),
        "complaint.view_reporter",
        object_type="complaint",
        object_id=str(complaint_id),
    )
    return dict(row)


# --- transitions --------------------------------------------------------------------------------------


def _snapshot(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "opd_id", "category_id", "stage", "due_at", "bounce_count", "rounds", "close_reason")
    out: dict[str, Any] = {}
    for k in keys:
        v = row[k]
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


async def _history(
    conn: asyncpg.Connection,
    complaint_id: int,
    at: datetime,
    action: str,
    actor: Actor,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    note: str = "",
    on_behalf: bool = False,
) -> None:
    if on_behalf:
        # staff recording what the reporter said (phone, walk-in): their own name, and for whom
        note = "atas nama pelapor" + (f": {note}" if note else "")
    await conn.execute(
        """INSERT INTO complaint_history
               (complaint_id, at, action, actor_user_id, actor_name, actor_role, before, after, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        complaint_id,
        at,
        action,
        actor.user_id,
        actor.name or str(actor.role),
        str(actor.role),
        before,
        after,
        note[:10000],
    )
    # the history is the complaint's own story; the audit log is the system-wide, hash-chained
    # record of every state change, and carries each one too
    from core import audit

    await audit.record(
        conn,
        audit.Actor(
            username=actor.name or str(actor.role),
            user_id=actor.user_id,
            role=str(actor.role),
            client_ip=actor.client_ip,
        ),
        f"complaint.{action}",
        object_type="complaint",
        object_id=str(complaint_id),
        before=before,
        after=(after or {}) | ({"note": note[:2000]} if note else {}) | ({"atas_nama": "pelapor"} if on_behalf else {}),
    )


async def _pauses_for(conn: asyncpg.Connection, complaint_id: int, *, kinds: Sequence[str] = ("tunda",)) -> list[Pause]:
    rows = await conn.fetch(
        "SELECT started_at, ended_at FROM complaint_pause WHERE complaint_id = $1 AND kind = ANY($2::text[])",
        complaint_id,
        list(kinds),
    )
    return [Pause(r["started_at"], r["ended_at"]) for r in rows]


async def act(
    conn: asyncpg.Connection,
    complaint_id: int,
    action: Action,
    actor: Actor,
    *,
    clock: WorkingDayClock,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    now: datetime | None = None,
    photo: tuple[bytes, str] | None = None,
) -> Transition:
    """Apply ``action`` by ``actor`` to a complaint: state, clocks, disposition, history, event."""
    now = now or _utcnow()
    if photo is not None and len(photo[0]) > MAX_PHOTO_BYTES:
        raise InvalidAction("photo", "foto paling besar 5 MB")
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM complaint WHERE id = $1 FOR NO KEY UPDATE", complaint_id)
        if row is None:
            raise NotFound(f"pengaduan {complaint_id}")
        return await _act_on_row(conn, row, action, actor, clock=clock, limits=limits, now=now, photo=photo)


async def _act_on_row(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    action: Action,
    actor: Actor,
    *,
    clock: WorkingDayClock,
    limits: SlaLimits,
    now: datetime,
    photo: tuple[bytes, str] | None = None,
) -> Transition:
    """Decide the transition of a row locked by the caller, then write it with its history and event."""
    cid = row["id"]
    d = await conn.fetchrow(
        "SELECT id, disposed_at, due_at FROM complaint_disposition WHERE complaint_id = $1 AND finished_at IS NULL",
        cid,
    )
    decision = transitions.decide(
        row,
        action,
        actor,
        clock=clock,
        limits=limits,
        now=now,
        pauses=[transitions.PauseRow(p["kind"], p["started_at"], p["ended_at"]) for p in await pauses(conn, cid)],
        open_disposition=transitions.OpenDisposition(**dict(d)) if d is not None else None,
        photo=photo,
    )
    if isinstance(action, Dispose):
        await _check_disposal(conn, action)
    await _write(conn, row, decision, actor)
    return decision.transition


async def _check_disposal(conn: asyncpg.Connection, action: Dispose) -> None:
    if not await conn.fetchval("SELECT true FROM agency WHERE id = $1 AND kind = 'opd' AND active", action.opd_id):
        raise InvalidAction("opd_id", "OPD tujuan tidak dikenal")
    # checked here: the foreign key would refuse it too, but as a 500
    if action.category_id is not None and not await conn.fetchval(
        "SELECT true FROM complaint_category WHERE id = $1 AND active", action.category_id
    ):
        raise InvalidAction("category_id", "kategori tidak dikenal")


async def _write(conn: asyncpg.Connection, row: asyncpg.Record, decision: transitions.Decision, actor: Actor) -> None:
    cid = row["id"]
    now = decision.now
    t = decision.transition
    if decision.end_pauses:
        await conn.execute(
            """UPDATE complaint_pause SET ended_at = $2
                WHERE complaint_id = $1 AND kind = ANY($3::text[]) AND ended_at IS NULL""",
            cid,
            now,
            list(decision.end_pauses),
        )
    for kind, reason in decision.start_pauses:
        await conn.execute(
            "INSERT INTO complaint_pause (complaint_id, kind, started_at, reason) VALUES ($1, $2, $3, $4)",
            cid,
            kind,
            now,
            reason,
        )
    if (new := decision.open_disposition) is not None:
        await conn.execute(
            """INSERT INTO complaint_disposition
                   (complaint_id, opd_id, round, disposed_at, disposed_by, note, yellow_at, due_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            cid,
            new.opd_id,
            new.round,
            now,
            new.disposed_by,
            new.note,
            new.yellow_at,
            new.due_at,
        )
    if (done := decision.finish_disposition) is not None:
        await conn.execute(
            """UPDATE complaint_disposition
                  SET finished_at = $2, outcome = $3, followup_text = $4, followup_photo = $5,
                      followup_photo_type = $6, return_reason = $7, working_s = $8, on_time = $9
                WHERE id = $1""",
            done.id,
            now,
            done.outcome,
            done.followup_text,
            done.followup_photo,
            done.followup_photo_type,
            done.return_reason,
            done.working_s,
            done.on_time,
        )
    upd = decision.complaint
    await conn.execute(
        """UPDATE complaint
              SET status = $2, opd_id = $3, bounce_count = $4, rounds = $5, close_reason = $6,
                  updated_at = $7, stage = $8, stage_started_at = $9, yellow_at = $10, due_at = $11,
                  red_at = $12, paused_at = $13, closed_at = $14, e2e_working_s = $15, category_id = $16,
                  desa_code = $17, kecamatan_code = $18
            WHERE id = $1""",
        cid,
        *(upd[k] for k in transitions.COMPLAINT_COLUMNS),
    )
    await _history(
        conn,
        cid,
        now,
        t.action.name,
        actor,
        _snapshot(row),
        _snapshot({**dict(row), **upd}),
        note=decision.note,
        on_behalf=decision.on_behalf,
    )
    await events.append(
        conn,
        f"complaint.{t.action.name}",
        {"status": t.after.status.value, "opd_id": t.after.opd_id, "tracking_id": row["tracking_id"]},
        complaint_id=cid,
    )


# --- the SLA sweep -------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    red: int = 0
    opd_head_notified: int = 0
    sekda_notified: int = 0
    auto_closed: int = 0

    def __bool__(self) -> bool:
        return bool(self.red or self.sekda_notified or self.auto_closed)


async def sweep(
    pool: asyncpg.Pool,
    clock: WorkingDayClock,
    now: datetime | None = None,
    *,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    batch: int = 200,
) -> SweepResult:
    """Mark overdue stages red (escalating an OPD's to its head), escalate to the Sekda two working
    days later, auto-close unanswered follow-ups. Each batch is one short transaction and claims its
    rows with ``SKIP LOCKED``, so several processes can sweep at once and never act twice."""
    now = now or _utcnow()
    result = SweepResult()
    while await _sweep_red(pool, clock, now, limits, batch, result) == batch:
        pass
    while await _sweep_sekda(pool, now, batch, result) == batch:
        pass
    while await _sweep_auto_close(pool, clock, now, limits, batch, result) == batch:
        pass
    if result:
        log.info(
            "SLA sweep: %d red, %d to OPD heads, %d to the Sekda, %d auto-closed",
            result.red,
            result.opd_head_notified,
            result.sekda_notified,
            result.auto_closed,
        )
    return result


async def _sweep_red(
    pool: asyncpg.Pool, clock: WorkingDayClock, now: datetime, limits: SlaLimits, batch: int, result: SweepResult
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, stage, opd_id, due_at, tracking_id FROM complaint
                WHERE closed_at IS NULL AND red_at IS NULL AND due_at <= $1
                  AND stage IN ('verifikasi', 'tindak_lanjut')
                ORDER BY due_at LIMIT $2
                FOR NO KEY UPDATE SKIP LOCKED""",
            now,
            batch,
        )
        for r in rows:
            await conn.execute("UPDATE complaint SET red_at = $2 WHERE id = $1", r["id"], now)
            data: dict[str, Any] = {"stage": r["stage"], "opd_id": r["opd_id"], "tracking_id": r["tracking_id"]}
            if r["stage"] == Stage.TINDAK_LANJUT:
                sekda_due = clock.add(r["due_at"], limits.sekda_after_days)
                d_id = await conn.fetchval(
                    """UPDATE complaint_disposition
                          SET red_at = $2, opd_head_notified_at = $2, sekda_due_at = $3
                        WHERE complaint_id = $1 AND finished_at IS NULL RETURNING id""",
                    r["id"],
                    now,
                    sekda_due,
                )
                if d_id is not None:
                    inserted = await conn.fetchval(
                        """INSERT INTO complaint_escalation (complaint_id, disposition_id, opd_id, level, at)
                           VALUES ($1, $2, $3, 'opd_head', $4)
                           ON CONFLICT (disposition_id, level) DO NOTHING RETURNING id""",
                        r["id"],
                        d_id,
                        r["opd_id"],
                        now,
                    )
                    if inserted:
                        result.opd_head_notified += 1
                        data["notify"] = "opd_head"
            await _history(
                conn,
                r["id"],
                now,
                "red",
                Actor.system(),
                None,
                {"red_at": now.isoformat()},
                note=f"tahap {labels.label('complaint_stage', r['stage']).lower()} melewati batas waktu",
            )
            await events.append(conn, "complaint.red", data, complaint_id=r["id"])
            result.red += 1
        return len(rows)


async def _sweep_sekda(pool: asyncpg.Pool, now: datetime, batch: int, result: SweepResult) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT c.id, c.tracking_id, d.id AS disposition_id, d.opd_id
                 FROM complaint c
                 JOIN complaint_disposition d ON d.complaint_id = c.id AND d.finished_at IS NULL
                WHERE c.closed_at IS NULL AND c.stage = 'tindak_lanjut'
                  AND d.sekda_due_at <= $1 AND d.sekda_notified_at IS NULL
                ORDER BY d.sekda_due_at LIMIT $2
                FOR NO KEY UPDATE OF c SKIP LOCKED""",
            now,
            batch,
        )
        for r in rows:
            await conn.execute(
                "UPDATE complaint_disposition SET sekda_notified_at = $2 WHERE id = $1", r["disposition_id"], now
            )
            inserted = await conn.fetchval(
                """INSERT INTO complaint_escalation (complaint_id, disposition_id, opd_id, level, at)
                   VALUES ($1, $2, $3, 'sekda', $4)
                   ON CONFLICT (disposition_id, level) DO NOTHING RETURNING id""",
                r["id"],
                r["disposition_id"],
                r["opd_id"],
                now,
            )
            if inserted:
                await _history(
                    conn,
                    r["id"],
                    now,
                    "escalate_sekda",
                    Actor.system(),
                    None,
                    None,
                    note="dua hari kerja setelah kode merah",
                )
                await events.append(
                    conn,
                    "complaint.escalated",
                    {"notify": "sekda", "opd_id": r["opd_id"], "tracking_id": r["tracking_id"]},
                    complaint_id=r["id"],
                )
                result.sekda_notified += 1
        return len(rows)


async def _sweep_auto_close(
    pool: asyncpg.Pool, clock: WorkingDayClock, now: datetime, limits: SlaLimits, batch: int, result: SweepResult
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT * FROM complaint
                WHERE closed_at IS NULL AND stage = 'tanggapan' AND due_at <= $1
                ORDER BY due_at LIMIT $2
                FOR NO KEY UPDATE SKIP LOCKED""",
            now,
            batch,
        )
        for row in rows:
            await _act_on_row(conn, row, AutoClose(), Actor.system(), clock=clock, limits=limits, now=now)
            result.auto_closed += 1
        return len(rows)


async def recompute_due(
    pool: asyncpg.Pool,
    clock: WorkingDayClock,
    *,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    batch: int = 500,
) -> int:
    """Recompute the yellow and due instants of every open stage (after cuti bersama changed)."""
    done = 0
    last = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, stage, stage_started_at, paused_at FROM complaint
                    WHERE closed_at IS NULL AND id > $1 AND stage IS NOT NULL ORDER BY id LIMIT $2
                    FOR NO KEY UPDATE SKIP LOCKED""",
                last,
                batch,
            )
            for r in rows:
                stage = Stage(r["stage"])
                ps = await _pauses_for(conn, r["id"]) if stage == Stage.VERIFIKASI else []
                limit = limits.for_stage(stage)
                await conn.execute(
                    "UPDATE complaint SET yellow_at = $2, due_at = $3 WHERE id = $1",
                    r["id"],
                    clock.yellow_at(r["stage_started_at"], limit, ps),
                    clock.add(r["stage_started_at"], limit, ps),
                )
                if stage == Stage.TINDAK_LANJUT:
                    await conn.execute(
                        """UPDATE complaint_disposition SET yellow_at = $2, due_at = $3
                            WHERE complaint_id = $1 AND finished_at IS NULL""",
                        r["id"],
                        clock.yellow_at(r["stage_started_at"], limit),
                        clock.add(r["stage_started_at"], limit),
                    )
            done += len(rows)
            if len(rows) < batch:
                return done
            last = rows[-1]["id"]


# --- teguran ----------------------------------------------------------------------------------------


async def issue_teguran(
    conn: asyncpg.Connection,
    opd_id: int,
    text: str,
    actor: Actor,
    *,
    complaint_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> int:
    """A leader's reprimand to an OPD about its red complaints (all of them unless listed)."""
    if actor.role != Role.LEADER:
        raise Forbidden("teguran", actor.role)
    if not text.strip():
        raise InvalidAction("text", "isi teguran wajib diisi")
    now = now or _utcnow()
    red = [
        r["id"]
        for r in await conn.fetch(
            """SELECT id FROM complaint
                WHERE opd_id = $1 AND stage = 'tindak_lanjut' AND closed_at IS NULL AND due_at <= $2
                ORDER BY id""",
            opd_id,
            now,
        )
    ]
    chosen = list(complaint_ids) if complaint_ids is not None else red
    if not red or not chosen or not set(chosen) <= set(red):
        raise InvalidAction("complaint_ids", "Teguran hanya untuk OPD dengan pengaduan kode merah")
    async with conn.transaction():
        tid = await conn.fetchval(
            """INSERT INTO teguran (opd_id, issued_by, issued_by_name, issued_at, text, complaint_ids)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            opd_id,
            actor.user_id,
            actor.name or "pimpinan",
            now,
            text[:5000],
            chosen,
        )
        for cid in chosen:
            await _history(conn, cid, now, "teguran", actor, None, {"teguran_id": tid}, note=text[:5000])
        await events.append(conn, "complaint.teguran", {"teguran_id": tid, "opd_id": opd_id})
    return int(tid)


async def list_teguran(conn: asyncpg.Connection, opd_id: int | None = None, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT t.*, a.name AS opd_name FROM teguran t JOIN agency a ON a.id = t.opd_id
            WHERE $1::bigint IS NULL OR t.opd_id = $1 ORDER BY t.issued_at DESC LIMIT $2""",
        opd_id,
        limit,
    )


async def mark_teguran_read(conn: asyncpg.Connection, teguran_id: int, actor: Actor) -> None:
    """The OPD saw the reprimand (only an officer of that OPD can mark it)."""
    opd = await conn.fetchval("SELECT opd_id FROM teguran WHERE id = $1", teguran_id)
    if opd is None:
        raise NotFound(f"teguran {teguran_id}")
    if actor.role != Role.OPD_OFFICER or actor.agency_id != opd:
        raise Forbidden("read_teguran", actor.role)
    from core import audit

    status = await conn.execute(
        "UPDATE teguran SET read_at = now(), read_by = $2 WHERE id = $1 AND read_at IS NULL",
        teguran_id,
        actor.name,
    )
    if status.endswith(" 1"):  # the first reading is the change; a second click changes nothing
        await audit.record(
            conn,
            audit.Actor(username=actor.name or str(actor.user_id), user_id=actor.user_id, role=actor.role),
            "teguran.read",
            object_type="teguran",
            object_id=str(teguran_id),
            after={"read_by": actor.name},
        )


# --- queues for the desk -----------------------------------------------------------------------------


async def verification_queue(conn: asyncpg.Connection, limit: int = 200) -> list[asyncpg.Record]:
    """Complaints waiting for verification (and on hold), most urgent first."""
    return await conn.fetch(
        _SELECT
        + """ WHERE c.status IN ('verifikasi', 'tunda')
                      ORDER BY c.due_at NULLS LAST, c.received_at LIMIT $1""",
        limit,
    )


async def opd_inbox(conn: asyncpg.Connection, opd_id: int, limit: int = 200) -> list[asyncpg.Record]:
    """What an OPD has to follow up, most urgent first, then what awaits the citizen."""
    return await conn.fetch(
        _SELECT
        + """ WHERE c.opd_id = $1 AND c.status IN ('disposisi', 'tindak_lanjut')
                      ORDER BY (c.status = 'tindak_lanjut'), c.due_at LIMIT $2""",
        opd_id,
        limit,
    )


async def search(conn: asyncpg.Connection, f: RequestFilter) -> list[asyncpg.Record]:
    return await conn.fetch(
        _SELECT
        + """ WHERE (cardinality($1::text[]) = 0 OR c.tracking_id = ANY($1::text[]))
                        AND ($2::text IS NULL OR cat.code = $2)
                        AND ($3::timestamptz IS NULL OR c.received_at >= $3)
                        AND ($4::timestamptz IS NULL OR c.received_at <= $4)
                        AND (cardinality($5::text[]) = 0 OR c.status = ANY($5::text[]))
                        AND (NOT $6 OR (c.status <> 'arsip' AND NOT c.synthetic))
                      ORDER BY c.received_at DESC LIMIT $7""",
        list(f.ids),
        f.service_code,
        f.start,
        f.end,
        list(f.statuses),
        f.public_only,
        f.limit,
    )


def closed_statuses() -> list[str]:
    return [s.value for s in CLOSED]
