"""The location fallback chain, step by step: a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from gateway.locate import (
    DEFAULT_CELL_RANGE_M,
    FIXED_ACCURACY_M,
    CellTower,
    DeviceLocation,
    LocateLimits,
    choose_location,
)
from gateway.payloads import Location

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
LIMITS = LocateLimits(gps_max_age_s=300, gps_max_accuracy_m=500, last_known_max_age_s=3600)
ALUN = (-7.3605, 109.9030)
TOWER = CellTower(lat=-7.37, lon=109.91, range_m=1500.0, samples=20)
FIXED = DeviceLocation(fixed=True, install_lat=-7.40, install_lon=109.95)
LAST = DeviceLocation(last_lat=-7.30, last_lon=109.88, last_acc_m=12.0, last_fix_at=NOW - timedelta(minutes=20))
FIXED_AND_LAST = DeviceLocation(
    fixed=True, install_lat=-7.40, install_lon=109.95, last_lat=-7.30, last_lon=109.88, last_fix_at=NOW
)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def fix(acc: float | None = 8.0, age: float | None = 10.0, lat: float = ALUN[0], lon: float = ALUN[1]) -> Location:
    return Location(lat=lat, lon=lon, acc=acc, fix_ts=None if age is None else ago(age).timestamp())


NO_DEVICE = DeviceLocation()

# (case, loc, alert ts, tower, device, source, (lat, lon), accuracy, skipped)
CASES = [
    ("fresh gps", fix(), None, TOWER, FIXED, "gps", ALUN, 8.0, ()),
    ("gps at the accuracy limit", fix(acc=500.0), None, TOWER, NO_DEVICE, "gps", ALUN, 500.0, ()),
    ("gps at the age limit", fix(age=300), None, None, NO_DEVICE, "gps", ALUN, 8.0, ()),
    ("gps without accuracy is used", fix(acc=None), None, None, NO_DEVICE, "gps", ALUN, None, ()),
    ("gps age from alert ts without fix_ts", fix(age=None), ago(30), None, NO_DEVICE, "gps", ALUN, 8.0, ()),
    ("gps with no time at all came with the alert", fix(age=None), None, None, NO_DEVICE, "gps", ALUN, 8.0, ()),
    ("fix_ts wins over alert ts", fix(age=10), ago(10_000), None, NO_DEVICE, "gps", ALUN, 8.0, ()),
    ("small clock skew is tolerated", fix(age=-30), None, None, NO_DEVICE, "gps", ALUN, 8.0, ()),
    # -> cell
    (
        "inaccurate gps -> cell",
        fix(acc=800.0),
        None,
        TOWER,
        FIXED,
        "cell",
        (-7.37, 109.91),
        1500.0,
        ("gps_inaccurate",),
    ),
    ("stale gps -> cell", fix(age=301), None, TOWER, NO_DEVICE, "cell", (-7.37, 109.91), 1500.0, ("gps_stale",)),
    (
        "stale by alert ts -> cell",
        fix(age=None),
        ago(900),
        TOWER,
        NO_DEVICE,
        "cell",
        (-7.37, 109.91),
        1500.0,
        ("gps_stale",),
    ),
    ("no gps -> cell", None, None, TOWER, FIXED, "cell", (-7.37, 109.91), 1500.0, ("gps_missing",)),
    (
        "gps 0,0 -> cell",
        fix(lat=0.0, lon=0.0),
        None,
        TOWER,
        NO_DEVICE,
        "cell",
        (-7.37, 109.91),
        1500.0,
        ("gps_invalid",),
    ),
    (
        "fix from the future -> cell",
        fix(age=-3600),
        None,
        TOWER,
        NO_DEVICE,
        "cell",
        (-7.37, 109.91),
        1500.0,
        ("gps_clock",),
    ),
    (
        "tower without range",
        None,
        None,
        CellTower(-7.37, 109.91, 0.0),
        NO_DEVICE,
        "cell",
        (-7.37, 109.91),
        DEFAULT_CELL_RANGE_M,
        ("gps_missing",),
    ),
    # -> fixed
    (
        "no gps, no tower -> fixed",
        None,
        None,
        None,
        FIXED,
        "fixed",
        (-7.40, 109.95),
        FIXED_ACCURACY_M,
        ("gps_missing", "cell_missing"),
    ),
    (
        "fixed beats last known",
        None,
        None,
        None,
        FIXED_AND_LAST,
        "fixed",
        (-7.40, 109.95),
        FIXED_ACCURACY_M,
        ("gps_missing", "cell_missing"),
    ),
    (
        "tower at 0,0 is ignored -> fixed",
        None,
        None,
        CellTower(0.0, 0.0, 100.0),
        FIXED,
        "fixed",
        (-7.40, 109.95),
        FIXED_ACCURACY_M,
        ("gps_missing", "cell_invalid"),
    ),
    # -> last known
    (
        "no gps, tower, install -> last known",
        None,
        None,
        None,
        LAST,
        "last_known",
        (-7.30, 109.88),
        12.0,
        ("gps_missing", "cell_missing"),
    ),
    (
        "stale alert fix newer than the registry's -> last known from the alert",
        fix(age=600),
        None,
        None,
        LAST,
        "last_known",
        ALUN,
        8.0,
        ("gps_stale", "cell_missing"),
    ),
    (
        "registry fix newer than the stale alert fix",
        fix(age=3000),
        None,
        None,
        LAST,
        "last_known",
        (-7.30, 109.88),
        12.0,
        ("gps_stale", "cell_missing"),
    ),
    (
        "stale alert fix alone -> last known",
        fix(age=900),
        None,
        None,
        NO_DEVICE,
        "last_known",
        ALUN,
        8.0,
        ("gps_stale", "cell_missing"),
    ),
    # -> unknown
    (
        "nothing -> unknown",
        None,
        None,
        None,
        NO_DEVICE,
        "unknown",
        (None, None),
        None,
        ("gps_missing", "cell_missing", "last_known_missing"),
    ),
    (
        "last known too old -> unknown",
        None,
        None,
        None,
        DeviceLocation(last_lat=-7.3, last_lon=109.88, last_fix_at=ago(3601)),
        "unknown",
        (None, None),
        None,
        ("gps_missing", "cell_missing", "last_known_missing"),
    ),
    (
        "last known without a time -> unknown",
        None,
        None,
        None,
        DeviceLocation(last_lat=-7.3, last_lon=109.88),
        "unknown",
        (None, None),
        None,
        ("gps_missing", "cell_missing", "last_known_missing"),
    ),
    (
        "inaccurate fix is not a last known either",
        fix(acc=5000.0, age=600),
        None,
        None,
        NO_DEVICE,
        "unknown",
        (None, None),
        None,
        ("gps_inaccurate", "cell_missing", "last_known_missing"),
    ),
    (
        "fixed flag without coordinates",
        None,
        None,
        None,
        DeviceLocation(fixed=True),
        "unknown",
        (None, None),
        None,
        ("gps_missing", "cell_missing", "fixed_invalid", "last_known_missing"),
    ),
    (
        "alert fix older than the last-known limit",
        fix(age=4000),
        None,
        None,
        NO_DEVICE,
        "unknown",
        (None, None),
        None,
        ("gps_stale", "cell_missing", "last_known_missing"),
    ),
]


@pytest.mark.parametrize(
    ("case", "loc", "ts", "tower", "device", "source", "point", "accuracy", "skipped"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_fallback_chain(
    case: str,
    loc: Location | None,
    ts: datetime | None,
    tower: CellTower | None,
    device: DeviceLocation,
    source: str,
    point: tuple[float | None, float | None],
    accuracy: float | None,
    skipped: tuple[str, ...],
) -> None:
    got = choose_location(loc=loc, alert_ts=ts, received_at=NOW, device=device, tower=tower, limits=LIMITS)
    assert (got.source, (got.lat, got.lon), got.accuracy_m, got.skipped) == (source, point, accuracy, skipped)


def test_fix_age_is_reported() -> None:
    got = choose_location(loc=fix(age=42), alert_ts=None, received_at=NOW, device=NO_DEVICE, tower=None, limits=LIMITS)
    assert got.age_s == 42
    got = choose_location(loc=None, alert_ts=None, received_at=NOW, device=LAST, tower=None, limits=LIMITS)
    assert got.age_s == 1200


def test_limits_come_from_settings() -> None:
    s = Settings(gps_max_age_s=60, gps_max_accuracy_m=50.0, last_known_max_age_s=120)
    limits = LocateLimits.from_settings(s)
    assert limits == LocateLimits(60.0, 50.0, 120.0)
    got = choose_location(
        loc=fix(acc=80.0), alert_ts=None, received_at=NOW, device=NO_DEVICE, tower=None, limits=limits
    )
    assert got.source == "unknown"


def test_device_row_mapping() -> None:
    row = {"id": "btn-1", "fixed": True, "install_lat": -7.4, "install_lon": 109.95, "last_lat": None}
    assert DeviceLocation.of(row) == DeviceLocation(fixed=True, install_lat=-7.4, install_lon=109.95)
    assert DeviceLocation.of({}) == DeviceLocation()
