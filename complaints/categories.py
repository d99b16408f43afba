"""Complaint categories from an editable CSV: ``siaga categories load|list|export``.

The shipped file (core/data/wonosobo/kategori_pengaduan.csv) holds the usual SP4N-LAPOR!
categories, each with the Wonosobo OPD it usually goes to. It is seed data an admin edits: a
reload inserts new codes and updates a category still as the last load left it, but keeps one an
admin has changed since (its values differ from ``seeded``) unless ``replace`` is asked for.
Parsing is pure (:func:`parse_categories_csv`); :func:`load_categories` writes, audited.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import asyncpg
import orjson

from complaints.model import Actor, InvalidAction
from complaints.open311 import validate_attributes

DATA_PACKAGE = "core.data.wonosobo"
SHIPPED_FILE = "kategori_pengaduan.csv"
COLUMNS = ("code", "name", "group_name", "description", "keywords", "default_opd_code", "attributes")
REQUIRED = ("code", "name")
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# PostgreSQL text takes no NUL; the other C0 controls (but tab) are no part of a name
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
LIMITS = {"code": 64, "name": 200, "group_name": 100, "description": 1000, "keywords": 1000, "default_opd_code": 64}
MAX_ATTRIBUTES_TEXT = 20_000
_ATTRIBUTE_ORDER = (
    "code",
    "datatype",
    "required",
    "variable",
    "order",
    "description",
    "datatype_description",
    "values",
)
# the columns a load writes and an admin may edit afterwards
_FIELDS = ("name", "group_name", "description", "keywords", "default_opd_id", "attributes")


class CategoryCsvError(ValueError):
    """A category file that cannot be loaded: which line (the header is 1) and why, in Indonesian.
    Nothing is loaded when one is raised."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"baris {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class CategoryRow:
    line: int
    code: str
    name: str
    group_name: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    default_opd_code: str = ""
    attributes: list[dict[str, Any]] = field(default_factory=list)


def shipped_text() -> str:
    return resources.files(DATA_PACKAGE).joinpath(SHIPPED_FILE).read_text(encoding="utf-8")


def parse_categories_csv(text: str) -> list[CategoryRow]:
    """The rows of a category file, checked so that loading them can only fail on an unknown OPD;
    CategoryCsvError naming the row otherwise. Pure."""
    text = text.removeprefix("\ufeff")  # a spreadsheet's UTF-8 mark
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    rows: list[CategoryRow] = []
    seen: dict[str, int] = {}
    try:
        header = reader.fieldnames or []
        if missing := [c for c in COLUMNS[:-1] if c not in header]:
            raise CategoryCsvError(1, f"kolom tidak ada: {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            if "\x00extra" in row:
                raise CategoryCsvError(line, f"lebih dari {len(header)} kolom")
            values: dict[str, str] = {}
            for c in COLUMNS:
                value = row.get(c) or ""
                if _BAD_CHARS.search(value):
                    raise CategoryCsvError(line, f"kolom {c} berisi karakter kendali")
                limit = LIMITS.get(c, MAX_ATTRIBUTES_TEXT)
                if len(value) > limit:
                    raise CategoryCsvError(line, f"kolom {c} lebih dari {limit} karakter")
                values[c] = value.strip()
            for c in REQUIRED:
                if not values[c]:
                    raise CategoryCsvError(line, f"kolom {c} kosong")
            code = values["code"]
            if not _CODE.match(code):
                raise CategoryCsvError(line, f"kode {code[:64]!r} tidak sah: hanya huruf, angka, titik, - dan _")
            if code in seen:
                raise CategoryCsvError(line, f"kode {code!r} sudah dipakai di baris {seen[code]}")
            seen[code] = line
            rows.append(
                CategoryRow(
                    line=line,
                    code=code,
                    name=values["name"],
                    group_name=values["group_name"],
                    description=values["description"],
                    keywords=tuple(k.strip() for k in values["keywords"].split(";") if k.strip()),
                    default_opd_code=values["default_opd_code"],
                    attributes=_attributes(line, values["attributes"]),
                )
            )
    except csv.Error as e:
        raise CategoryCsvError(reader.line_num, f"CSV rusak: {e}") from None
    return rows


def _attributes(line: int, text: str) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CategoryCsvError(line, "kolom attributes bukan JSON yang sah") from None
    try:
        return validate_attributes(data)
    except InvalidAction as e:
        raise CategoryCsvError(line, f"kolom attributes: {e.message}") from None


def to_csv(rows: list[CategoryRow]) -> str:
    """The file :func:`parse_categories_csv` reads back to the same rows. Pure."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        # in the order a person writes them (jsonb keeps its own)
        ordered = [{k: a[k] for k in _ATTRIBUTE_ORDER if k in a} | a for a in r.attributes]
        attrs = orjson.dumps(ordered).decode() if ordered else ""
        w.writerow([r.code, r.name, r.group_name, r.description, ";".join(r.keywords), r.default_opd_code, attrs])
    return out.getvalue()


# --- the database -------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadSummary:
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # edited by an admin since the last load, so left as they are
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{len(self.inserted)} baru, {len(self.updated)} diperbarui, {len(self.unchanged)} tetap, "
            f"{len(self.kept)} dibiarkan karena diubah admin"
        )
        if self.kept:
            text += f" ({', '.join(self.kept)}; pakai --replace untuk menimpa)"
        return text


_OPD_BY_CODE = """
SELECT id FROM agency
 WHERE kind = 'opd' AND (lower(short_name) = lower($1) OR lower(code) = lower($1) OR lower(code) = 'opd-' || lower($2))
 ORDER BY active DESC, id LIMIT 1
"""


async def _opd_id(conn: asyncpg.Connection, row: CategoryRow) -> int | None:
    if not row.default_opd_code:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", row.default_opd_code.lower()).strip("-")
    opd = await conn.fetchval(_OPD_BY_CODE, row.default_opd_code, slug)
    if opd is None:
        raise CategoryCsvError(
            row.line,
            f"OPD {row.default_opd_code!r} tidak ada (muat data referensi dulu: siaga reference load)",
        )
    return int(opd)


def _current(record: asyncpg.Record) -> dict[str, Any]:
    return {k: list(record[k]) if k == "keywords" else record[k] for k in _FIELDS}


async def load_categories(
    conn: asyncpg.Connection, actor: Actor, rows: list[CategoryRow], *, replace: bool = False
) -> LoadSummary:
    """Upsert the categories by code in one transaction, each change audited. A category an admin
    edited after the last load (or made by hand) is kept unless ``replace``."""
    from core import audit

    who = audit.Actor(username=actor.name or str(actor.user_id), user_id=actor.user_id, role=actor.role)
    summary = LoadSummary()
    async with conn.transaction():
        for row in rows:
            wanted: dict[str, Any] = {
                "name": row.name,
                "group_name": row.group_name,
                "description": row.description,
                "keywords": list(row.keywords),
                "default_opd_id": await _opd_id(conn, row),
                "attributes": row.attributes,
            }
            existing = await conn.fetchrow(
                "SELECT * FROM complaint_category WHERE code = $1 FOR NO KEY UPDATE", row.code
            )
            if existing is None:
                await conn.execute(
                    """INSERT INTO complaint_category
                           (code, name, group_name, description, keywords, default_opd_id, attributes, seeded)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                    row.code,
                    *(wanted[k] for k in _FIELDS),
                    wanted,
                )
                await audit.record(
                    conn, who, "category.create", object_type="complaint_category", object_id=row.code, after=wanted
                )
                summary.inserted.append(row.code)
                continue
            current = _current(existing)
            if current == wanted:
                if existing["seeded"] != wanted:
                    await conn.execute(
                        "UPDATE complaint_category SET seeded = $2 WHERE id = $1", existing["id"], wanted
                    )
                summary.unchanged.append(row.code)
                continue
            if not replace and existing["seeded"] != current:
                summary.kept.append(row.code)
                continue
            await conn.execute(
                """UPDATE complaint_category
                      SET name = $2, group_name = $3, description = $4, keywords = $5, default_opd_id = $6,
                          attributes = $7, seeded = $8
                    WHERE id = $1""",
                existing["id"],
                *(wanted[k] for k in _FIELDS),
                wanted,
            )
            await audit.record(
                conn,
                who,
                "category.update",
                object_type="complaint_category",
                object_id=row.code,
                before=current,
                after=wanted,
            )
            summary.updated.append(row.code)
    return summary


async def overview(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every category for ``siaga categories list``: its OPD's short name and how many attributes."""
    return await conn.fetch(
        """SELECT c.code, c.name, c.group_name, coalesce(a.short_name, a.name, '-') AS opd,
                  jsonb_array_length(c.attributes) AS n_attributes, c.active
             FROM complaint_category c LEFT JOIN agency a ON a.id = c.default_opd_id
            ORDER BY c.group_name, c.name"""
    )


async def export_rows(conn: asyncpg.Connection) -> list[CategoryRow]:
    """Every category (inactive ones too) as rows of the CSV, in the order they were made."""
    records = await conn.fetch(
        """SELECT c.*, coalesce(a.short_name, a.code, '') AS opd_code FROM complaint_category c
             LEFT JOIN agency a ON a.id = c.default_opd_id ORDER BY c.id"""
    )
    return [
        CategoryRow(
            line=i + 2,
            code=r["code"],
            name=r["name"],
            group_name=r["group_name"],
            description=r["description"],
            keywords=tuple(r["keywords"]),
            default_opd_code=r["opd_code"],
            attributes=list(r["attributes"] or []),
        )
        for i, r in enumerate(records)
    ]
