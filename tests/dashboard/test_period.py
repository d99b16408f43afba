"""The dashboard's period: whole WIB days, read from a URL, refused in Bahasa Indonesia."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core import params
from dashboard.period import Period, month_of, previous_month, week_before

# 23:30 WIB on Wednesday 2 Dec 2026 is still 2 Dec in Wonosobo, 16:30 UTC
NOW = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)


def test_last_days_are_wib_days_up_to_today() -> None:
    p = Period.from_query({"hari": "7"}, NOW)
    assert (p.first, p.last, p.days) == (date(2026, 11, 26), date(2026, 12, 2), 7)
    assert p.start == datetime(2026, 11, 25, 17, tzinfo=UTC) and p.end == datetime(2026, 12, 2, 17, tzinfo=UTC)
    assert Period.from_query({}, NOW).days == 30
    assert p.previous() == Period(date(2026, 11, 19), date(2026, 11, 25))


def test_dari_sampai_both_included() -> None:
    p = Period.from_query({"dari": "2026-11-01", "sampai": "2026-11-30"}, NOW)
    assert p.days == 30 and p.words() == "1 Nov 2026 – 30 Nov 2026"
    assert Period.from_query(p.query(), NOW) == p


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"hari": "0"}, "hari"),
        ({"hari": "dua"}, "hari"),
        ({"dari": "2026-12-05", "sampai": "2026-12-01"}, "tanggal akhir tidak boleh sebelum"),
        ({"dari": "kemarin"}, "dari harus tanggal"),
        ({"dari": "1990-01-01", "sampai": "2026-01-01"}, "paling panjang"),
    ],
)
def test_unreadable_periods_are_refused_in_indonesian(query: dict[str, str], says: str) -> None:
    with pytest.raises(params.BadParam) as err:
        Period.from_query(query, NOW)
    assert says in err.value.message


def test_months_and_the_report_week() -> None:
    assert month_of(NOW) == Period(date(2026, 12, 1), date(2026, 12, 2))
    assert previous_month(NOW) == Period(date(2026, 11, 1), date(2026, 11, 30))
    # Monday 7 Dec 07:00 WIB: the report covers Monday 30 Nov to Sunday 6 Dec
    assert week_before(datetime(2026, 12, 7, 0, tzinfo=UTC)) == Period(date(2026, 11, 30), date(2026, 12, 6))
