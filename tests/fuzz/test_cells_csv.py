"""The OpenCelliD CSV importer's parser: any text, and rows of the right shape with hostile
fields. Every line is a CellRow whose values fit the cell_tower columns, or a BadRow with its
line number and reason; the parser never raises."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import opencellid
from tests.fuzz.support import fed, nasty_text, numeric_text, share

pytestmark = pytest.mark.fuzz

INT2, INT4 = 2**15 - 1, 2**31 - 1
GOOD = "LTE,510,10,12345,67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,-85"


def check_lines(lines: list[str]) -> None:
    fed("cells parse_cells (lines)", max(1, len(lines)))
    out = list(opencellid.parse_cells(lines))
    numbers = [r.line for r in out]
    assert numbers == sorted(set(numbers)) and all(1 <= n <= len(lines) for n in numbers)
    for row in out:
        if isinstance(row, opencellid.BadRow):
            assert row.reason and len(row.text) <= 200
            continue
        assert row.radio in opencellid.RADIOS
        assert 0 <= row.mcc <= 999 and 0 <= row.net <= 999 and 0 <= row.area <= INT4 and 0 <= row.cell <= 2**36
        assert -90 <= row.lat <= 90 and -180 <= row.lon <= 180 and (row.lat, row.lon) != (0, 0)
        assert 0 <= row.range_m <= INT4 and 0 <= row.samples <= INT4
        assert row.average_signal is None or -(2**15) <= row.average_signal <= INT2
        for t in (row.created, row.updated):
            assert t is None or 2000 <= t.year <= 2100
        assert len(row.record()) == len(opencellid.TABLE_COLUMNS)


@share(1 / 2)
@given(st.text(max_size=3000))
@example("radio,mcc\n" + GOOD)
@example(GOOD.replace("1000,12", "2147483646.5,12"))
def test_any_text(text: str) -> None:
    # as open_cells_file reads a file: universal newlines, kept
    check_lines(text.splitlines(keepends=True))


field = numeric_text | nasty_text | st.sampled_from(["", " ", "LTE", "gsm", "NR ", "0", "1"])


@st.composite
def rows(draw: st.DrawFn) -> str:
    fields = GOOD.split(",")
    for _ in range(draw(st.integers(1, 4))):
        fields[draw(st.integers(0, len(fields) - 1))] = draw(field)
    cut = draw(st.sampled_from([len(fields)] * 6 + [0, 1, 13, 15]))
    fields = fields[:cut] if cut <= len(fields) else [*fields, "x"]
    return ",".join(fields) + draw(st.sampled_from(["\n", "\r\n", "\r", ""]))


@share(1 / 2)
@given(st.lists(rows(), min_size=1, max_size=20))
@example([GOOD.replace("12345", "9" * 5000)])  # int() refuses over 4300 digits: a ValueError
@example([GOOD.replace("109.9030", "١٠٩.٩")])
@example([GOOD.replace("-85", "nan")])
def test_hostile_rows(lines: list[str]) -> None:
    check_lines(lines)
