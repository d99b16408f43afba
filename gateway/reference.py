"""Reference data: the seed rows behind ``siaga reference load``, and reading the covering agencies
for jurisdiction (which police unit and Dishub post cover a place: gateway/jurisdiction.py).

The lists of police units, OPDs and Dishub posts are incomplete public compilations (see
core/data/wonosobo/README.md), so they are seed rows an admin edits, not code. Loading is
idempotent and only inserts what is missing: a re-run never duplicates a row nor overwrites an
admin's edit of one.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg

from gateway.jurisdiction import Jurisdiction, jurisdiction_of

log = logging.getLogger(__name__)

DATA_PACKAGE = "core.data.wonosobo"

POLRES_CODE = "polres-wonosobo"
COMMAND_CENTRE_CODE = "command-centre"
DISHUB_CODE = "dishub"


# The seed files an admin may edit: the columns load_reference reads, and those that may not be empty.
SEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "wilayah.csv": ("code", "name", "level", "parent_code"),
    "kecamatan_bps_crosswalk.csv": ("kode_kemendagri", "kode_bps"),
    "polsek.csv": ("unit", "kode_kec", "source_url", "source_date"),
    "opd.csv": ("singkatan", "nama", "jenis", "n_seeders_listing"),
    "dishub_posts.csv": ("post_name", "kind", "source_urls"),
}
SEED_REQUIRED: dict[str, tuple[str, ...]] = {
    "wilayah.csv": ("code", "name", "level"),
    "kecamatan_bps_crosswalk.csv": ("kode_kemendagri",),
    "polsek.csv": ("unit",),
    "opd.csv": ("singkatan", "nama"),
    "dishub_posts.csv": ("post_name",),
}
WILAYAH_LEVELS = frozenset(("provinsi", "kabupaten", "kecamatan", "desa", "kelurahan"))
MAX_FIELD = 2000
# PostgreSQL text takes no NUL; the other C0 controls (but tab) are no part of a name or a code
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


class ReferenceDataError(ValueError):
    """A seed file that cannot be loaded: which file, which line (1-based, the header is 1), why.
    Nothing is loaded when one is raised."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}, baris {line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


