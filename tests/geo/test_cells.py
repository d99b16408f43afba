"""OpenCelliD CSV: the streaming parser (pure) and the import into PostgreSQL."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from gateway.cells import ImportReport, cli_cells_import, import_cells, lookup_cell
from gateway.opencellid import BadRow, CellRow, parse_cells
from gateway.payloads import Cell

HEADER = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
GOOD = [
    "LTE,510,10,12345,67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,0\n",
    "GSM,510,1,2001,5001,0,109.95,-7.40,0,3,1,1459814400,1459814400,-85\n",
    "UMTS,510,11,3001,7001,,109.80,-7.50,2500,1,0,1459814400,1600000000,\n",
]


def _lines(*rows: str) -> list[str]:
    return list(rows)


BAD_CASES = [
    ("NOPE,510,10,1,1,0,109.9,-7.3,1000,1,1,1459814400,1700000000,0\n", "unknown radio"),
    ("LTE,510,10,1,1,0,109.9,-7.3,1000,1,1,1459814400\n", "expected 14 fields, got 12"),
    ("LTE,5100,10,1,1,0,109.9,-7.3,1000,1,1,1459814400,1700000000,0\n", "mcc 5100 is outside"),
    ("LTE,510,x,1,1,0,109.9,-7.3,1000,1,1,1459814400,1700000000,0\n", "net is not an integer"),
    ("LTE,510,10,-1,1,0,109.9,-7.3,1000,1,1,1459814400,1700000000,0\n", "area -1 is outside"),
    ("LTE,510,10,1,1,0,209.9,-7.3,1000,1,1,1459814400,1700000000,0\n", "lon 209.9 is outside"),
    ("LTE,510,10,1,1,0,109.9,abc,1000,1,1,1459814400,1700000000,0\n", "lat is not a number"),
    ("LTE,510,10,1,1,0,109.9,nan,1000,1,1,1459814400,1700000000,0\n", "lat nan is outside"),
    ("LTE,510,10,1,1,0,0,0,1000,1,1,1459814400,1700000000,0\n", "position is 0,0"),
    ("LTE,510,10,1,1,0,109.9,-7.3,1000,1,7,1459814400,1700000000,0\n", "changeable 7 is outside"),
    ("LTE,510,10,1,1,0,109.9,-7.3,1000,1,1,99,1700000000,0\n", "created 99 is outside"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_CASES)
def test_bad_rows_say_why(line: str, reason: str) -> None:
    (row,) = parse_cells([HEADER, line])
    assert isinstance(row, BadRow)
    assert row.line == 2
    assert reason in row.reason
    assert row.text


def test_good_rows_are_parsed() -> None:
    rows = list(parse_cells([HEADER, *GOOD]))
    assert all(isinstance(r, CellRow) for r in rows)
    lte, gsm, umts = rows
    assert isinstance(lte, CellRow) and isinstance(gsm, CellRow) and isinstance(umts, CellRow)
    assert (lte.line, lte.radio, lte.mcc, lte.net, lte.area, lte.cell) == (2, "LTE", 510, 10, 12345, 67890123)
    assert (lte.lat, lte.lon, lte.range_m, lte.samples, lte.changeable) == (-7.3605, 109.903, 1000, 12, True)
    assert lte.updated == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert gsm.average_signal == -85
    assert (umts.changeable, umts.average_signal) == (False, None)


def test_malformed_file_keeps_good_rows_and_reports_bad_ones_with_line_numbers() -> None:
    lines = [
        HEADER,  # 1
        GOOD[0],  # 2
        "garbage\n",  # 3
        "\n",  # 4 (blank: skipped)
        GOOD[1],  # 5
        "LTE,510,10,1,1,0,109.9,-7.3,1000,1,1,1459814400,1700000000,0,extra\n",  # 6
        'LTE,510,10,1,"1\n',  # 7: a stray quote costs only its own line
        "x\n",  # 8
        GOOD[2],  # 9
        "\x00bad,510\n",  # 10
    ]
    rows = list(parse_cells(lines))
    good = [r for r in rows if isinstance(r, CellRow)]
    bad = [r for r in rows if isinstance(r, BadRow)]
    assert [r.line for r in good] == [2, 5, 9]
    assert [r.line for r in bad] == [3, 6, 7, 8, 10]
    assert "expected 14 fields, got 1" in bad[0].reason
    assert "got 15" in bad[1].reason


def test_header_is_optional_and_only_the_first() -> None:
    rows = list(parse_cells([GOOD[0].replace("\n", "\r\n"), HEADER]))
    assert isinstance(rows[0], CellRow)
    assert isinstance(rows[1], BadRow) and rows[1].line == 2


def test_parser_streams() -> None:
    def endless() -> object:
        n = 0
        while True:
            n += 1
            yield f"LTE,510,10,1,{n},0,109.9,-7.3,1000,1,1,1459814400,1700000000,0\n"

    it = parse_cells(endless())  # type: ignore[arg-type]
    first = [next(it) for _ in range(3)]
    assert [r.line for r in first] == [1, 2, 3]


# ---- import into PostgreSQL ---------------------------------------------------------------------


def _write(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = "".join(lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _synthetic(n: int, updated: int = 1700000000, lon: float = 109.9) -> list[str]:
    return [
        f"LTE,510,10,{1000 + i % 50},{i},0,{lon + i * 1e-6:.6f},-7.35,{500 + i % 7},{i % 9},1,1459814400,{updated},0\n"
        for i in range(n)
    ]


async def test_import_keeps_good_rows_reports_bad_and_upserts(pool: asyncpg.Pool, tmp_path: Path) -> None:
    dup = "LTE,510,10,12345,67890123,0,109.9031,-7.3606,900,13,1,1459814400,1700000001,0\n"  # same key, newer
    path = _write(tmp_path / "cells.csv", [HEADER, *GOOD, "broken line\n", dup])
    seen: list[ImportReport] = []
    report = await import_cells(pool, path, progress=seen.append)
    assert (report.rows_read, report.good, report.bad) == (5, 4, 1)
    assert report.bad_rows[0].line == 5
    assert (report.inserted, report.updated, report.unchanged) == (3, 0, 1)  # the duplicate collapsed
    assert seen and seen[-1] is report
    lte = await pool.fetchrow("SELECT * FROM cell_tower WHERE cell = 67890123")
    assert (lte["lat"], lte["lon"], lte["range_m"], lte["samples"]) == (-7.3606, 109.9031, 900, 13)

    # the same file again: nothing changes
    again = await import_cells(pool, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    # an older row does not overwrite a newer one; a newer one does
    older = "LTE,510,10,12345,67890123,0,110.0,-7.0,100,1,1,1459814400,1600000000,0\n"
    newer = "GSM,510,1,2001,5001,0,109.96,-7.41,300,9,1,1459814400,1800000000,-80\n"
    third = await import_cells(pool, _write(tmp_path / "b.csv.gz", [older, newer], gz=True))
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    assert await pool.fetchval("SELECT lat FROM cell_tower WHERE cell = 67890123") == -7.3606
    assert await pool.fetchval("SELECT lat FROM cell_tower WHERE cell = 5001") == -7.41
    assert await pool.fetchval("SELECT count(*) FROM cell_tower") == 3

    # a bigger file is written in batches, each its own transaction
    path = _write(tmp_path / "many.csv", [HEADER, *_synthetic(5000)])
    report = await import_cells(pool, path, batch_size=700)
    assert report.batches == 8
    assert (report.good, report.inserted) == (5000, 5000)
    # each batch is its own transaction: the rows carry different transaction ids
    xids = await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM cell_tower WHERE area BETWEEN 1000 AND 1049")
    assert xids == 8
    # the temporary table went away with the import
    assert await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'cell_import'") == 0


async def test_one_country_lookup_and_cli(
    pool: asyncpg.Pool, db_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "GSM,525,1,1,1,0,103.8,1.35,1000,1,1,1459814400,1700000000,0\n"  # Singapore
    report = await import_cells(pool, _write(tmp_path / "w.csv", [HEADER, *GOOD, other]), mcc=510)
    assert (report.good, report.skipped_mcc, report.inserted) == (4, 1, 3)

    async with pool.acquire() as conn:
        tower = await lookup_cell(conn, Cell(mcc=510, mnc=10, lac=12345, cid=67890123))
        assert tower is not None
        assert (tower.lat, tower.lon, tower.range_m, tower.samples) == (-7.3605, 109.903, 1000.0, 12)
        gsm = await lookup_cell(conn, Cell(mcc=510, mnc=1, lac=2001, cid=5001))
        assert gsm is not None and gsm.range_m is None  # range 0 = unknown
        assert await lookup_cell(conn, Cell(mcc=510, mnc=10, lac=12345, cid=1)) is None
        assert await lookup_cell(conn, Cell(mcc=525, mnc=1, lac=1, cid=1)) is None  # filtered out
        assert await lookup_cell(conn, Cell(mcc=510, mnc=10, lac=0xFFFFFFFF, cid=1)) is None

    await cli_cells_import(db_dsn, _write(tmp_path / "c.csv", [HEADER, *GOOD, "oops\n"]))
    out = capsys.readouterr().out
    assert "3 valid, 1 rusak" in out
    assert "baris 5:" in out
