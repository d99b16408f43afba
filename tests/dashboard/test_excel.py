"""Excel beside each CSV: read back with openpyxl, the same cells, WIB times, no formulas."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from dashboard.excel import workbook


def test_rows_come_back_as_written() -> None:
    data = workbook(
        "Kode merah: OPD/terlambat",
        ["Nomor", "Batas waktu", "Jumlah", "Catatan"],
        [["WSB-1", datetime(2026, 12, 1, 3, 0, tzinfo=UTC), 3, '=HYPERLINK("x")'], ["WSB-2", None, 0, "biasa"]],
    )
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "Kode merah OPD terlambat"  # Excel refuses : and / in a sheet name
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == ["Nomor", "Batas waktu", "Jumlah", "Catatan"]
    # 03:00 UTC is 10:00 WIB
    assert rows[1][:3] == ["WSB-1", datetime(2026, 12, 1, 10, 0), 3]
    assert ws.cell(2, 4).data_type == "s" and rows[1][3] == '=HYPERLINK("x")'
    assert rows[2] == ["WSB-2", None, 0, "biasa"]
