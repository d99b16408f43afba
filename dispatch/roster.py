"""The duty roster (piket): per-agency shift patterns in WIB, who works which shift, the monthly
CSV, swaps. Pure rules first (shift windows, overlap, CSV), then the database operations, each
one transaction with its audit record.

A shift is a WIB wall-clock start and a length; an instance starts on a WIB day and may run into
the next (a night shift 23:00 + 8 h). WIB has no daylight saving, so an instance's UTC window is
plain arithmetic, across midnight and month ends alike.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from core import audit, params
from core.refusal import Kind

WIB = ZoneInfo("Asia/Jakarta")
DAY = timedelta(hours=24)
CSV_COLUMNS = ("tanggal", "shift", "pengguna", "siaga")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_MONTH = re.compile(r"\A([0-9]{4})-([0-9]{2})\Z")  # ASCII digits only (\d takes any script's)
_YES = frozenset({"ya", "y", "1", "true"})
_NO = frozenset({"", "tidak", "t", "n", "0", "false"})
# roles that may stand in any agency's roster (an on-call supervisor, the desk)
_ANY_AGENCY_ROLES = frozenset({"supervisor", "command_centre", "admin"})


class RosterError(Exception):
    """A refused roster change; ``kind`` says what sort of refusal, ``errors`` lists
    line-numbered problems of a CSV import."""

    def __init__(self, code: str, message: str, errors: list[str] | None = None, kind: Kind = Kind.INVALID) -> None:
        super().__init__(message)
        self.code = code
        self.errors = errors or []
        self.kind = kind


@dataclass(frozen=True)
class Shift:
    code: str
    name: str
    starts: time
    duration: timedelta
    id: int | None = None

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants of the instance starting on WIB ``day``."""
        start = datetime.combine(day, self.starts, tzinfo=WIB).astimezone(UTC)
        return start, start + self.duration

    def contains(self, at: datetime) -> date | None:
        """The WIB day of the instance of this shift that contains ``at``, if one does."""
        local = at.astimezone(WIB).replace(tzinfo=None)
        day = (local - timedelta(hours=self.starts.hour, minutes=self.starts.minute, seconds=self.starts.second)).date()
        start, end = self.window(day)
        return day if start <= at < end else None


def make_shift(code: str, name: str, starts: str | time, hours: float | timedelta, id: int | None = None) -> Shift:
    """A validated shift; ``starts`` as 'HH:MM' (WIB), ``hours`` in (0, 24]."""
    code = code.strip()
    if not _CODE.match(code):
        raise RosterError("bad_shift_code", f"kode shift {code!r} tidak sah (huruf/angka, maks. 16)")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise RosterError("bad_shift_name", "nama shift wajib diisi (maks. 100 huruf)")
    if isinstance(starts, str):
        try:
            starts = time.fromisoformat(starts.strip())
        except ValueError:
            raise RosterError("bad_shift_start", f"jam mulai {starts!r} tidak sah (HH:MM)") from None
    duration = hours if isinstance(hours, timedelta) else timedelta(hours=float(hours))
    if not timedelta(0) < duration <= DAY:
        raise RosterError("bad_shift_hours", "lama shift harus lebih dari 0 dan paling lama 24 jam")
    return Shift(code, name, starts.replace(microsecond=0, tzinfo=None), duration, id)


