"""The duty roster's storage (piket): shifts, entries, the monthly import and export, swaps and
the shift report, each one transaction with its audit record. The rules these follow (shift
windows, overlaps, the CSV) are in dispatch/roster_rules.py.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from core import audit, params
from core.refusal import Kind
from dispatch.roster_rules import (
    WIB,
    Person,
    RosterError,
    RosterRow,
    Shift,
    check_patterns,
    format_csv,
    may_serve,
    parse_csv,
    parse_month,
)

# --- database -----------------------------------------------------------------------------------


async def agency_id_of(conn: asyncpg.Connection, ref: str | int) -> int:
    """An agency by id or code."""
    text = str(ref).strip()
    if "\x00" in text:
        raise RosterError("bad_agency", "instansi tidak sah (berisi karakter NUL)", kind=Kind.UNREADABLE)
    row = await conn.fetchval(
        "SELECT id FROM agency WHERE code = $1 OR ($2::bigint IS NOT NULL AND id = $2::bigint)",
        text,
        params.as_id(text),  # "²" passes str.isdigit(), 20 digits pass int(): neither is a bigint id
    )
    if row is None:
        raise RosterError("no_such_agency", f"instansi {text!r} tidak ada", kind=Kind.NOT_FOUND)
    return int(row)


def _shift(r: asyncpg.Record) -> Shift:
    return Shift(r["code"], r["name"], r["starts"], r["duration"], r["id"])


async def shifts(conn: asyncpg.Connection, agency_id: int) -> list[Shift]:
    rows = await conn.fetch(
        "SELECT id, code, name, starts, duration FROM shift_pattern WHERE agency_id = $1 AND active ORDER BY starts",
        agency_id,
    )
    return [_shift(r) for r in rows]


def shift_public(s: Shift) -> dict[str, Any]:
    return {
        "id": s.id,
        "code": s.code,
        "name": s.name,
        "starts": s.starts.strftime("%H:%M"),
        "hours": s.duration.total_seconds() / 3600,
    }


async def save_shift(conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, shift: Shift) -> Shift:
    """Add or change one shift of an agency (by code); refused if it would overlap another."""
    async with conn.transaction():
        # one editor of an agency's patterns at a time, so two overlapping saves cannot both pass
        # (NO KEY: inserts referencing the agency, such as assignments, are not held up)
        await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR NO KEY UPDATE", agency_id)
        current = await shifts(conn, agency_id)
        before = next((s for s in current if s.code == shift.code), None)
        check_patterns([s for s in current if s.code != shift.code] + [shift])
        row = await conn.fetchrow(
            """INSERT INTO shift_pattern (agency_id, code, name, starts, duration)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (agency_id, code) DO UPDATE
                  SET name = EXCLUDED.name, starts = EXCLUDED.starts, duration = EXCLUDED.duration,
                      active = true, updated_at = clock_timestamp()
               RETURNING id, code, name, starts, duration""",
            agency_id,
            shift.code,
            shift.name,
            shift.starts,
            shift.duration,
        )
        saved = _shift(row)
        if before is not None and (before.starts, before.duration) != (saved.starts, saved.duration):
            # the instants of the entries already rostered on this shift move with it
            await conn.execute(
                """UPDATE roster_entry SET starts_at = (day + $2::time) AT TIME ZONE 'Asia/Jakarta',
                          ends_at = ((day + $2::time) AT TIME ZONE 'Asia/Jakarta') + $3::interval
                    WHERE shift_id = $1""",
                saved.id,
                saved.starts,
                saved.duration,
            )
        await audit.record(
            conn,
            actor,
            "roster.shift_save",
            object_type="agency",
            object_id=str(agency_id),
            before=shift_public(before) if before else None,
            after=shift_public(saved),
        )
    return saved


async def remove_shift(conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, code: str) -> None:
    """Retire a shift (kept for the history of the entries that used it)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE shift_pattern SET active = false, updated_at = clock_timestamp()
                WHERE agency_id = $1 AND code = $2 AND active RETURNING id, code, name, starts, duration""",
            agency_id,
            code,
        )
        if row is None:
            raise RosterError("no_such_shift", f"shift {code!r} tidak ada", kind=Kind.NOT_FOUND)
        await audit.record(
            conn,
            actor,
            "roster.shift_remove",
            object_type="agency",
            object_id=str(agency_id),
            before=shift_public(_shift(row)),
        )


async def people(conn: asyncpg.Connection) -> dict[str, Person]:
    rows = await conn.fetch("SELECT id, username, role, agency_id FROM app_user WHERE active")
    return {r["username"]: Person(r["id"], r["username"], r["role"], r["agency_id"]) for r in rows}


@dataclass
class Entry:
    id: int
    day: date
    shift: str
    shift_name: str
    username: str
    full_name: str
    user_id: int
    on_call: bool
    starts_at: datetime
    ends_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "day": self.day.isoformat(),
            "shift": self.shift,
            "shift_name": self.shift_name,
            "username": self.username,
            "full_name": self.full_name,
            "on_call": self.on_call,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
        }


_ENTRY_SELECT = """SELECT e.id, e.day, p.code AS shift, p.name AS shift_name, u.username, u.full_name, e.user_id,
                          e.on_call, e.starts_at, e.ends_at
                     FROM roster_entry e JOIN shift_pattern p ON p.id = e.shift_id
                     JOIN app_user u ON u.id = e.user_id"""


async def month_entries(conn: asyncpg.Connection, agency_id: int, month: str) -> list[Entry]:
    first, nxt = parse_month(month)
    rows = await conn.fetch(
        _ENTRY_SELECT
        + " WHERE e.agency_id = $1 AND e.day >= $2 AND e.day < $3 ORDER BY e.day, e.starts_at, u.username",
        agency_id,
        first,
        nxt,
    )
    return [Entry(**dict(r)) for r in rows]


async def on_duty(conn: asyncpg.Connection, agency_id: int, at: datetime | None = None) -> list[Entry]:
    """Who is rostered on the agency's shift at ``at`` (now by default)."""
    rows = await conn.fetch(
        _ENTRY_SELECT
        + """ WHERE e.agency_id = $1 AND e.starts_at <= coalesce($2, clock_timestamp())
                AND e.ends_at > coalesce($2, clock_timestamp()) ORDER BY e.on_call DESC, u.username""",
        agency_id,
        at,
    )
    return [Entry(**dict(r)) for r in rows]


