"""The units registry: the cars, motorbikes and posts an agency dispatches, and the agencies'
own names. Every change is audited in the caller's transaction; refusals carry a
:class:`core.refusal.Kind` and an Indonesian message, so the web pages and ``siaga units`` answer
the same "no". Parsing the CSV import is pure (:func:`parse_units_csv`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import asyncpg

from core import audit, params
from core.refusal import Kind

# The kinds a new unit may have; older rows may carry the seed's own words ('post', 'patrol'),
# which core/labels.py UNIT_KIND names too.
UNIT_KINDS = ("mobil", "motor", "pos", "unit")
MAX_NAME = 100
MAX_SHORT_NAME = 40
MAX_AGENCY_NAME = 200
CSV_COLUMNS = ("agency_code", "name", "kind")
MAX_CSV_ROWS = 5000


class UnitError(Exception):
    """A refused change to a unit or an agency: ``kind`` says which "no", the message why."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class UnitRow:
    line: int
    agency_code: str
    name: str
    kind: str


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int

    def summary(self) -> str:
        return f"{self.added} ditambah, {self.updated} diubah, {self.unchanged} tetap"


def check_name(value: object, *, what: str = "nama unit", max_length: int = MAX_NAME) -> str:
    """A unit's (or agency's) name: stripped, not empty, no control characters."""
    s = value.strip() if isinstance(value, str) else ""
    if not s:
        raise UnitError(Kind.INVALID, f"{what} wajib diisi")
    if len(s) > max_length:
        raise UnitError(Kind.INVALID, f"{what} terlalu panjang (paling banyak {max_length} karakter)")
    if params.bad_character(s) is not None:
        raise UnitError(Kind.INVALID, f"{what} berisi karakter yang tidak diizinkan")
    return s


def check_kind(value: object) -> str:
    s = value.strip().lower() if isinstance(value, str) else ""
    if not s:
        return "unit"
    if s not in UNIT_KINDS:
        raise UnitError(Kind.INVALID, f"jenis unit {s[:20]!r} tidak dikenal: pilih {', '.join(UNIT_KINDS)}")
    return s


def parse_units_csv(text: str) -> list[UnitRow]:
    """The rows of an ``agency_code,name,kind`` file, each checked; UnitError naming the row (the
    header is row 1) otherwise. Pure."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[UnitRow] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:3] != list(CSV_COLUMNS):
            raise UnitError(Kind.INVALID, f"baris 1: kepala kolom harus {','.join(CSV_COLUMNS)}")
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > 3:
                raise UnitError(Kind.INVALID, f"baris {line}: lebih dari 3 kolom")
            cells = [*cells, "", ""][:3]
            try:
                code = check_name(cells[0], what="kode instansi", max_length=64)
                name = check_name(cells[1])
                kind = check_kind(cells[2])
            except UnitError as e:
                raise UnitError(Kind.INVALID, f"baris {line}: {e.message}") from None
            key = (code, name)
            if key in seen:
                raise UnitError(Kind.INVALID, f"baris {line}: unit {name!r} sudah ada di baris {seen[key]}")
            seen[key] = line
            rows.append(UnitRow(line, code, name, kind))
            if len(rows) > MAX_CSV_ROWS:
                raise UnitError(Kind.INVALID, f"baris {line}: lebih dari {MAX_CSV_ROWS} unit dalam satu berkas")
    except csv.Error as e:
        raise UnitError(Kind.INVALID, f"baris {reader.line_num}: CSV rusak ({e})") from None
    return rows


# --- units ----------------------------------------------------------------------------------------

_UNIT_SELECT = """SELECT u.id, u.agency_id, u.name, u.kind, u.lat, u.lon, u.active, u.source,
                         a.code AS agency_code, a.name AS agency_name, a.short_name AS agency_short_name
                    FROM agency_unit u JOIN agency a ON a.id = u.agency_id"""


async def list_units(conn: asyncpg.Connection, agency_id: int | None = None) -> list[asyncpg.Record]:
    """Every unit (active and not), by agency then name; only ``agency_id``'s when given."""
    return await conn.fetch(
        _UNIT_SELECT + " WHERE $1::bigint IS NULL OR u.agency_id = $1 ORDER BY a.name, u.name", agency_id
    )


