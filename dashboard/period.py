"""The period a dashboard page, chart, drill-down list or report covers: whole WIB days.

Every figure of one period counts from the same two instants, so a tile, its chart and the rows
behind it agree. In a URL the period is ``dari`` and ``sampai`` (WIB days, both included) or
``hari`` (the last N days up to today); nothing given means the last 30 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core import labels, params

WIB = labels.WIB
DEFAULT_DAYS = 30
MAX_DAYS = 3660
# the choices of the period selector: (days, words)
CHOICES = ((7, "7 hari"), (30, "30 hari"), (90, "90 hari"), (365, "1 tahun"))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def wib_day_start(d: date) -> datetime:
    """The UTC instant a WIB day starts (00:00 WIB is 17:00 UTC the day before)."""
    return datetime.combine(d, time(), WIB).astimezone(UTC)


def today(now: datetime) -> date:
    return now.astimezone(WIB).date()


@dataclass(frozen=True)
class Period:
    """WIB days ``first`` to ``last``, both included; ``start``/``end`` are the UTC instants
    [start, end) that queries compare stored timestamps with."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("a period ends on or after its first day")

    @classmethod
    def last_days(cls, days: int, now: datetime) -> Period:
        """The ``days`` WIB days up to and including today."""
        end = today(now)
        return cls(end - timedelta(days=days - 1), end)

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: datetime) -> Period:
        """The period a URL asks for (``dari``/``sampai`` or ``hari``); a refusal in Bahasa
        Indonesia (:class:`core.params.BadParam`, a 400) when it cannot be read."""
        if "dari" in query or "sampai" in query:
            last = params.day(query["sampai"], "sampai") if query.get("sampai") else today(now)
            first = params.day(query["dari"], "dari") if query.get("dari") else last - timedelta(days=DEFAULT_DAYS - 1)
            if last < first:
                raise params.BadParam("sampai", "sampai: tanggal akhir tidak boleh sebelum tanggal awal")
            if (last - first).days + 1 > MAX_DAYS:
                raise params.BadParam("dari", f"dari: periode paling panjang {MAX_DAYS} hari")
            return cls(first, last)
        if "hari" in query:
            days = params.integer(query["hari"], "hari", lo=1, hi=MAX_DAYS)
            return cls.last_days(days, now)
        return cls.last_days(DEFAULT_DAYS, now)

    @property
    def start(self) -> datetime:
        return wib_day_start(self.first)

    @property
    def end(self) -> datetime:
        return wib_day_start(self.last + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one (for "against last period")."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def query(self) -> dict[str, str]:
        """The URL parameters that name this period (links keep the period they were made in)."""
        return {"dari": self.first.isoformat(), "sampai": self.last.isoformat()}

    def words(self) -> str:
        """``1 Nov 2026 – 30 Nov 2026`` (one day: ``3 Des 2026``)."""
        if self.first == self.last:
            return _day_words(self.first)
        return f"{_day_words(self.first)} – {_day_words(self.last)}"


def _day_words(d: date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def month_of(now: datetime) -> Period:
    """The WIB calendar month of ``now`` up to today (this month so far)."""
    t = today(now)
    return Period(t.replace(day=1), t)


def previous_month(now: datetime) -> Period:
    """The whole WIB calendar month before the one of ``now``."""
    first_this = today(now).replace(day=1)
    last_prev = first_this - timedelta(days=1)
    return Period(last_prev.replace(day=1), last_prev)


def week_before(now: datetime) -> Period:
    """The last whole Monday-to-Sunday WIB week before ``now`` (what Monday's report covers)."""
    t = today(now)
    monday = t - timedelta(days=t.weekday())
    return Period(monday - timedelta(days=7), monday - timedelta(days=1))
