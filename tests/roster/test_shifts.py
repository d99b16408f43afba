"""Shift windows in WIB, overlap rules and the monthly CSV: pure, tables of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from dispatch.roster_rules import (
    Person,
    RosterError,
    RosterRow,
    check_patterns,
    format_csv,
    make_shift,
    overlaps,
    parse_csv,
    parse_month,
    shift_at,
)

PAGI = make_shift("P", "Pagi", "06:00", 8)
SIANG = make_shift("S", "Siang", "14:00", 8)
MALAM = make_shift("M", "Malam", "22:00", 8)
THREE = [PAGI, SIANG, MALAM]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("shift", "day", "start", "end"),
    [
        # WIB = UTC+7: 06:00 WIB is 23:00 UTC the day before
        (PAGI, date(2026, 12, 1), utc(2026, 11, 30, 23), utc(2026, 12, 1, 7)),
        (SIANG, date(2026, 12, 1), utc(2026, 12, 1, 7), utc(2026, 12, 1, 15)),
        # the night shift of 31 Dec runs into the new year (WIB), across month and year ends
        (MALAM, date(2026, 12, 31), utc(2026, 12, 31, 15), utc(2026, 12, 31, 23)),
        # 28 Feb 2027 (not a leap year) night shift ends on 1 March 06:00 WIB
        (MALAM, date(2027, 2, 28), utc(2027, 2, 28, 15), utc(2027, 2, 28, 23)),
        (make_shift("X", "Sehari", "00:00", 24), date(2028, 2, 29), utc(2028, 2, 28, 17), utc(2028, 2, 29, 17)),
    ],
)
def test_window_in_utc(shift, day, start, end) -> None:
    assert shift.window(day) == (start, end)


@pytest.mark.parametrize(
    ("at", "code", "day"),
    [
        (utc(2026, 12, 1, 0), "P", date(2026, 12, 1)),  # 07:00 WIB
        (utc(2026, 12, 1, 6, 59, 59), "P", date(2026, 12, 1)),  # 13:59:59 WIB
        (utc(2026, 12, 1, 7), "S", date(2026, 12, 1)),  # 14:00 WIB: the boundary belongs to the next shift
        (utc(2026, 12, 1, 15), "M", date(2026, 12, 1)),  # 22:00 WIB
        (utc(2026, 12, 1, 18), "M", date(2026, 12, 1)),  # 01:00 WIB on 2 Dec: still the 1 Dec night shift
        (utc(2026, 12, 31, 20), "M", date(2026, 12, 31)),  # 03:00 WIB 1 Jan 2027
        (utc(2027, 2, 28, 22, 59), "M", date(2027, 2, 28)),  # 05:59 WIB 1 Mar
        (utc(2027, 2, 28, 23), "P", date(2027, 3, 1)),  # 06:00 WIB 1 Mar
        (utc(2028, 2, 29, 17, 30), "M", date(2028, 2, 29)),  # 00:30 WIB 1 Mar 2028 after a leap day
    ],
)
def test_instant_falls_in_one_shift(at, code, day) -> None:
    found = shift_at(THREE, at)
    assert found is not None
    assert (found[0].code, found[1]) == (code, day)
    # exactly one of the three contains it
    assert sum(s.contains(at) is not None for s in THREE) == 1


def test_gap_belongs_to_no_shift() -> None:
    day_only = [PAGI, SIANG]
    assert shift_at(day_only, utc(2026, 12, 1, 16)) is None  # 23:00 WIB


@pytest.mark.parametrize(
    ("a", "b", "clash"),
    [
        (("06:00", 8), ("14:00", 8), False),
        (("06:00", 8), ("13:00", 8), True),
        (("22:00", 8), ("06:00", 8), False),  # across midnight, touching
        (("22:00", 8), ("05:00", 2), True),  # inside the night shift's morning part
        (("23:00", 12), ("10:00", 1), True),
        (("00:00", 24), ("12:00", 1), True),
        (("18:00", 6), ("00:00", 6), False),
    ],
)
def test_overlap(a, b, clash) -> None:
    x, y = make_shift("A", "A", a[0], a[1]), make_shift("B", "B", b[0], b[1])
    assert overlaps(x, y) is clash
    assert overlaps(y, x) is clash


def test_check_patterns_refuses_overlap_and_duplicates() -> None:
    check_patterns(THREE)
    with pytest.raises(RosterError) as e:
        check_patterns([PAGI, make_shift("Q", "Pagi 2", "10:00", 4)])
    assert e.value.code == "shift_overlap"
    with pytest.raises(RosterError) as e:
        check_patterns([PAGI, make_shift("P", "Pagi lagi", "20:00", 1)])
    assert e.value.code == "duplicate_shift"


@pytest.mark.parametrize(
    ("code", "name", "starts", "hours", "error"),
    [
        ("P!", "Pagi", "06:00", 8, "bad_shift_code"),
        ("P", "", "06:00", 8, "bad_shift_name"),
        ("P", "Pagi", "25:00", 8, "bad_shift_start"),
        ("P", "Pagi", "06:00", 0, "bad_shift_hours"),
        ("P", "Pagi", "06:00", 24.5, "bad_shift_hours"),
    ],
)
def test_bad_shift(code, name, starts, hours, error) -> None:
    with pytest.raises(RosterError) as e:
        make_shift(code, name, starts, hours)
    assert e.value.code == error


@pytest.mark.parametrize(
    ("text", "first", "nxt"),
    [("2026-12", date(2026, 12, 1), date(2027, 1, 1)), ("2028-02", date(2028, 2, 1), date(2028, 3, 1))],
)
def test_parse_month(text, first, nxt) -> None:
    assert parse_month(text) == (first, nxt)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "Desember", ""])
def test_bad_month(text) -> None:
    with pytest.raises(RosterError):
        parse_month(text)


PEOPLE = {
    "budi": Person(1, "budi", "operator", 10),
    "sari": Person(2, "sari", "operator", 10),
    "lain": Person(3, "lain", "operator", 99),
    "spv": Person(4, "spv", "supervisor", None),
}


def test_csv_round_trip() -> None:
    rows = [
        RosterRow(date(2026, 12, 31), "M", "budi", False),
        RosterRow(date(2026, 12, 1), "P", "sari", False),
        RosterRow(date(2026, 12, 1), "P", "spv", True),
    ]
    text = format_csv(rows)
    assert text.splitlines()[0] == "tanggal,shift,pengguna,siaga"
    assert text.splitlines()[1] == "2026-12-01,P,sari,"
    parsed = parse_csv(text, "2026-12", {"P", "S", "M"}, PEOPLE, 10)
    assert sorted(parsed, key=lambda r: (r.day, r.username)) == sorted(rows, key=lambda r: (r.day, r.username))


def test_csv_errors_carry_line_numbers_and_all_are_reported() -> None:
    text = (
        "tanggal,shift,pengguna,siaga\n"
        "2026-12-01,P,budi,\n"
        "2026-11-30,P,budi,\n"  # 3: other month
        "2026-12-02,X,budi,\n"  # 4: no such shift
        "2026-12-02,P,siapa,\n"  # 5: unknown user
        "2026-12-02,P,lain,\n"  # 6: other agency
        "2026-12-02,P,sari,mungkin\n"  # 7: bad flag
        "\n"
        "2026-12-01,P,budi,\n"  # 9: duplicate of line 2
        "2026-12-0x,P,budi\n"  # 10: bad date
        "a,b\n"  # 11: columns
    )
    with pytest.raises(RosterError) as e:
        parse_csv(text, "2026-12", {"P", "S", "M"}, PEOPLE, 10)
    lines = [m.split(":")[0] for m in e.value.errors]
    assert lines == [f"baris {n}" for n in (3, 4, 5, 6, 7, 9, 10, 11)]
    assert "sama dengan baris 2" in e.value.errors[5]


def test_csv_needs_its_header() -> None:
    with pytest.raises(RosterError) as e:
        parse_csv("date,shift,user\n2026-12-01,P,budi\n", "2026-12", {"P"}, PEOPLE, 10)
    assert e.value.errors == ["baris 1: kepala kolom harus tanggal,shift,pengguna,siaga"]


def test_on_call_supervisor_may_serve_any_agency() -> None:
    rows = parse_csv("tanggal,shift,pengguna,siaga\n2026-12-05,M,spv,ya\n", "2026-12", {"M"}, PEOPLE, 10)
    assert rows == [RosterRow(date(2026, 12, 5), "M", "spv", True)]


def test_shift_start_keeps_no_seconds_fraction() -> None:
    s = make_shift("P", "Pagi", time(6, 0, 0, 500), timedelta(hours=8))
    assert s.starts == time(6, 0)