def parse_seed_csv(name: str, text: str) -> list[dict[str, str]]:
    """The rows of one seed file (``name`` as in SEED_COLUMNS), checked so that loading them can
    only fail on the database itself; ReferenceDataError otherwise. Pure."""
    columns, required = SEED_COLUMNS[name], SEED_REQUIRED[name]
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    rows: list[dict[str, str]] = []
    try:
        header = reader.fieldnames or []
        if missing := [c for c in columns if c not in header]:
            raise ReferenceDataError(name, 1, f"kolom tidak ada: {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            if "\x00extra" in row:
                raise ReferenceDataError(name, line, f"lebih dari {len(header)} kolom")
            values: dict[str, str] = {}
            for c in columns:
                value = row.get(c)
                if value is None:
                    raise ReferenceDataError(name, line, f"kolom {c} tidak ada")
                if _BAD_CHARS.search(value):
                    raise ReferenceDataError(name, line, f"kolom {c} berisi karakter kendali")
                if len(value) > MAX_FIELD:
                    raise ReferenceDataError(name, line, f"kolom {c} lebih dari {MAX_FIELD} karakter")
                values[c] = value.strip()
            for c in required:
                if not values[c]:
                    raise ReferenceDataError(name, line, f"kolom {c} kosong")
            if name == "wilayah.csv" and values["level"] not in WILAYAH_LEVELS:
                raise ReferenceDataError(name, line, f"level {values['level'][:40]!r} tidak dikenal")
            if name in ("polsek.csv", "opd.csv") and not _slug(values[required[0]]):
                raise ReferenceDataError(name, line, f"kolom {required[0]} tanpa huruf atau angka")
            rows.append(values)
    except csv.Error as e:
        raise ReferenceDataError(name, reader.line_num, f"CSV rusak: {e}") from None
    return rows


def _read_csv(data: Traversable | Path, name: str) -> list[dict[str, str]]:
    try:
        text = data.joinpath(name).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ReferenceDataError(name, 0, f"bukan UTF-8 (byte {e.start})") from None
    return parse_seed_csv(name, text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(slots=True)
class ReferenceSummary:
    inserted: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, inserted: bool) -> None:
        target = self.inserted if inserted else self.existing
        target[what] = target.get(what, 0) + 1

    def summary(self) -> str:
        parts = [
            f"{what}: {self.inserted.get(what, 0)} baru, {self.existing.get(what, 0)} sudah ada"
            for what in sorted(set(self.inserted) | set(self.existing))
        ]
        return "; ".join(parts)


async def _agency(
    conn: asyncpg.Connection,
    summary: ReferenceSummary,
    *,
    code: str,
    kind: str,
    name: str,
    short_name: str | None = None,
    kecamatan_code: str | None = None,
    parent_id: int | None = None,
    source: str | None = None,
) -> int:
    """Insert the agency if its code is new, counted under its kind; the id of the row with that
    code either way."""
    new_id = await conn.fetchval(
        """INSERT INTO agency (code, kind, name, short_name, kecamatan_code, parent_id, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (code) DO NOTHING RETURNING id""",
        code,
        kind,
        name,
        short_name,
        kecamatan_code,
        parent_id,
        source,
    )
    summary.count(kind, new_id is not None)
    if new_id is not None:
        return int(new_id)
    return int(await conn.fetchval("SELECT id FROM agency WHERE code = $1", code))


async def load_reference(pool: asyncpg.Pool, data: Traversable | Path | None = None) -> ReferenceSummary:
    """Load the code list, police units, the command centre, Dishub and its posts, and the OPDs.
    ``data`` is a folder with the CSV files of core/data/wonosobo (the shipped one by default)."""
    data = data if data is not None else resources.files(DATA_PACKAGE)
    wilayah = _read_csv(data, "wilayah.csv")
    bps = {r["kode_kemendagri"]: r["kode_bps"] for r in _read_csv(data, "kecamatan_bps_crosswalk.csv")}
    polsek = _read_csv(data, "polsek.csv")
    opd = _read_csv(data, "opd.csv")
    posts = _read_csv(data, "dishub_posts.csv")
    summary = ReferenceSummary()

    # A few hundred small rows: one short transaction.
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchval("SELECT count(*) FROM wilayah")
        await conn.executemany(
            """INSERT INTO wilayah (code, name, level, parent_code, bps_code) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (code) DO NOTHING""",
            [(r["code"], r["name"], r["level"], r["parent_code"] or None, bps.get(r["code"])) for r in wilayah],
        )
        added = await conn.fetchval("SELECT count(*) FROM wilayah") - before
        summary.inserted["wilayah"] = added
        summary.existing["wilayah"] = len(wilayah) - added

        polres = await _agency(
            conn,
            summary,
            code=POLRES_CODE,
            kind="polres",
            name="Polres Wonosobo",
            short_name="Polres",
            source="siaga seed: covers every kecamatan without a known Polsek",
        )
        for r in polsek:
            await _agency(
                conn,
                summary,
                code=_slug(r["unit"]),
                kind="polsek",  # a Polsubsektor is dispatched like a Polsek
                name=r["unit"],
                kecamatan_code=r["kode_kec"],
                parent_id=polres,
                source=f"{r['source_url']} ({r['source_date']})",
            )

        # Migration 0003 may already have seeded a command centre under another code: one is enough.
        centre = await conn.fetchval("SELECT id FROM agency WHERE kind = 'command_centre' ORDER BY id LIMIT 1")
        if centre is None:
            await _agency(
                conn,
                summary,
                code=COMMAND_CENTRE_CODE,
                kind="command_centre",
                name="Pusat Kendali Bupati Wonosobo",
                short_name="Command Centre",
                source="siaga seed",
            )
        else:
            summary.count("command_centre", False)

        dishub = await _agency(
            conn,
            summary,
            code=DISHUB_CODE,
            kind="dishub",
            name="Disperkimhub Wonosobo, Bidang Perhubungan",
            short_name="Dishub",
            source="siaga seed: the transport function of Disperkimhub (opd.csv)",
        )
        for r in posts:
            # The seed key lives in `source`, so a post an admin renamed is not seeded again.
            key = f"dishub_posts.csv#{r['post_name']}|"
            new_id = await conn.fetchval(
                """INSERT INTO agency_unit (agency_id, name, kind, lat, lon, source)
                   SELECT $1, $2, 'post', NULL, NULL, $3 || ' ' || $4
                    WHERE NOT EXISTS (SELECT 1 FROM agency_unit
                                       WHERE agency_id = $1 AND (name = $2 OR starts_with(source, $3)))
                   ON CONFLICT (agency_id, name) DO NOTHING RETURNING id""",
                dishub,
                r["post_name"],
                key,
                f"{r['kind']}; {r['source_urls']}",
            )
            summary.count("dishub_post", new_id is not None)

        for r in opd:
            await _agency(
                conn,
                summary,
                code="opd-" + _slug(r["singkatan"]),
                kind="opd",
                name=r["nama"],
                short_name=r["singkatan"],
                source=f"siaga seed: opd.csv ({r['jenis']}, {r['n_seeders_listing']} public seeders)",
            )
    log.info("reference data loaded: %s", summary.summary())
    return summary


async def cli_reference_load(dsn: str) -> None:
    """``siaga reference load``: load the seed rows and print what was added."""
    from core.db import open_pool

    async with open_pool(dsn, min_size=1, max_size=2) as pool:
        try:
            summary = await load_reference(pool)
        except ReferenceDataError as e:
            print(f"Data referensi tidak dimuat: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        jurisdiction = await load_jurisdiction(pool)
        uncovered = [code for code, name in jurisdiction.kecamatan_names.items() if code not in jurisdiction.polsek]
    print("Data referensi dimuat.")
    print(summary.summary())
    if uncovered:
        names = ", ".join(jurisdiction.kecamatan_names[c] for c in sorted(uncovered))
        print(f"Kecamatan tanpa Polsek yang diketahui (ditangani Polres): {names}")


# ---- jurisdiction: reading the covering agencies (the rules are in gateway/jurisdiction.py) ----


_JURISDICTION_AGENCIES = """
SELECT DISTINCT ON (kind, kecamatan_code) id, kind, kecamatan_code FROM agency
 WHERE active AND kind IN ('polsek', 'polres', 'command_centre')
 ORDER BY kind, kecamatan_code, id
"""
_JURISDICTION_POSTS = """
SELECT u.id, u.name, u.lat, u.lon FROM agency_unit u JOIN agency a ON a.id = u.agency_id
 WHERE a.kind = 'dishub' AND a.active AND u.active AND u.lat IS NOT NULL AND u.lon IS NOT NULL
 ORDER BY u.id
"""


async def load_jurisdiction(db: asyncpg.Pool | asyncpg.Connection) -> Jurisdiction:
    """A snapshot of the covering agencies (three small queries)."""
    agencies = await db.fetch(_JURISDICTION_AGENCIES)
    posts = await db.fetch(_JURISDICTION_POSTS)
    names = await db.fetch("SELECT code, name FROM wilayah WHERE level = 'kecamatan' ORDER BY code")
    return jurisdiction_of(agencies, posts, {r["code"]: r["name"] for r in names})


class JurisdictionCache:
    """The jurisdiction snapshot kept in memory, so placing an alert costs no query for it.
    Reloaded when older than ``max_age_s`` (admin edits show up within that) or on `invalidate`."""

    def __init__(self, max_age_s: float = 60.0) -> None:
        self.max_age_s = max_age_s
        self._snapshot: Jurisdiction | None = None
        self._loaded_at = -math.inf

    def invalidate(self) -> None:
        self._loaded_at = -math.inf

    async def get(self, db: asyncpg.Pool | asyncpg.Connection) -> Jurisdiction:
        if self._snapshot is None or time.monotonic() - self._loaded_at > self.max_age_s:
            return await self.refresh(db)
        return self._snapshot

    async def refresh(self, db: asyncpg.Pool | asyncpg.Connection) -> Jurisdiction:
        self._snapshot = await load_jurisdiction(db)
        self._loaded_at = time.monotonic()
        return self._snapshot

    @property
    def snapshot(self) -> Jurisdiction | None:
        return self._snapshot


async def police_unit_for(conn: asyncpg.Connection, kecamatan_code: str | None) -> int | None:
    """The Polsek covering a kecamatan, else the Polres (one indexed query)."""
    if kecamatan_code is None:
        return None
    return await conn.fetchval(
        """SELECT id FROM agency
            WHERE active AND ((kind = 'polsek' AND kecamatan_code = $1) OR kind = 'polres')
            ORDER BY kind = 'polsek' DESC, id LIMIT 1""",
        kecamatan_code,
    )
