"""The duty roster's rules (piket), apart from storage: shift patterns in WIB, their windows and
overlaps, which shift instance holds an instant, who may serve an agency, the monthly CSV.
Nothing here touches the database; dispatch/roster.py stores what these rules accept.

A shift is a WIB wall-clock start and a length; an instance starts on a WIB day and may run into
the next (a night shift 23:00 + 8 h). WIB has no daylight saving, so an instance's UTC window is
plain arithmetic, across midnight and month ends alike.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.refusal import Kind

WIB = ZoneInfo("Asia/Jakarta")
DAY = timedelta(hours=24)
CSV_COLUMNS = ("tanggal", "shift", "pengguna", "siaga")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_MONTH = re.compile(r"\A([0-9]{4})-([0-9]{2})\Z")  # ASCII digits only (\d takes any script's)
_YES = frozenset({"ya", "y", "1", "true"})
_NO = frozenset({"", "tidak", "t", "n", "0", "false"})
# roles that may stand in any agency's roster (an on-call supervisor, the desk)
_ANY_AGENCY_ROLES = frozenset({"supervisor", "command_centre", "admin"})


class RosterError(Exception):
    """A refused roster change; ``kind`` says what sort of refusal, ``errors`` lists
    line-numbered problems of a CSV import."""

    def __init__(self, code: str, message: str, errors: list[str] | None = None, kind: Kind = Kind.INVALID) -> None:
        super().__init__(message)
        self.code = code
        self.errors = errors or []
        self.kind = kind


@dataclass(frozen=True)
class Shift:
    code: str
    name: str
    starts: time
    duration: timedelta
    id: int | None = None

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants of the instance starting on WIB ``day``."""
        start = datetime.combine(day, self.starts, tzinfo=WIB).astimezone(UTC)
        return start, start + self.duration

    def contains(self, at: datetime) -> date | None:
        """The WIB day of the instance of this shift that contains ``at``, if one does."""
        local = at.astimezone(WIB).replace(tzinfo=None)
        day = (local - timedelta(hours=self.starts.hour, minutes=self.starts.minute, seconds=self.starts.second)).date()
        start, end = self.window(day)
        return day if start <= at < end else None


def make_shift(code: str, name: str, starts: str | time, hours: float | timedelta, id: int | None = None) -> Shift:
    """A validated shift; ``starts`` as 'HH:MM' (WIB), ``hours`` in (0, 24]."""
    code = code.strip()
    if not _CODE.match(code):
        raise RosterError("bad_shift_code", f"kode shift {code!r} tidak sah (huruf/angka, maks. 16)")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise RosterError("bad_shift_name", "nama shift wajib diisi (maks. 100 huruf)")
    if isinstance(starts, str):
        try:
            starts = time.fromisoformat(starts.strip())
        except ValueError:
            raise RosterError("bad_shift_start", f"jam mulai {starts!r} tidak sah (HH:MM)") from None
    duration = hours if isinstance(hours, timedelta) else timedelta(hours=float(hours))
    if not timedelta(0) < duration <= DAY:
        raise RosterError("bad_shift_hours", "lama shift harus lebih dari 0 dan paling lama 24 jam")
    return Shift(code, name, starts.replace(microsecond=0, tzinfo=None), duration, id)


