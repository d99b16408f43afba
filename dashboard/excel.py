"""Excel beside each CSV: the same columns and rows as one sheet, written with openpyxl.

Instants are written as WIB wall-clock dates Excel sorts and filters (Excel has no time zones),
headers as people read them; a text cell that starts with = + - @ stays text, never a formula.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from core.labels import WIB

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@")


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(WIB).replace(tzinfo=None)
    if v is None:
        return None
    if isinstance(v, (int, float, str)) or hasattr(v, "isoformat"):
        return v
    return str(v)


def workbook(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One sheet named after ``title`` (Excel allows 31 characters) with a bold header row."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_name(title))
    head = []
    for h in headers:
        c = WriteOnlyCell(ws, value=h)
        c.font = Font(bold=True)
        head.append(c)
    ws.append(head)
    for row in rows:
        out = []
        for v in row:
            value = _value(v)
            cell = WriteOnlyCell(ws, value=value)
            if isinstance(value, str) and value.startswith(_FORMULA_START):
                cell.data_type = "s"  # text as typed: openpyxl would otherwise store a formula
            elif isinstance(value, datetime):
                cell.number_format = "dd-mm-yyyy hh:mm"
            out.append(cell)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_name(title: str) -> str:
    # Excel refuses these characters in a sheet name
    clean = " ".join("".join(" " if ch in "[]:*?/\\" else ch for ch in title).split())
    return (clean or "Data")[:31].rstrip()
