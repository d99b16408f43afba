"""The OpenCelliD CSV format, pure: text lines in, checked tower rows out, and the pieces of the
tower lookup that need no database. The import and the query are in gateway/cells.py.

Format (one tower per line, header optional)::

    radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal
    LTE,510,10,12345,67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.locate import CellTower
from gateway.payloads import Cell

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


def cell_key(cell: Cell) -> tuple[int, int, int, int] | None:
    """The ``cell_tower`` key (mcc, net, area, cell) of an alert's serving cell, or None when its
    ids are beyond what an import can have stored, so the lookup need not ask."""
    if cell.lac > _INT4_MAX or cell.cid > _CELL_MAX:
        return None
    return (cell.mcc, cell.mnc, cell.lac, cell.cid)


def tower_of(row: Mapping[str, Any]) -> CellTower:
    """A stored tower (``lat``, ``lon``, ``range_m``, ``samples``) as the location chain takes it;
    a range of 0 means none was given."""
    return CellTower(row["lat"], row["lon"], float(row["range_m"]) or None, row["samples"])