def _minutes(t: time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def overlaps(a: Shift, b: Shift) -> bool:
    """Whether two daily shifts share any instant (on a 24-hour circle)."""
    a0, a1 = _minutes(a.starts), _minutes(a.starts) + a.duration.total_seconds() / 60
    b0, b1 = _minutes(b.starts), _minutes(b.starts) + b.duration.total_seconds() / 60
    return any(a0 < b1 + k and b0 + k < a1 for k in (-1440, 0, 1440))


def check_patterns(shifts: list[Shift]) -> None:
    """Refuse an agency's set of shifts if two overlap (each instant must fall in at most one)."""
    for i, a in enumerate(shifts):
        for b in shifts[i + 1 :]:
            if a.code == b.code:
                raise RosterError("duplicate_shift", f"kode shift {a.code!r} dipakai dua kali")
            if overlaps(a, b):
                raise RosterError("shift_overlap", f"shift {a.code} dan {b.code} bertumpang tindih")


def shift_at(shifts: list[Shift], at: datetime) -> tuple[Shift, date] | None:
    """The shift instance (pattern, WIB start day) containing ``at``, or None in a gap."""
    for s in shifts:
        day = s.contains(at)
        if day is not None:
            return s, day
    return None


def parse_month(text: str) -> tuple[date, date]:
    """'YYYY-MM' -> (first day, first day of the next month)."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2099:
        raise RosterError("bad_month", f"bulan {text[:20]!r} tidak sah (YYYY-MM, tahun 2000-2099)")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


@dataclass(frozen=True)
class RosterRow:
    day: date
    shift: str
    username: str
    on_call: bool


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: str
    agency_id: int | None


def may_serve(person: Person, agency_id: int) -> bool:
    return person.agency_id == agency_id or person.role in _ANY_AGENCY_ROLES


def parse_csv(
    text: str, month: str, shift_codes: set[str], people: dict[str, Person], agency_id: int
) -> list[RosterRow]:
    """The rows of a monthly roster CSV; every problem is reported with its line number at once."""
    first, nxt = parse_month(month)
    # newline="": the csv module then takes CR, LF and CRLF line ends (a file from any editor)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _parse_rows(reader, month, first, nxt, shift_codes, people, agency_id)
    except csv.Error:  # a field over the csv module's limit, a stray quote at the end
        # the csv module's own words are English, so they are not passed on
        problem = f"baris {reader.line_num}: CSV tidak sah (isian terlalu panjang atau tanda kutip tidak tertutup)"
        raise RosterError("bad_csv", problem, [problem]) from None


def _parse_rows(
    reader: Any,
    month: str,
    first: date,
    nxt: date,
    shift_codes: set[str],
    people: dict[str, Person],
    agency_id: int,
) -> list[RosterRow]:
    errors: list[str] = []
    rows: list[RosterRow] = []
    seen: dict[tuple[date, str, str], int] = {}
    header = next(reader, None)
    if header is None:
        raise RosterError("empty_csv", "berkas CSV kosong")
    if [h.strip().lower() for h in header] != list(CSV_COLUMNS):
        raise RosterError(
            "bad_header",
            f"baris 1: kepala kolom harus {','.join(CSV_COLUMNS)}",
            [f"baris 1: kepala kolom harus {','.join(CSV_COLUMNS)}"],
        )
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) not in (3, 4):
            errors.append(f"baris {line}: harus 3 atau 4 kolom, ada {len(cells)}")
            continue
        day_text, code, username = (c.strip() for c in cells[:3])
        flag = cells[3].strip().lower() if len(cells) == 4 else ""
        problems = []
        try:
            day = date.fromisoformat(day_text)
            if not first <= day < nxt:
                problems.append(f"tanggal {day_text} di luar bulan {month}")
        except ValueError:
            day = first
            problems.append(f"tanggal {day_text!r} tidak sah (YYYY-MM-DD)")
        if code not in shift_codes:
            problems.append(f"shift {code!r} tidak ada (ada: {', '.join(sorted(shift_codes)) or '-'})")
        person = people.get(username.lower())
        if person is None:
            problems.append(f"pengguna {username!r} tidak dikenal atau nonaktif")
        elif not may_serve(person, agency_id):
            problems.append(f"pengguna {username!r} bukan petugas instansi ini")
        if flag not in _YES and flag not in _NO:
            problems.append(f"kolom siaga {cells[3]!r} harus 'ya' atau kosong")
        key = (day, code, username.lower())
        if not problems and key in seen:
            problems.append(f"sama dengan baris {seen[key]}")
        if problems:
            errors.extend(f"baris {line}: {p}" for p in problems)
            continue
        seen[key] = line
        rows.append(RosterRow(day, code, username.lower(), flag in _YES))
    if errors:
        raise RosterError("bad_csv", f"{len(errors)} kesalahan dalam CSV", errors)
    return rows


def format_csv(rows: list[RosterRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in sorted(rows, key=lambda r: (r.day, r.shift, r.username)):
        w.writerow([r.day.isoformat(), r.shift, r.username, "ya" if r.on_call else ""])
    return buf.getvalue()
