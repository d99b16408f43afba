"""The duty roster's monthly CSV import and month parameter (dispatch/roster.py): rows, or a
RosterError listing the problems by line; nothing else. The inputs that once escaped as other
errors (csv.Error on a bare CR or a huge field, ValueError for year 0 or 9999-12, a year in
Sinhala digits) are in tests/fuzz/corpus/roster."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dispatch import roster_rules
from tests.fuzz.support import fed, nasty_text, share

pytestmark = pytest.mark.fuzz

MONTH = "2026-11"
SHIFTS = {"P", "S", "M"}
PEOPLE = {
    "budi": roster_rules.Person(1, "budi", "operator", 1),
    "sari": roster_rules.Person(2, "sari", "supervisor", None),
    "andi": roster_rules.Person(3, "andi", "operator", 2),
}
# csv's field limit (131072 characters) is hit only by longer text: see test_corpus.py
MAX_TEXT = 20_000


def check_csv(text: str, month: str = MONTH) -> None:
    fed("roster parse_csv")
    try:
        rows = roster_rules.parse_csv(text, month, SHIFTS, PEOPLE, 1)
    except roster_rules.RosterError as e:
        assert e.code and str(e) and all(err.startswith("baris ") for err in e.errors), (e.code, e.errors)
        return
    first, nxt = roster_rules.parse_month(month)
    keys = [(r.day, r.shift, r.username) for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        assert first <= r.day < nxt and r.shift in SHIFTS and r.username in PEOPLE
    assert roster_rules.parse_csv(roster_rules.format_csv(rows), month, SHIFTS, PEOPLE, 1) == sorted(
        rows, key=lambda r: (r.day, r.shift, r.username)
    )


@share(1 / 2)
@given(st.text(max_size=MAX_TEXT))
@example("tanggal,shift,pengguna,siaga\n2026-11-01,P,budi,ya\n2026-11-01,P,BUDI,\n")
@example("\ufefftanggal,shift,pengguna,siaga\n\x00,\x00,\x00\n")
def test_any_text(text: str) -> None:
    check_csv(text)


cell = nasty_text | st.sampled_from(["2026-11-01", "2026-11-30", "2026-12-01", "2026-02-29", "P", "S", "budi",
                                     "SARI", "andi", "ya", "Y", "tidak", "", " P "])  # fmt: skip


@share(1 / 2)
@given(st.lists(st.lists(cell, min_size=2, max_size=5), max_size=15), st.booleans())
def test_hostile_rows(rows: list[list[str]], bom: bool) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(roster_rules.CSV_COLUMNS)
    writer.writerows(rows)
    check_csv(("\ufeff" if bom else "") + out.getvalue())


@share(1 / 10)
@given(st.from_regex(r"\A\d{4}-\d{2}\Z") | nasty_text)
def test_month(text: str) -> None:
    fed("roster parse_month")
    try:
        first, nxt = roster_rules.parse_month(text)
    except roster_rules.RosterError as e:
        assert e.code == "bad_month"
    else:
        assert first.day == 1 and nxt > first