async def get_unit(conn: asyncpg.Connection, unit_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(_UNIT_SELECT + " WHERE u.id = $1", unit_id)
    if row is None:
        raise UnitError(Kind.NOT_FOUND, f"unit {unit_id} tidak ada")
    return row


def _snapshot(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {"agency_id": row["agency_id"], "name": row["name"], "kind": row["kind"], "active": row["active"]}


async def _agency_id(conn: asyncpg.Connection, code: str) -> int | None:
    return await conn.fetchval("SELECT id FROM agency WHERE code = $1", code)


async def add_unit(conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, name: str, kind: str = "unit") -> int:
    """A new unit of ``agency_id``; refused when the agency has one of that name already."""
    name, kind = check_name(name), check_kind(kind)
    async with conn.transaction():
        if not await conn.fetchval("SELECT true FROM agency WHERE id = $1", agency_id):
            raise UnitError(Kind.NOT_FOUND, f"instansi {agency_id} tidak ada")
        unit_id = await conn.fetchval(
            """INSERT INTO agency_unit (agency_id, name, kind, source) VALUES ($1, $2, $3, 'admin')
               ON CONFLICT (agency_id, name) DO NOTHING RETURNING id""",
            agency_id,
            name,
            kind,
        )
        if unit_id is None:
            raise UnitError(Kind.CONFLICT, f"instansi itu sudah punya unit bernama {name!r}")
        after = {"agency_id": agency_id, "name": name, "kind": kind, "active": True}
        await audit.record(conn, actor, "unit.add", object_type="agency_unit", object_id=str(unit_id), after=after)
    return int(unit_id)


async def _change(conn: asyncpg.Connection, actor: audit.Actor, unit_id: int, action: str, **changes: Any) -> bool:
    """Apply ``changes`` to a unit, audited with its state before and after; False when nothing
    changed (nothing is written then)."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT * FROM agency_unit WHERE id = $1 FOR NO KEY UPDATE", unit_id)
        if row is None:
            raise UnitError(Kind.NOT_FOUND, f"unit {unit_id} tidak ada")
        before = _snapshot(row)
        after = before | changes
        if after == before:
            return False
        try:
            await conn.execute(
                "UPDATE agency_unit SET name = $2, kind = $3, active = $4 WHERE id = $1",
                unit_id,
                after["name"],
                after["kind"],
                after["active"],
            )
        except asyncpg.UniqueViolationError:
            raise UnitError(Kind.CONFLICT, f"instansi itu sudah punya unit bernama {after['name']!r}") from None
        await audit.record(
            conn, actor, action, object_type="agency_unit", object_id=str(unit_id), before=before, after=after
        )
    return True


async def rename_unit(conn: asyncpg.Connection, actor: audit.Actor, unit_id: int, name: str) -> bool:
    return await _change(conn, actor, unit_id, "unit.rename", name=check_name(name))


async def set_kind(conn: asyncpg.Connection, actor: audit.Actor, unit_id: int, kind: str) -> bool:
    return await _change(conn, actor, unit_id, "unit.kind", kind=check_kind(kind))


async def set_active(conn: asyncpg.Connection, actor: audit.Actor, unit_id: int, active: bool) -> bool:
    """Deactivate (the dispatch form no longer offers it; past dispatches keep naming it) or
    reactivate a unit."""
    return await _change(conn, actor, unit_id, "unit.enable" if active else "unit.disable", active=active)


async def import_units(conn: asyncpg.Connection, actor: audit.Actor, rows: list[UnitRow]) -> ImportSummary:
    """Upsert the rows (an agency's unit of the same name gets the row's kind and is active again);
    all or nothing: an unknown agency refuses the whole file, naming the row."""
    added = updated = unchanged = 0
    async with conn.transaction():
        agencies: dict[str, int] = {}
        for r in rows:
            if r.agency_code not in agencies:
                found = await _agency_id(conn, r.agency_code)
                if found is None:
                    raise UnitError(Kind.INVALID, f"baris {r.line}: instansi dengan kode {r.agency_code!r} tidak ada")
                agencies[r.agency_code] = found
        for r in rows:
            agency_id = agencies[r.agency_code]
            old = await conn.fetchrow(
                "SELECT * FROM agency_unit WHERE agency_id = $1 AND name = $2 FOR NO KEY UPDATE", agency_id, r.name
            )
            if old is None:
                await add_unit(conn, actor, agency_id, r.name, r.kind)
                added += 1
            elif await _change(conn, actor, old["id"], "unit.import", kind=r.kind, active=True):
                updated += 1
            else:
                unchanged += 1
    return ImportSummary(added, updated, unchanged)


# --- agencies -------------------------------------------------------------------------------------


async def list_agencies(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every agency with its parent's name and how many active units it has."""
    return await conn.fetch(
        """SELECT a.id, a.code, a.kind, a.name, a.short_name, a.kecamatan_code, a.active,
                  p.name AS parent_name,
                  (SELECT count(*) FROM agency_unit u WHERE u.agency_id = a.id AND u.active) AS n_units
             FROM agency a LEFT JOIN agency p ON p.id = a.parent_id
            ORDER BY a.kind = 'opd', a.parent_id NULLS FIRST, a.name"""
    )


async def agency_by_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, code, name, kind FROM agency WHERE code = $1", code)


async def update_agency(
    conn: asyncpg.Connection, actor: audit.Actor, agency_id: int, *, name: str, short_name: str, active: bool
) -> bool:
    """An agency's name, short name and whether it is active, audited; False when nothing changed."""
    name = check_name(name, what="nama instansi", max_length=MAX_AGENCY_NAME)
    short = short_name.strip() if short_name else ""
    if short:
        short = check_name(short, what="nama singkat", max_length=MAX_SHORT_NAME)
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT name, short_name, active FROM agency WHERE id = $1 FOR NO KEY UPDATE", agency_id
        )
        if row is None:
            raise UnitError(Kind.NOT_FOUND, f"instansi {agency_id} tidak ada")
        before = dict(row)
        after = {"name": name, "short_name": short or None, "active": active}
        if after == before:
            return False
        await conn.execute(
            "UPDATE agency SET name = $2, short_name = $3, active = $4 WHERE id = $1",
            agency_id,
            after["name"],
            after["short_name"],
            active,
        )
        await audit.record(
            conn, actor, "agency.update", object_type="agency", object_id=str(agency_id), before=before, after=after
        )
    return True