async def _shift_by_code(conn: asyncpg.Connection, agency_id: int, code: str) -> Shift:
    row = await conn.fetchrow(
        "SELECT id, code, name, starts, duration FROM shift_pattern WHERE agency_id = $1 AND code = $2 AND active",
        agency_id,
        code,
    )
    if row is None:
        raise RosterError("no_such_shift", f"shift {code!r} tidak ada")
    return _shift(row)


async def _insert_entries(conn: asyncpg.Connection, agency_id: int, rows: list[tuple[Shift, date, int, bool]]) -> None:
    values = []
    for shift, day, user_id, on_call in rows:
        start, end = shift.window(day)
        values.append((agency_id, shift.id, day, user_id, on_call, start, end))
    await conn.executemany(
        """INSERT INTO roster_entry (agency_id, shift_id, day, user_id, on_call, starts_at, ends_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        values,
    )


async def assign(
    conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, code: str, day: date, username: str, on_call: bool
) -> Entry:
    """Put one person on one shift instance."""
    async with conn.transaction():
        shift = await _shift_by_code(conn, agency_id, code)
        person = (await people(conn)).get(username.strip().lower())
        if person is None:
            raise RosterError("no_such_user", f"pengguna {username!r} tidak dikenal atau nonaktif")
        if not may_serve(person, agency_id):
            raise RosterError("wrong_agency", f"pengguna {username!r} bukan petugas instansi ini")
        try:
            await _insert_entries(conn, agency_id, [(shift, day, person.id, on_call)])
        except asyncpg.UniqueViolationError:
            raise RosterError(
                "already_rostered", f"{username} sudah terjadwal pada shift itu", kind=Kind.CONFLICT
            ) from None
        entry = (
            await conn.fetch(
                _ENTRY_SELECT + " WHERE e.shift_id = $1 AND e.day = $2 AND e.user_id = $3", shift.id, day, person.id
            )
        )[0]
        out = Entry(**dict(entry))
        await audit.record(
            conn, actor, "roster.assign", object_type="agency", object_id=str(agency_id), after=out.public()
        )
    return out


async def _entry(conn: asyncpg.Connection, agency_id: int, entry_id: int) -> Entry:
    rows = await conn.fetch(
        _ENTRY_SELECT + " WHERE e.id = $1 AND e.agency_id = $2 FOR UPDATE OF e", entry_id, agency_id
    )
    if not rows:
        raise RosterError("no_such_entry", "jadwal itu tidak ada", kind=Kind.NOT_FOUND)
    return Entry(**dict(rows[0]))


async def unassign(conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, entry_id: int) -> None:
    async with conn.transaction():
        entry = await _entry(conn, agency_id, entry_id)
        await conn.execute("DELETE FROM roster_entry WHERE id = $1", entry_id)
        await audit.record(
            conn, actor, "roster.unassign", object_type="agency", object_id=str(agency_id), before=entry.public()
        )


async def swap(
    conn: asyncpg.Connection,
    actor: audit.Actor,
    agency_id: int,
    entry_id: int,
    *,
    other_entry_id: int | None = None,
    username: str | None = None,
) -> list[Entry]:
    """Swap the people of two entries, or hand one entry to someone else; audited as roster.swap."""
    if (other_entry_id is None) == (username is None):
        raise RosterError("bad_swap", "tukar dengan jadwal lain atau dengan satu pengguna")
    async with conn.transaction():
        a = await _entry(conn, agency_id, entry_id)
        if other_entry_id is not None:
            if other_entry_id == entry_id:
                raise RosterError("bad_swap", "tidak bisa menukar jadwal dengan dirinya sendiri")
            b = await _entry(conn, agency_id, other_entry_id)
            if (a.shift, a.day) == (b.shift, b.day):
                raise RosterError("bad_swap", "keduanya sudah pada shift yang sama")
            # two unique keys would clash mid-swap: move through a deferred-free order
            try:
                await conn.execute("UPDATE roster_entry SET user_id = $2 WHERE id = $1", a.id, b.user_id)
                await conn.execute("UPDATE roster_entry SET user_id = $2 WHERE id = $1", b.id, a.user_id)
            except asyncpg.UniqueViolationError:
                raise RosterError(
                    "swap_clash", "penukaran membuat satu orang terjadwal dua kali", kind=Kind.CONFLICT
                ) from None
            ids = [a.id, b.id]
            before = [a.public(), b.public()]
        else:
            person = (await people(conn)).get((username or "").strip().lower())
            if person is None:
                raise RosterError("no_such_user", f"pengguna {username!r} tidak dikenal atau nonaktif")
            if not may_serve(person, agency_id):
                raise RosterError("wrong_agency", f"pengguna {username!r} bukan petugas instansi ini")
            try:
                await conn.execute("UPDATE roster_entry SET user_id = $2 WHERE id = $1", a.id, person.id)
            except asyncpg.UniqueViolationError:
                raise RosterError(
                    "swap_clash", f"{username} sudah terjadwal pada shift itu", kind=Kind.CONFLICT
                ) from None
            ids = [a.id]
            before = [a.public()]
        rows = await conn.fetch(_ENTRY_SELECT + " WHERE e.id = ANY($1::bigint[]) ORDER BY e.id", ids)
        after = [Entry(**dict(r)) for r in rows]
        await audit.record(
            conn,
            actor,
            "roster.swap",
            object_type="agency",
            object_id=str(agency_id),
            before={"entries": before},
            after={"entries": [e.public() for e in after]},
        )
    return after


async def import_month(conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, month: str, text: str) -> int:
    """Replace the agency's roster of ``month`` with the CSV; nothing changes if any line is bad."""
    first, nxt = parse_month(month)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR NO KEY UPDATE", agency_id)
        by_code = {s.code: s for s in await shifts(conn, agency_id)}
        who = await people(conn)
        rows = parse_csv(text, month, set(by_code), who, agency_id)
        removed = await conn.fetchval(
            "WITH d AS (DELETE FROM roster_entry WHERE agency_id = $1 AND day >= $2 AND day < $3 RETURNING 1) "
            "SELECT count(*) FROM d",
            agency_id,
            first,
            nxt,
        )
        await _insert_entries(conn, agency_id, [(by_code[r.shift], r.day, who[r.username].id, r.on_call) for r in rows])
        await audit.record(
            conn,
            actor,
            "roster.import",
            object_type="agency",
            object_id=str(agency_id),
            before={"month": month, "entries": removed},
            after={"month": month, "entries": len(rows)},
        )
    return len(rows)


async def export_month(conn: asyncpg.Connection, agency_id: int, month: str) -> str:
    entries = await month_entries(conn, agency_id, month)
    return format_csv([RosterRow(e.day, e.shift, e.username, e.on_call) for e in entries])


# --- the shift report -----------------------------------------------------------------------------

REPORT_COLUMNS = [
    "instansi",
    "shift",
    "tanggal_wib",
    "mulai_wib",
    "selesai_wib",
    "alarm_masuk",
    "diterima",
    "p50_detik",
    "p90_detik",
    "eskalasi_tanpa_tanggapan",
    "jam_tanpa_operator",
]


async def shift_report(
    conn: asyncpg.Connection, since: datetime, until: datetime, stale_s: float, agency_id: int | None = None
) -> list[dict[str, Any]]:
    """Per agency and shift instance (migration 0007 ``shift_report``): alerts received, time to
    acknowledge, escalations while unacknowledged, hours with no one present."""
    rows = await conn.fetch(
        """SELECT * FROM shift_report($1, $2, $3) WHERE $4::bigint IS NULL OR agency_id = $4
            ORDER BY agency, starts_at NULLS LAST, shift_code""",
        since,
        until,
        stale_s,
        agency_id,
    )
    return [dict(r) for r in rows]


def report_values(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The report as table cells in the order of ``REPORT_COLUMNS`` (times as instants, figures
    rounded): the pages show them in the one date format, the CSV in its own (:func:`report_rows`)."""
    return [
        [
            r["agency"],
            r["shift_code"] or "(di luar jadwal)",
            r["day"],
            r["starts_at"],
            r["ends_at"],
            r["alerts"],
            r["acknowledged"],
            None if r["ack_p50_s"] is None else round(r["ack_p50_s"]),
            None if r["ack_p90_s"] is None else round(r["ack_p90_s"]),
            r["unacked_escalations"],
            None if r["hours_unattended"] is None else round(r["hours_unattended"], 2),
        ]
        for r in rows
    ]


def report_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The report as CSV cells: WIB wall clock a spreadsheet sorts, ISO days, two-decimal hours."""

    def wib(t: datetime | None) -> str:
        return t.astimezone(WIB).strftime("%Y-%m-%d %H:%M") if t else ""

    return [
        [
            agency,
            shift,
            day.isoformat() if day else "",
            wib(starts),
            wib(ends),
            alerts,
            acked,
            "" if p50 is None else p50,
            "" if p90 is None else p90,
            escalations,
            "" if hours is None else f"{hours:.2f}",
        ]
        for agency, shift, day, starts, ends, alerts, acked, p50, p90, escalations, hours in report_values(rows)
    ]


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        # a cell starting with = + - @ would be a formula in a spreadsheet
        w.writerow([("'" + v) if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row])
    return buf.getvalue()
