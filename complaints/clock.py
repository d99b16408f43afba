"""The working-day SLA clock.

A working day is a Monday to Friday in Asia/Jakarta that is neither an Indonesian public holiday
(the ``holidays`` package, country ``ID``) nor a collective-leave day (cuti bersama) entered by an
admin. Working time is the part of an interval that falls inside working days, minus the pauses
(while the complaint waits on the citizen). A working day counts whole: 24 hours, midnight to
midnight WIB, so "3 working days" from Friday 14:00 is Wednesday 14:00, and a complaint that
arrives on a Saturday starts counting on Monday 00:00.

Pure: no I/O, no reading of the system clock. Every instant is an aware ``datetime``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WIB = ZoneInfo("Asia/Jakarta")
DAY = timedelta(days=1)
_DAY_S = 86400.0
# Share of a stage's time after which it turns yellow.
YELLOW_AT = 0.6
# A safety bound for searches: no SLA is longer than this many calendar days.
_MAX_SEARCH_DAYS = 3660


class Colour(enum.StrEnum):
    GREEN = "hijau"
    YELLOW = "kuning"
    RED = "merah"


@dataclass(frozen=True)
class Pause:
    """An interval during which the clock stands still; ``end`` None means still paused."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.start)
        if self.end is not None:
            _require_aware(self.end)
            if self.end < self.start:
                raise ValueError("a pause cannot end before it starts")


@lru_cache(maxsize=64)
def public_holidays(year: int) -> dict[date, str]:
    """Indonesian public holidays of ``year`` (the ``holidays`` package, category public)."""
    return dict(holidays.country_holidays("ID", years=year))


def suggested_collective_leave(year: int) -> dict[date, str]:
    """The cuti bersama the ``holidays`` package knows for ``year``: a pre-fill for the admin's form.

    The decree (SKB 3 Menteri) is the authority and is sometimes revised, so the admin's list
    is what the clock uses; this only saves typing.
    """
    return dict(holidays.country_holidays("ID", years=year, categories=("government",)))


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: the clock needs aware instants")


