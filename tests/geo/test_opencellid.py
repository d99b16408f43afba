"""The OpenCelliD format, pure: one line in, a checked tower row or the reason it is refused out;
and the parts of the tower lookup that need no database. No database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.locate import CellTower
from gateway.opencellid import TABLE_COLUMNS, BadRow, CellRow, cell_key, parse_cells, tower_of
from gateway.payloads import Cell

HEADER = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
GOOD = "LTE,510,10,12345,67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,-90"


def _one(line: str) -> CellRow | BadRow:
    (row,) = parse_cells([line])
    return row


def test_a_good_line() -> None:
    row = _one(GOOD)
    assert row == CellRow(
        line=1,
        radio="LTE",
        mcc=510,
        net=10,
        area=12345,
        cell=67890123,
        lon=109.9030,
        lat=-7.3605,
        range_m=1000,
        samples=12,
        changeable=True,
        created=datetime(2016, 4, 5, tzinfo=UTC),
        updated=datetime.fromtimestamp(1700000000, UTC),
        average_signal=-90,
    )
    assert len(row.record()) == len(TABLE_COLUMNS)


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("lte,510,10,1,2,0,109.9,-7.3,1000,12,1,,,", "radio", "LTE"),  # radio in any case
        ("NR,510,10,1,68719476736,0,109.9,-7.3,1000,12,1,,,", "cell", 2**36),  # 36-bit NR cell
        ("GSM,510,10,1,2,0,109.9,-7.3,,,,,,", "range_m", 0),  # empty: no range
        ("GSM,510,10,1,2,0,109.9,-7.3,,,,,,", "samples", 0),
        ("GSM,510,10,1,2,0,109.9,-7.3,,,,,,", "changeable", True),
        ("GSM,510,10,1,2,0,109.9,-7.3,,,0,,,", "changeable", False),
        ("GSM,510,10,1,2,0,109.9,-7.3,,,,,,", "created", None),
        ("GSM,510,10,1,2,0,109.9,-7.3,,,,,, ", "average_signal", None),
        ("GSM,510,10,1,2,0,109.9,-7.3,1500.6,,,,,", "range_m", 1501),  # a fractional range rounds
    ],
)
def test_fields(line: str, field: str, expected: object) -> None:
    row = _one(line)
    assert isinstance(row, CellRow)
    assert getattr(row, field) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("LTE,510,10,1,2,0,109.9,-7.3", "expected 14 fields, got 8"),
        ("WIMAX,510,10,1,2,0,109.9,-7.3,1000,12,1,,,", "unknown radio 'WIMAX'"),
        ("LTE,5100,10,1,2,0,109.9,-7.3,1000,12,1,,,", "mcc 5100 is outside 0..999"),
        ("LTE,x,10,1,2,0,109.9,-7.3,1000,12,1,,,", "mcc is not an integer: 'x'"),
        ("LTE,510,10,1,2,0,181,-7.3,1000,12,1,,,", "lon 181 is outside -180.0..180.0"),
        ("LTE,510,10,1,2,0,109.9,nan,1000,12,1,,,", "lat nan is outside -90.0..90.0"),
        ("LTE,510,10,1,2,0,109.9,y,1000,12,1,,,", "lat is not a number: 'y'"),
        ("LTE,510,10,1,2,0,0,0,1000,12,1,,,", "position is 0,0"),
        ("LTE,510,10,1,2,0,109.9,-7.3,1000,12,2,,,", "changeable 2 is outside 0..1"),
        ("LTE,510,10,1,2,0,109.9,-7.3,1000,12,1,123,,", "created 123 is outside 946684800..4102444800"),
    ],
)
def test_bad_lines(line: str, reason: str) -> None:
    assert _one(line) == BadRow(1, reason, line)


def test_header_blank_lines_and_numbering() -> None:
    lines = [HEADER + "\r\n", "\n", GOOD + "\n", "  \n", '"broken\n', GOOD + "\r\n"]
    out = list(parse_cells(lines))
    assert [(type(r).__name__, r.line) for r in out] == [("CellRow", 3), ("BadRow", 5), ("CellRow", 6)]
    # a header is only the first line: later it is a bad row like any other
    assert isinstance(_only(list(parse_cells([GOOD, HEADER])), 2), BadRow)


def _only(rows: list[CellRow | BadRow], line: int) -> CellRow | BadRow:
    return next(r for r in rows if r.line == line)


def test_a_bad_row_keeps_200_characters() -> None:
    line = "X" * 500
    bad = _one(line)
    assert isinstance(bad, BadRow) and bad.text == line[:200]


@pytest.mark.parametrize(
    ("cell", "key"),
    [
        (Cell(mcc=510, mnc=10, lac=12345, cid=67890123), (510, 10, 12345, 67890123)),
        (Cell(mcc=510, mnc=10, lac=2**31 - 1, cid=2**36 - 1), (510, 10, 2**31 - 1, 2**36 - 1)),
        (Cell(mcc=510, mnc=10, lac=2**31, cid=1), None),  # beyond what an import stores
    ],
)
def test_cell_key(cell: Cell, key: tuple[int, int, int, int] | None) -> None:
    assert cell_key(cell) == key


@pytest.mark.parametrize(
    ("row", "tower"),
    [
        ({"lat": -7.36, "lon": 109.9, "range_m": 1000, "samples": 12}, CellTower(-7.36, 109.9, 1000.0, 12)),
        ({"lat": -7.36, "lon": 109.9, "range_m": 0, "samples": 0}, CellTower(-7.36, 109.9, None, 0)),
    ],
)
def test_tower_of(row: dict[str, object], tower: CellTower) -> None:
    assert tower_of(row) == tower
