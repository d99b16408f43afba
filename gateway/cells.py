"""Cell towers: the OpenCelliD CSV format, a streaming import into ``cell_tower``, and the lookup
used by the location fallback chain.

Format (one tower per line, header optional, plain or gzipped)::

    radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal
    LTE,510,10,12345,67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,0

A national file has millions of rows, so the import streams: the file is parsed off the event loop
in batches, each batch is COPYed into a temporary table and upserted in its own short transaction
(the event bus waits for open write transactions, see docs/HELPERS.md). Re-importing is an upsert:
a row replaces the stored one unless the stored one was updated more recently.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg

from gateway.locate import CellTower
from gateway.payloads import Cell

log = logging.getLogger(__name__)

COLUMNS = (
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averageSignal",
)
RADIOS = frozenset(("GSM", "UMTS", "LTE", "NR", "CDMA"))
_INT4_MAX = 2**31 - 1
_CELL_MAX = 2**36  # NR cell identity is 36 bits
_EPOCH_MIN = 946_684_800  # 2000-01-01; OpenCelliD started in 2008
_EPOCH_MAX = 4_102_444_800  # 2100-01-01
MAX_BAD_ROWS_KEPT = 1000

# cell_tower columns filled by an import, in COPY order (CellRow.record)
TABLE_COLUMNS = (
    "mcc",
    "net",
    "area",
    "cell",
    "radio",
    "lat",
    "lon",
    "range_m",
    "samples",
    "changeable",
    "created",
    "updated",
    "average_signal",
)


@dataclass(frozen=True, slots=True)
class CellRow:
    line: int
    radio: str
    mcc: int
    net: int
    area: int
    cell: int
    lon: float
    lat: float
    range_m: int
    samples: int
    changeable: bool
    created: datetime | None
    updated: datetime | None
    average_signal: int | None

    def record(self) -> tuple[object, ...]:
        """The row in `TABLE_COLUMNS` order, for COPY."""
        return (
            self.mcc,
            self.net,
            self.area,
            self.cell,
            self.radio,
            self.lat,
            self.lon,
            self.range_m,
            self.samples,
            self.changeable,
            self.created,
            self.updated,
            self.average_signal,
        )


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str
    text: str  # the offending line, cut to 200 characters


class _Bad(ValueError):
    pass


def _int(value: str, name: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise _Bad(f"{name} is not an integer: {value!r}") from None
    if not lo <= n <= hi:
        raise _Bad(f"{name} {n} is outside {lo}..{hi}")
    return n


def _float(value: str, name: str, lo: float, hi: float) -> float:
    try:
        x = float(value)
    except ValueError:
        raise _Bad(f"{name} is not a number: {value!r}") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise _Bad(f"{name} {value} is outside {lo}..{hi}")
    return x


def _time(value: str, name: str) -> datetime | None:
    if value == "":
        return None
    return datetime.fromtimestamp(_int(value, name, _EPOCH_MIN, _EPOCH_MAX), UTC)


def _row(line: int, f: list[str]) -> CellRow:
    if len(f) != len(COLUMNS):
        raise _Bad(f"expected {len(COLUMNS)} fields, got {len(f)}")
    radio = f[0].strip().upper()
    if radio not in RADIOS:
        raise _Bad(f"unknown radio {f[0]!r}")
    lon = _float(f[6], "lon", -180.0, 180.0)
    lat = _float(f[7], "lat", -90.0, 90.0)
    if lat == 0.0 and lon == 0.0:
        raise _Bad("position is 0,0")
    signal = f[13].strip()
    return CellRow(
        line=line,
        radio=radio,
        mcc=_int(f[1], "mcc", 0, 999),
        net=_int(f[2], "net", 0, 999),
        area=_int(f[3], "area", 0, _INT4_MAX),
        cell=_int(f[4], "cell", 0, _CELL_MAX),
        lon=lon,
        lat=lat,
        range_m=round(_float(f[8], "range", 0, _INT4_MAX)) if f[8] else 0,
        samples=_int(f[9], "samples", 0, _INT4_MAX) if f[9] else 0,
        changeable=_int(f[10], "changeable", 0, 1) == 1 if f[10] else True,
        created=_time(f[11], "created"),
        updated=_time(f[12], "updated"),
        average_signal=_int(signal, "averageSignal", -32768, 32767) if signal else None,
    )


def parse_cells(lines: Iterable[str]) -> Iterator[CellRow | BadRow]:
    """Rows of an OpenCelliD CSV, one by one: a `CellRow` for each good line and a `BadRow` (with
    its 1-based line number and the reason) for each bad one. A header line and blank lines are
    skipped. Pure: give it any iterable of text lines (an open file streams).

    The format has no quoting, so each physical line is one record: a stray quote costs that one
    line, instead of swallowing the rest of the file as a CSV reader would."""
    for number, text in enumerate(lines, start=1):
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split(",")
        if number == 1 and fields[0].strip().lower() == "radio":
            continue
        try:
            yield _row(number, fields)
        except _Bad as e:
            yield BadRow(number, str(e), text[:200])


@contextmanager
def open_cells_file(path: Path) -> Iterator[IO[str]]:
    """The file as text lines; gzip (OpenCelliD ships ``.csv.gz``) is detected by its magic bytes.
    Undecodable bytes become U+FFFD, so they surface as bad rows instead of aborting the import."""
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    if gz:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
            yield f
    else:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            yield f


# ---- import -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    path: str
    rows_read: int = 0  # data lines seen (good + bad + skipped)
    good: int = 0
    bad: int = 0
    skipped_mcc: int = 0  # good rows of another country, when an MCC filter is given
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # duplicates within the file, or rows that did not change / were older
    batches: int = 0
    seconds: float = 0.0
    bad_rows: list[BadRow] = field(default_factory=list)  # the first MAX_BAD_ROWS_KEPT

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.path}: {self.rows_read:,} baris dibaca, {self.good:,} valid, {self.bad:,} rusak"
            + (f", {self.skipped_mcc:,} MCC lain dilewati" if self.skipped_mcc else "")
            + f"; menara baru {self.inserted:,}, diperbarui {self.updated:,}, tetap {self.unchanged:,}"
            + f" ({self.seconds:.1f} s, {self.rows_per_s:,.0f} baris/s)"
        )


ProgressFn = Callable[[ImportReport], None]

_CREATE_TEMP = "CREATE TEMP TABLE IF NOT EXISTS cell_import (LIKE cell_tower INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_DROP_TEMP = "DROP TABLE IF EXISTS pg_temp.cell_import"

_UPSERT = """
WITH up AS (
    INSERT INTO cell_tower AS t (mcc, net, area, cell, radio, lat, lon, range_m, samples, changeable,
                                 created, updated, average_signal, imported_at)
    SELECT DISTINCT ON (mcc, net, area, cell, radio)
           mcc, net, area, cell, radio, lat, lon, range_m, samples, changeable,
           created, updated, average_signal, now()
      FROM pg_temp.cell_import
     ORDER BY mcc, net, area, cell, radio, updated DESC NULLS LAST, samples DESC
    ON CONFLICT (mcc, net, area, cell, radio) DO UPDATE SET
           lat = EXCLUDED.lat, lon = EXCLUDED.lon, range_m = EXCLUDED.range_m,
           samples = EXCLUDED.samples, changeable = EXCLUDED.changeable,
           created = EXCLUDED.created, updated = EXCLUDED.updated,
           average_signal = EXCLUDED.average_signal, imported_at = EXCLUDED.imported_at
     WHERE (t.updated IS NULL OR EXCLUDED.updated IS NULL OR EXCLUDED.updated >= t.updated)
       AND (t.lat, t.lon, t.range_m, t.samples, t.changeable, t.created, t.updated, t.average_signal)
           IS DISTINCT FROM
           (EXCLUDED.lat, EXCLUDED.lon, EXCLUDED.range_m, EXCLUDED.samples, EXCLUDED.changeable,
            EXCLUDED.created, EXCLUDED.updated, EXCLUDED.average_signal)
    RETURNING (xmax = 0) AS fresh
)
SELECT count(*) FILTER (WHERE fresh) AS inserted, count(*) FILTER (WHERE NOT fresh) AS updated FROM up
"""


def _batches(
    rows: Iterator[CellRow | BadRow], size: int, report: ImportReport, mcc: int | None
) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        report.rows_read += 1
        if isinstance(row, BadRow):
            report.bad += 1
            if len(report.bad_rows) < MAX_BAD_ROWS_KEPT:
                report.bad_rows.append(row)
            continue
        report.good += 1
        if mcc is not None and row.mcc != mcc:
            report.skipped_mcc += 1
            continue
        batch.append(row.record())
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_cells(
    pool: asyncpg.Pool,
    path: Path,
    *,
    batch_size: int = 20_000,
    mcc: int | None = None,
    progress: ProgressFn | None = None,
    progress_every_s: float = 1.0,
) -> ImportReport:
    """Stream an OpenCelliD CSV (plain or .gz) into ``cell_tower``. Each batch is its own short
    transaction; the next batch is parsed in a worker thread while the current one is written.
    ``mcc`` keeps only one country (510 = Indonesia) when importing a world file."""
    path = Path(path)
    report = ImportReport(str(path))
    started = time.monotonic()
    last_progress = started
    loop = asyncio.get_running_loop()
    async with pool.acquire() as conn:
        await conn.execute(_CREATE_TEMP)
        try:
            with open_cells_file(path) as f:
                batches = _batches(parse_cells(f), batch_size, report, mcc)
                pending = loop.run_in_executor(None, next, batches, None)
                try:
                    while (batch := await pending) is not None:
                        pending = loop.run_in_executor(None, next, batches, None)
                        async with conn.transaction():
                            await conn.copy_records_to_table(
                                "cell_import", records=batch, columns=TABLE_COLUMNS, schema_name="pg_temp"
                            )
                            counts = await conn.fetchrow(_UPSERT)
                        report.batches += 1
                        report.inserted += counts["inserted"]
                        report.updated += counts["updated"]
                        report.unchanged += len(batch) - counts["inserted"] - counts["updated"]
                        now = time.monotonic()
                        report.seconds = now - started
                        if now - last_progress >= progress_every_s:
                            last_progress = now
                            log.info(
                                "cells: %d rows read, %d bad, %d batches", report.rows_read, report.bad, report.batches
                            )
                            if progress is not None:
                                progress(report)
                finally:
                    # the parser thread must be done with the file before it is closed
                    await asyncio.wait([pending])
        finally:
            await conn.execute(_DROP_TEMP)
    report.seconds = time.monotonic() - started
    if progress is not None:
        progress(report)
    log.info("cells import done: %s", report.summary())
    return report


async def lookup_cell(conn: asyncpg.Connection, cell: Cell) -> CellTower | None:
    """The tower of an alert's serving cell, or None if not imported. One primary-key probe; if
    several radios share the ids, the best-sampled wins."""
    if cell.lac > _INT4_MAX or cell.cid > _CELL_MAX:
        return None
    row = await conn.fetchrow(
        """SELECT lat, lon, range_m, samples FROM cell_tower
            WHERE mcc = $1 AND net = $2 AND area = $3 AND cell = $4
            ORDER BY samples DESC, updated DESC NULLS LAST LIMIT 1""",
        cell.mcc,
        cell.mnc,
        cell.lac,
        cell.cid,
    )
    if row is None:
        return None
    return CellTower(row["lat"], row["lon"], float(row["range_m"]) or None, row["samples"])


# ---- command line -----------------------------------------------------------------------------


def _print_progress(report: ImportReport) -> None:
    print(
        f"\r  {report.rows_read:>12,} baris  {report.bad:>8,} rusak  {report.inserted:>11,} baru  "
        f"{report.updated:>11,} diperbarui  {report.rows_per_s:>9,.0f} baris/s",
        end="",
        file=sys.stderr,
        flush=True,
    )


async def cli_cells_import(dsn: str, path: Path, *, mcc: int | None = None) -> None:
    """``siaga cells import FILE``: stream the file in, with a live progress line on stderr,
    then print the summary and the first bad rows."""
    from core.db import open_pool

    async with open_pool(dsn, min_size=1, max_size=2) as pool:
        report = await import_cells(pool, path, mcc=mcc, progress=_print_progress)
    print(file=sys.stderr)
    print(report.summary())
    for bad in report.bad_rows[:20]:
        print(f"  baris {bad.line}: {bad.reason}")
    if report.bad > 20:
        print(f"  ... dan {report.bad - 20:,} baris rusak lainnya")
