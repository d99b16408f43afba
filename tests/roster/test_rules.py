"""The roster's pure rules, table by table, with no database: which shift instance holds an
instant, which patterns overlap, and why a shift or a month is refused."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.refusal import Kind
from dispatch.roster_rules import WIB, RosterError, make_shift, overlaps, parse_month, shift_at

PAGI = make_shift("P", "Pagi", "06:00", 8)
SIANG = make_shift("S", "Siang", "14:00", 8)
MALAM = make_shift("M", "Malam", "22:00", 8)
THREE = [PAGI, SIANG, MALAM]


@pytest.mark.parametrize(
    ("shifts", "at", "want"),
    [
        (THREE, datetime(2026, 1, 5, 6, 0, tzinfo=WIB), ("P", date(2026, 1, 5))),
        (THREE, datetime(2026, 1, 5, 13, 59, tzinfo=WIB), ("P", date(2026, 1, 5))),
        (THREE, datetime(2026, 1, 5, 14, 0, tzinfo=WIB), ("S", date(2026, 1, 5))),
        # a night shift belongs to the day it started on, across midnight and a year end
        (THREE, datetime(2026, 1, 1, 3, 0, tzinfo=WIB), ("M", date(2025, 12, 31))),
        (THREE, datetime(2026, 1, 1, 5, 59, tzinfo=WIB), ("M", date(2025, 12, 31))),
        ([PAGI, SIANG], datetime(2026, 1, 5, 23, 0, tzinfo=WIB), None),  # a gap: nobody's shift
        ([], datetime(2026, 1, 5, 12, 0, tzinfo=WIB), None),
    ],
)
def test_shift_at(shifts: list, at: datetime, want: tuple[str, date] | None) -> None:
    got = shift_at(shifts, at)
    assert (None if got is None else (got[0].code, got[1])) == want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (("06:00", 8), ("14:00", 8), False),  # end to end
        (("06:00", 8), ("13:00", 8), True),
        (("22:00", 8), ("05:00", 2), True),  # over midnight
        (("22:00", 8), ("06:00", 8), False),
        (("00:00", 24), ("12:00", 1), True),
    ],
)
def test_overlaps(a: tuple[str, float], b: tuple[str, float], want: bool) -> None:
    assert overlaps(make_shift("A", "A", *a), make_shift("B", "B", *b)) is want
    assert overlaps(make_shift("B", "B", *b), make_shift("A", "A", *a)) is want


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("P P", "Pagi", "06:00", 8), "bad_shift_code"),
        (("P", " ", "06:00", 8), "bad_shift_name"),
        (("P", "Pagi", "6 pagi", 8), "bad_shift_start"),
        (("P", "Pagi", "06:00", 0), "bad_shift_hours"),
        (("P", "Pagi", "06:00", 25), "bad_shift_hours"),
    ],
)
def test_make_shift_refuses(args: tuple, code: str) -> None:
    with pytest.raises(RosterError) as e:
        make_shift(*args)
    assert (e.value.code, e.value.kind) == (code, Kind.INVALID)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-01", (date(2026, 1, 1), date(2026, 2, 1))),
        ("2025-12", (date(2025, 12, 1), date(2026, 1, 1))),
        ("2026-13", None),
        ("1999-05", None),
        ("２０２６-01", None),  # full-width digits are not ASCII digits
    ],
)
def test_parse_month(text: str, want: tuple[date, date] | None) -> None:
    if want is None:
        with pytest.raises(RosterError):
            parse_month(text)
    else:
        assert parse_month(text) == want