def _minutes(t: time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def overlaps(a: Shift, b: Shift) -> bool:
    """Whether two daily shifts share any instant (on a 24-hour circle)."""
    a0, a1 = _minutes(a.starts), _minutes(a.starts) + a.duration.total_seconds() / 60
    b0, b1 = _minutes(b.starts), _minutes(b.starts) + b.duration.total_seconds() / 60
    return any(a0 < b1 + k and b0 + k < a1 for k in (-1440, 0, 1440))


def check_patterns(shifts: list[Shift]) -> None:
    """Refuse an agency's set of shifts if two overlap (each instant must fall in at most one)."""
    for i, a in enumerate(shifts):
        for b in shifts[i + 1 :]:
            if a.code == b.code:
                raise RosterError("duplicate_shift", f"kode shift {a.code!r} dipakai dua kali")
            if overlaps(a, b):
                raise RosterError("shift_overlap", f"shift {a.code} dan {b.code} bertumpang tindih")


def shift_at(shifts: list[Shift], at: datetime) -> tuple[Shift, date] | None:
    """The shift instance (pattern, WIB start day) containing ``at``, or None in a gap."""
    for s in shifts:
        day = s.contains(at)
        if day is not None:
            return s, day
    return None


def parse_month(text: str) -> tuple[date, date]:
    """'YYYY-MM' -> (first day, first day of the next month)."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2099:
        raise RosterError("bad_month", f"bulan {text[:20]!r} tidak sah (YYYY-MM, tahun 2000-2099)")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


@dataclass(frozen=True)
class RosterRow:
    day: date
    shift: str
    username: str
    on_call: bool


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: str
    agency_id: int | None


def may_serve(person: Person, agency_id: int) -> bool:
    return person.agency_id == agency_id or person.role in _ANY_AGENCY_ROLES


def parse_csv(
    text: str, month: str, shift_codes: set[str], people: dict[str, Person], agency_id: int
) -> list[RosterRow]:
    """The rows of a monthly roster CSV; every problem is reported with its line number at once."""
    first, nxt = parse_month(month)
    # newline="": the csv module then takes CR, LF and CRLF line ends (a file from any editor)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _parse_rows(reader, month, first, nxt, shift_codes, people, agency_id)
    except csv.Error:  # a field over the csv module's limit, a stray quote at the end
        # the csv module's own words are English, so they are not passed on
        problem = f"baris {reader.line_num}: CSV tidak sah (isian terlalu panjang atau tanda kutip tidak tertutup)"
        raise RosterError("bad_csv", problem, [problem]) from None


def _parse_rows(
    reader: Any,
    month: str,
    first: date,
    nxt: date,
    shift_codes: set[str],
    people: dict[str, Person],
    agency_id: int,
) -> list[RosterRow]:
    errors: list[str] = []
    rows: list[RosterRow] = []
    seen: dict[tuple[date, str, str], int] = {}
    header = next(reader, None)
    if header is None:
        raise RosterError("empty_csv", "berkas CSV kosong")
    if [h.strip().lower() for h in header] != list(CSV_COLUMNS):
        raise RosterError(
            "bad_header",
            f"baris 1: kepala kolom harus {','.join(CSV_COLUMNS)}",
            [f"baris 1: kepala kolom harus {','.join(CSV_COLUMNS)}"],
        )
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) not in (3, 4):
            errors.append(f"baris {line}: harus 3 atau 4 kolom, ada {len(cells)}")
            continue
        day_text, code, username = (c.strip() for c in cells[:3])
        flag = cells[3].strip().lower() if len(cells) == 4 else ""
        problems = []
        try:
            day = date.fromisoformat(day_text)
            if not first <= day < nxt:
                problems.append(f"tanggal {day_text} di luar bulan {month}")
        except ValueError:
            day = first
            problems.append(f"tanggal {day_text!r} tidak sah (YYYY-MM-DD)")
        if code not in shift_codes:
            problems.append(f"shift {code!r} tidak ada (ada: {', '.join(sorted(shift_codes)) or '-'})")
        person = people.get(username.lower())
        if person is None:
            problems.append(f"pengguna {username!r} tidak dikenal atau nonaktif")
        elif not may_serve(person, agency_id):
            problems.append(f"pengguna {username!r} bukan petugas instansi ini")
        if flag not in _YES and flag not in _NO:
            problems.append(f"kolom siaga {cells[3]!r} harus 'ya' atau kosong")
        key = (day, code, username.lower())
        if not problems and key in seen:
            problems.append(f"sama dengan baris {seen[key]}")
        if problems:
            errors.extend(f"baris {line}: {p}" for p in problems)
            continue
        seen[key] = line
        rows.append(RosterRow(day, code, username.lower(), flag in _YES))
    if errors:
        raise RosterError("bad_csv", f"{len(errors)} kesalahan dalam CSV", errors)
    return rows


def format_csv(rows: list[RosterRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in sorted(rows, key=lambda r: (r.day, r.shift, r.username)):
        w.writerow([r.day.isoformat(), r.shift, r.username, "ya" if r.on_call else ""])
    return buf.getvalue()


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


def report_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The report as table cells (WIB times, rounded figures), for the pages and the CSV."""

    def wib(t: datetime | None) -> str:
        return t.astimezone(WIB).strftime("%Y-%m-%d %H:%M") if t else ""

    def secs(v: float | None) -> str:
        return "" if v is None else f"{v:.0f}"

    return [
        [
            r["agency"],
            r["shift_code"] or "(di luar jadwal)",
            r["day"].isoformat() if r["day"] else "",
            wib(r["starts_at"]),
            wib(r["ends_at"]),
            r["alerts"],
            r["acknowledged"],
            secs(r["ack_p50_s"]),
            secs(r["ack_p90_s"]),
            r["unacked_escalations"],
            "" if r["hours_unattended"] is None else f"{r['hours_unattended']:.2f}",
        ]
        for r in rows
    ]


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        # a cell starting with = + - @ would be a formula in a spreadsheet
        w.writerow([("'" + v) if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row])
    return buf.getvalue()
