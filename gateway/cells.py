"""Cell towers: a streaming import of OpenCelliD CSV files (plain or gzipped) into ``cell_tower``,
and the lookup used by the location fallback chain. The format itself is gateway/opencellid.py.

A national file has millions of rows, so the import streams: the file is parsed off the event loop
in batches, each batch is COPYed into a temporary table and upserted in its own short transaction
(the event bus delivers only below the oldest open write transaction, see core/events.py, so a
long import transaction would hold every console back). Re-importing is an upsert:
a row replaces the stored one unless the stored one was updated more recently.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg

from gateway.locate import CellTower
from gateway.opencellid import TABLE_COLUMNS, BadRow, CellRow, cell_key, parse_cells, tower_of
from gateway.payloads import Cell

log = logging.getLogger(__name__)

MAX_BAD_ROWS_KEPT = 1000


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
    key = cell_key(cell)
    if key is None:
        return None
    row = await conn.fetchrow(
        """SELECT lat, lon, range_m, samples FROM cell_tower
            WHERE mcc = $1 AND net = $2 AND area = $3 AND cell = $4
            ORDER BY samples DESC, updated DESC NULLS LAST LIMIT 1""",
        *key,
    )
    return None if row is None else tower_of(row)


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