class WorkingDayClock:
    """Working days in Asia/Jakarta, with an admin's collective-leave dates on top of the holidays."""

    def __init__(self, collective_leave: Iterable[date] = (), *, tz: ZoneInfo = WIB) -> None:
        self.collective_leave = frozenset(collective_leave)
        self.tz = tz

    def __repr__(self) -> str:
        return f"WorkingDayClock({len(self.collective_leave)} cuti bersama days)"

    # --- days ----------------------------------------------------------------
    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in public_holidays(d.year) and d not in self.collective_leave

    def why_not_working(self, d: date) -> str | None:
        """None on a working day, else the reason (for pages that explain a due date)."""
        if d in self.collective_leave:
            return "cuti bersama"
        name = public_holidays(d.year).get(d)
        if name:
            return name
        if d.weekday() >= 5:
            return "akhir pekan"
        return None

    def working_days(self, first: date, last: date) -> Iterator[date]:
        """Working days from ``first`` to ``last`` inclusive."""
        d = first
        while d <= last:
            if self.is_working_day(d):
                yield d
            d += DAY

    def next_working_day(self, d: date) -> date:
        """``d`` itself if it is a working day, else the first one after it."""
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(d):
                return d
            d += DAY
        raise ValueError("no working day within ten years")

    def _day_start(self, d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=self.tz)

    # --- working time ----------------------------------------------------------
    def _working_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The parts of [start, end) that fall on working days, in order."""
        d = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while d <= last:
            if self.is_working_day(d):
                lo = max(start, self._day_start(d))
                hi = min(end, self._day_start(d + DAY))
                if lo < hi:
                    yield lo, hi
            d += DAY

    def elapsed(self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()) -> timedelta:
        """Working time between two instants, not counting the pauses (zero if end <= start)."""
        _require_aware(start)
        _require_aware(end)
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        cut = _merged(pauses, start, end)
        for lo, hi in self._working_intervals(start, end):
            total += (hi - lo) - _overlap(cut, lo, hi)
        return total

    def elapsed_days(self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()) -> float:
        return self.elapsed(start, end, pauses).total_seconds() / _DAY_S

    def add(self, start: datetime, days: float, pauses: Sequence[Pause] = ()) -> datetime | None:
        """The earliest instant at which ``days`` working days have run since ``start``.

        None when an open pause stops the clock before the time has run (the due date is not
        known until the citizen answers).
        """
        _require_aware(start)
        if days < 0:
            raise ValueError("days must be >= 0")
        need = timedelta(seconds=round(days * _DAY_S, 6))
        if need == timedelta(0):
            return start
        d = start.astimezone(self.tz).date()
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(d):
                lo = max(start, self._day_start(d))
                hi = self._day_start(d + DAY)
                for a, b in _subtract(_merged(pauses, lo, hi), lo, hi):
                    if b - a >= need:
                        return (a + need).astimezone(start.tzinfo)
                    need -= b - a
            if any(p.end is None and p.start <= self._day_start(d + DAY) for p in pauses):
                return None
            d += DAY
        raise ValueError("deadline more than ten years away")

    def add_working_days(self, start: datetime, days: int, pauses: Sequence[Pause] = ()) -> datetime | None:
        return self.add(start, days, pauses)

    # --- colour ------------------------------------------------------------------
    def stage_status(
        self, start: datetime, limit_days: float, now: datetime, pauses: Sequence[Pause] = ()
    ) -> StageStatus:
        """Where a stage that began at ``start`` with a limit of ``limit_days`` stands at ``now``."""
        used = self.elapsed(start, now, pauses)
        due = self.add(start, limit_days, pauses)
        fraction = used.total_seconds() / (limit_days * _DAY_S) if limit_days > 0 else 1.0
        return StageStatus(used=used, due=due, fraction=fraction, colour=colour_for(fraction, now, due))

    def yellow_at(self, start: datetime, limit_days: float, pauses: Sequence[Pause] = ()) -> datetime | None:
        """The instant the stage turns yellow (60% of its time used)."""
        return self.add(start, limit_days * YELLOW_AT, pauses)


@dataclass(frozen=True)
class StageStatus:
    used: timedelta
    due: datetime | None
    fraction: float
    colour: Colour


def colour_for(fraction: float, now: datetime | None = None, due: datetime | None = None) -> Colour:
    """Green below 60% of the stage's time, yellow from there, red once the due instant is reached."""
    if (due is not None and now is not None and now >= due) or fraction >= 1.0:
        return Colour.RED
    if fraction >= YELLOW_AT:
        return Colour.YELLOW
    return Colour.GREEN


def colour_at(now: datetime, yellow_at: datetime | None, due_at: datetime | None) -> Colour:
    """The colour from a stage's stored yellow and due instants (what the database keeps)."""
    if due_at is not None and now >= due_at:
        return Colour.RED
    if yellow_at is not None and now >= yellow_at:
        return Colour.YELLOW
    return Colour.GREEN


# --- interval helpers --------------------------------------------------------------
def _merged(pauses: Sequence[Pause], lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """Pauses clipped to [lo, hi), merged and sorted (an open pause runs to ``hi``)."""
    spans = sorted(
        (max(p.start, lo), min(p.end if p.end is not None else hi, hi))
        for p in pauses
        if p.start < hi and (p.end is None or p.end > lo)
    )
    out: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap(spans: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> timedelta:
    total = timedelta(0)
    for a, b in spans:
        a, b = max(a, lo), min(b, hi)
        if a < b:
            total += b - a
    return total


def _subtract(
    spans: list[tuple[datetime, datetime]], lo: datetime, hi: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """[lo, hi) minus the merged, sorted ``spans``."""
    cur = lo
    for a, b in spans:
        if b <= cur:
            continue
        if a > cur:
            yield cur, min(a, hi)
        cur = max(cur, b)
        if cur >= hi:
            return
    if cur < hi:
        yield cur, hi
