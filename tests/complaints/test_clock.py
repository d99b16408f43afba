"""The working-day clock, case by case: weekends, Idul Fitri, cuti bersama, year ends, pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaints.clock import (
    WIB,
    Colour,
    Pause,
    WorkingDayClock,
    colour_at,
    public_holidays,
    suggested_collective_leave,
)

# Cuti bersama as an admin enters them. 2026: SKB 3 Menteri of 2025 on the 2026 calendar.
CUTI_2026 = [
    date(2026, 2, 16),
    date(2026, 3, 18),
    date(2026, 3, 20),
    date(2026, 3, 23),
    date(2026, 3, 24),
    date(2026, 5, 15),
    date(2026, 5, 28),
    date(2026, 12, 24),
]
# 2027: the dates the holidays package lists (an admin would check them against the decree).
CUTI_2027 = [
    date(2027, 2, 5),
    date(2027, 3, 9),
    date(2027, 3, 12),
    date(2027, 3, 15),
    date(2027, 3, 25),
    date(2027, 5, 18),
    date(2027, 5, 19),
    date(2027, 12, 24),
]
CLOCK = WorkingDayClock(CUTI_2026 + CUTI_2027)
BARE = WorkingDayClock()


def wib(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WIB)


# --- the calendars themselves -------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "name_part"),
    [
        (date(2026, 1, 1), "New Year"),
        (date(2026, 1, 16), "Isra"),
        (date(2026, 3, 19), "Silence"),  # Nyepi
        (date(2026, 3, 21), "Eid al-Fitr"),  # Idul Fitri 1447 H
        (date(2026, 3, 22), "Eid al-Fitr"),
        (date(2026, 5, 27), "Eid al-Adha"),
        (date(2026, 6, 1), "Pancasila"),
        (date(2026, 8, 17), "Independence"),
        (date(2026, 12, 25), "Christmas"),
        (date(2027, 1, 1), "New Year"),
        (date(2027, 1, 5), "Isra"),
        (date(2027, 3, 8), "Silence"),
        (date(2027, 3, 10), "Eid al-Fitr"),
        (date(2027, 3, 11), "Eid al-Fitr"),
        (date(2027, 3, 26), "Good Friday"),
        (date(2027, 8, 17), "Independence"),
        (date(2027, 12, 25), "Christmas"),
    ],
)
def test_public_holidays_known_dates(day: date, name_part: str) -> None:
    assert name_part in public_holidays(day.year)[day]


def test_admin_cuti_bersama_2026_matches_the_decree_as_packaged() -> None:
    assert sorted(suggested_collective_leave(2026)) == CUTI_2026
    assert sorted(suggested_collective_leave(2027)) == CUTI_2027


@pytest.mark.parametrize(
    ("day", "working", "why"),
    [
        (date(2026, 11, 27), True, None),  # Friday
        (date(2026, 11, 28), False, "akhir pekan"),
        (date(2026, 11, 29), False, "akhir pekan"),
        (date(2026, 3, 18), False, "cuti bersama"),
        (date(2026, 3, 19), False, "Day of Silence"),
        (date(2026, 3, 20), False, "cuti bersama"),
        (date(2026, 3, 23), False, "cuti bersama"),
        (date(2026, 3, 24), False, "cuti bersama"),
        (date(2026, 3, 25), True, None),
        (date(2026, 12, 24), False, "cuti bersama"),
        (date(2026, 12, 31), True, None),
        (date(2027, 1, 1), False, "New Year's Day"),
        (date(2027, 1, 4), True, None),
    ],
)
def test_working_day(day: date, working: bool, why: str | None) -> None:
    assert CLOCK.is_working_day(day) is working
    assert CLOCK.why_not_working(day) == why


def test_cuti_bersama_only_counts_when_the_admin_entered_it() -> None:
    assert BARE.is_working_day(date(2026, 3, 20))
    assert not CLOCK.is_working_day(date(2026, 3, 20))


# --- adding working days ------------------------------------------------------------------
ADD_CASES = [
    # (clock, start, days, expected, why)
    (CLOCK, wib(2026, 11, 25, 10), 1, wib(2026, 11, 26, 10), "plain weekday"),
    (CLOCK, wib(2026, 11, 27, 14), 3, wib(2026, 12, 2, 14), "Friday over the weekend"),
    (CLOCK, wib(2026, 11, 28, 10), 1, wib(2026, 12, 1, 0), "Saturday starts counting Monday 00:00"),
    (CLOCK, wib(2026, 11, 29, 23, 59), 3, wib(2026, 12, 3, 0), "Sunday night"),
    (CLOCK, wib(2026, 11, 30, 0), 5, wib(2026, 12, 5, 0), "a whole week ends at Friday's midnight"),
    (CLOCK, wib(2026, 11, 27, 14), 0, wib(2026, 11, 27, 14), "zero days"),
    (CLOCK, wib(2026, 11, 25, 10), 0.5, wib(2026, 11, 25, 22), "half a day"),
    # Idul Fitri 1447 H with cuti bersama: Wed 18 cuti, Thu 19 Nyepi, Fri 20 cuti, Sat-Sun Eid,
    # Mon 23 and Tue 24 cuti.
    (CLOCK, wib(2026, 3, 17, 10), 1, wib(2026, 3, 25, 10), "across Idul Fitri 2026"),
    (CLOCK, wib(2026, 3, 17, 10), 5, wib(2026, 3, 31, 10), "five days across Idul Fitri 2026"),
    (CLOCK, wib(2026, 3, 20, 9), 3, wib(2026, 3, 28, 0), "arrives on cuti bersama"),
    (BARE, wib(2026, 3, 17, 10), 1, wib(2026, 3, 18, 10), "without cuti bersama Wednesday works"),
    (BARE, wib(2026, 3, 17, 10), 5, wib(2026, 3, 25, 10), "without cuti: Nyepi and Eid only"),
    (CLOCK, wib(2026, 3, 13, 16), 10, wib(2026, 4, 6, 16), "auto-close window over Lebaran and Good Friday"),
    # year end 2026 -> 2027: Thu 24 cuti, Fri 25 Christmas, Fri 1 Jan New Year
    (CLOCK, wib(2026, 12, 23, 9), 3, wib(2026, 12, 30, 9), "Christmas 2026"),
    (CLOCK, wib(2026, 12, 23, 9), 5, wib(2027, 1, 4, 9), "over New Year 2027"),
    (CLOCK, wib(2026, 12, 31, 23), 1, wib(2027, 1, 4, 23), "New Year's Eve"),
    (CLOCK, wib(2027, 1, 4, 9), 1, wib(2027, 1, 6, 9), "Isra Mi'raj 2027"),
    # Idul Fitri 1448 H (estimated): Mon 8 Nyepi, Tue 9 cuti, Wed-Thu Eid, Fri 12 cuti, Mon 15 cuti
    (CLOCK, wib(2027, 3, 5, 12), 1, wib(2027, 3, 16, 12), "across Idul Fitri 2027"),
    (CLOCK, wib(2027, 3, 5, 12), 3, wib(2027, 3, 18, 12), "three days across Idul Fitri 2027"),
    (CLOCK, wib(2027, 3, 24, 12), 2, wib(2027, 3, 30, 12), "Good Friday 2027 and its cuti"),
    # year end 2027 -> 2028: Fri 24 cuti, Christmas on Saturday
    (CLOCK, wib(2027, 12, 23, 8), 2, wib(2027, 12, 28, 8), "Christmas 2027"),
    (CLOCK, wib(2027, 12, 30, 8), 3, wib(2028, 1, 4, 8), "New Year 2028 falls on a Saturday"),
]


@pytest.mark.parametrize(
    ("clock", "start", "days", "expected"),
    [c[:4] for c in ADD_CASES],
    ids=[c[4] for c in ADD_CASES],
)
def test_add(clock: WorkingDayClock, start: datetime, days: float, expected: datetime) -> None:
    assert clock.add(start, days) == expected
    assert clock.elapsed(start, expected) == timedelta(days=days)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Friday 14:00 WIB is 07:00 UTC
        (datetime(2026, 11, 27, 7, tzinfo=UTC), datetime(2026, 12, 2, 7, tzinfo=UTC)),
        # 20:00 UTC Friday is Saturday 03:00 WIB: counting starts Monday 00:00 WIB (Sunday 17:00 UTC)
        (datetime(2026, 11, 27, 20, tzinfo=UTC), datetime(2026, 12, 2, 17, tzinfo=UTC)),
        # 18:00 UTC Wednesday 23 Dec is already Thursday 24 Dec (cuti bersama) in WIB
        (datetime(2026, 12, 23, 18, tzinfo=UTC), datetime(2026, 12, 30, 17, tzinfo=UTC)),
    ],
)
def test_days_are_wib_days_whatever_the_input_zone(start: datetime, expected: datetime) -> None:
    got = CLOCK.add(start, 3)
    assert got == expected
    assert got is not None and got.tzinfo == UTC


# --- elapsed working time ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (wib(2026, 11, 27, 14), wib(2026, 11, 30, 14), 1),
        (wib(2026, 11, 28, 0), wib(2026, 11, 30, 0), 0),  # a weekend
        (wib(2026, 11, 30, 9), wib(2026, 11, 30, 9), 0),
        (wib(2026, 11, 30, 9), wib(2026, 11, 27, 9), 0),  # end before start
        (wib(2026, 3, 17, 12), wib(2026, 3, 25, 12), 1),
        (wib(2026, 12, 23, 0), wib(2027, 1, 6, 0), 6),  # 23, 28, 29, 30, 31 Dec, 4, 5 Jan minus Isra
        (wib(2026, 1, 1), wib(2027, 1, 1), 240),
    ],
)
def test_elapsed(start: datetime, end: datetime, days: float) -> None:
    assert CLOCK.elapsed_days(start, end) == pytest.approx(days)


def test_working_days_in_2026() -> None:
    # 261 weekdays, 13 public holidays on weekdays, 8 cuti bersama
    assert len(list(CLOCK.working_days(date(2026, 1, 1), date(2026, 12, 31)))) == 240
    assert len(list(BARE.working_days(date(2026, 1, 1), date(2026, 12, 31)))) == 248


# --- pauses ----------------------------------------------------------------------------------
P_TUE_THU = Pause(wib(2026, 12, 1, 9), wib(2026, 12, 3, 9))


@pytest.mark.parametrize(
    ("start", "days", "pauses", "expected"),
    [
        (wib(2026, 11, 30, 9), 3, [P_TUE_THU], wib(2026, 12, 7, 9)),
        (wib(2026, 11, 30, 9), 1, [P_TUE_THU], wib(2026, 12, 1, 9)),  # due as the pause begins
        (wib(2026, 11, 30, 9), 3, [Pause(wib(2026, 12, 5), wib(2026, 12, 7))], wib(2026, 12, 3, 9)),
        # two overlapping pauses count once
        (
            wib(2026, 11, 30, 9),
            3,
            [P_TUE_THU, Pause(wib(2026, 12, 2, 9), wib(2026, 12, 3, 9))],
            wib(2026, 12, 7, 9),
        ),
        # a pause before the start is irrelevant
        (wib(2026, 11, 30, 9), 1, [Pause(wib(2026, 11, 20), wib(2026, 11, 30, 9))], wib(2026, 12, 1, 9)),
        # still waiting on the citizen: no due date yet
        (wib(2026, 11, 30, 9), 3, [Pause(wib(2026, 12, 1, 9))], None),
        # the time ran out before the open pause began
        (wib(2026, 11, 30, 9), 1, [Pause(wib(2026, 12, 2, 9))], wib(2026, 12, 1, 9)),
        # paused from Tuesday 17 Mar to Wednesday 25 Mar noon, across Lebaran
        (wib(2026, 3, 16, 12), 3, [Pause(wib(2026, 3, 17, 0), wib(2026, 3, 25, 12))], wib(2026, 3, 28, 0)),
        # a pause inside the holidays changes nothing
        (wib(2026, 3, 17, 12), 1, [Pause(wib(2026, 3, 19), wib(2026, 3, 24))], wib(2026, 3, 25, 12)),
    ],
)
def test_add_with_pauses(start: datetime, days: int, pauses: list[Pause], expected: datetime | None) -> None:
    assert CLOCK.add(start, days, pauses) == expected
    if expected is not None:
        assert CLOCK.elapsed(start, expected, pauses) == timedelta(days=days)


def test_elapsed_with_open_pause_stands_still() -> None:
    p = [Pause(wib(2026, 12, 1, 9))]
    start = wib(2026, 11, 30, 9)
    assert CLOCK.elapsed(start, wib(2026, 12, 1, 9), p) == timedelta(days=1)
    assert CLOCK.elapsed(start, wib(2026, 12, 10, 9), p) == timedelta(days=1)


def test_pause_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError):
        Pause(wib(2026, 12, 2), wib(2026, 12, 1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        CLOCK.add(datetime(2026, 12, 1, 9), 1)


# --- colours ---------------------------------------------------------------------------------
# A 5-day stage from Monday 30 Nov 2026 00:00: yellow from Thursday 00:00 (60%), red from Saturday 00:00.
@pytest.mark.parametrize(
    ("now", "colour"),
    [
        (wib(2026, 11, 30, 0), Colour.GREEN),
        (wib(2026, 12, 2, 23, 59), Colour.GREEN),
        (wib(2026, 12, 3, 0), Colour.YELLOW),
        (wib(2026, 12, 4, 23, 59), Colour.YELLOW),
        (wib(2026, 12, 5, 0), Colour.RED),
        (wib(2026, 12, 6, 12), Colour.RED),  # still Sunday: overdue even though no working time ran
        (wib(2026, 12, 20), Colour.RED),
    ],
)
def test_colour(now: datetime, colour: Colour) -> None:
    start = wib(2026, 11, 30, 0)
    status = CLOCK.stage_status(start, 5, now)
    assert status.colour is colour
    assert status.due == wib(2026, 12, 5, 0)
    # the stored form (yellow_at, due_at) gives the same answer
    assert colour_at(now, CLOCK.yellow_at(start, 5), CLOCK.add(start, 5)) is colour


def test_colour_while_paused_never_turns_red_by_date() -> None:
    start = wib(2026, 11, 30, 0)
    status = CLOCK.stage_status(start, 5, wib(2026, 12, 31), [Pause(wib(2026, 12, 1))])
    assert status.due is None
    assert status.colour is Colour.GREEN
    status = CLOCK.stage_status(start, 5, wib(2026, 12, 31), [Pause(wib(2026, 12, 4))])
    assert status.colour is Colour.YELLOW


# --- a property over many starts ---------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 12, 31), timezones=st.just(WIB)),
    days=st.integers(min_value=0, max_value=15),
)
def test_add_is_the_inverse_of_elapsed(start: datetime, days: int) -> None:
    due = CLOCK.add(start, days)
    assert due is not None
    assert CLOCK.elapsed(start, due) == timedelta(days=days)
    # and it is the earliest such instant
    if days:
        assert CLOCK.elapsed(start, due - timedelta(seconds=1)) < timedelta(days=days)
