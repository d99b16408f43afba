"""Where an alert came from: the fallback chain of DESIGN.md. Pure, no I/O.

First usable wins, and the source and an accuracy radius are recorded on the incident:

1. ``gps``        the alert's own fix, if its accuracy and age are within the limits. The age is
                  measured against the gateway's receive time, from the fix time (``loc.fix_ts``)
                  or, without one, the alert time (``ts``).
2. ``cell``       the serving cell's tower position (OpenCelliD import), radius = the tower range.
3. ``fixed``      a fixed button's registered install location.
4. ``last_known`` the most recent earlier fix younger than the limit: the device's last known
                  location, or the alert's own fix when it was only too old to count as GPS.
5. ``unknown``    still an incident; the router sends it to the command centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from gateway.payloads import Location

LocationSource = Literal["gps", "cell", "fixed", "last_known", "unknown"]
LOCATION_SOURCES: tuple[str, ...] = ("gps", "cell", "fixed", "last_known", "unknown")

# A fix time this far ahead of the gateway's clock is tolerated as clock skew (age 0); further
# ahead, the device clock is wrong and the fix's age is unknowable, so it is not trusted.
FUTURE_SKEW_S = 60.0
# OpenCelliD rows with no range (0) get this radius: a typical macro cell.
DEFAULT_CELL_RANGE_M = 2000.0
# A registered install location is where the admin put the pin: about a building.
FIXED_ACCURACY_M = 25.0


@dataclass(frozen=True, slots=True)
class LocateLimits:
    gps_max_age_s: float = 300.0
    gps_max_accuracy_m: float = 500.0
    last_known_max_age_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Any) -> LocateLimits:
        return cls(
            gps_max_age_s=float(settings.gps_max_age_s),
            gps_max_accuracy_m=float(settings.gps_max_accuracy_m),
            last_known_max_age_s=float(settings.last_known_max_age_s),
        )


@dataclass(frozen=True, slots=True)
class CellTower:
    """A tower position from the imported cell table."""

    lat: float
    lon: float
    range_m: float | None = None
    samples: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceLocation:
    """What the device registry knows about where a device is."""

    fixed: bool = False
    install_lat: float | None = None
    install_lon: float | None = None
    last_lat: float | None = None
    last_lon: float | None = None
    last_acc_m: float | None = None
    last_fix_at: datetime | None = None

    @classmethod
    def of(cls, device: Mapping[str, Any]) -> DeviceLocation:
        """From a ``device`` row (asyncpg Record or dict); missing columns count as unknown."""
        return cls(
            fixed=bool(device.get("fixed") or False),
            install_lat=device.get("install_lat"),
            install_lon=device.get("install_lon"),
            last_lat=device.get("last_lat"),
            last_lon=device.get("last_lon"),
            last_acc_m=device.get("last_acc_m"),
            last_fix_at=device.get("last_fix_at"),
        )


@dataclass(frozen=True, slots=True)
class Located:
    """The chosen location. ``lat``/``lon`` are None only for ``unknown``."""

    source: LocationSource
    lat: float | None
    lon: float | None
    accuracy_m: float | None  # radius in metres; None when the source did not say
    age_s: float | None = None  # age of the fix used, when known
    # why earlier steps were passed over, e.g. ("gps_stale",), for logs and metrics
    skipped: tuple[str, ...] = ()


UNKNOWN = Located("unknown", None, None, None)


def _valid_point(lat: float | None, lon: float | None) -> bool:
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    # (0, 0) is what many GPS modules report before their first fix
    return not (lat == 0.0 and lon == 0.0)


def _age_s(at: datetime | None, now: datetime) -> float | None:
    """Seconds from ``at`` to ``now``; None if unknown or implausibly in the future."""
    if at is None:
        return None
    age = (now - at) / timedelta(seconds=1)
    if age < -FUTURE_SKEW_S:
        return None
    return max(age, 0.0)


def gps_fix(
    loc: Location | None, alert_ts: datetime | None, received_at: datetime, limits: LocateLimits
) -> tuple[Located | None, str | None]:
    """The alert's fix if usable as ``gps``, else (None, reason). Reasons: ``gps_missing``,
    ``gps_invalid`` (no fix / (0,0)), ``gps_inaccurate``, ``gps_stale``, ``gps_clock`` (the fix time
    is ahead of the gateway's clock beyond skew)."""
    if loc is None:
        return None, "gps_missing"
    if not _valid_point(loc.lat, loc.lon):
        return None, "gps_invalid"
    if loc.acc is not None and loc.acc > limits.gps_max_accuracy_m:
        return None, "gps_inaccurate"
    fix_at = loc.fix_ts or alert_ts
    age = _age_s(fix_at, received_at)
    if fix_at is not None and age is None:
        return None, "gps_clock"
    if age is not None and age > limits.gps_max_age_s:
        return None, "gps_stale"
    # A fix with no time at all came with this alert; firmware sends its current fix.
    return Located("gps", loc.lat, loc.lon, loc.acc, age), None


def choose_location(
    *,
    loc: Location | None,
    alert_ts: datetime | None,
    received_at: datetime,
    device: DeviceLocation,
    tower: CellTower | None,
    limits: LocateLimits,
) -> Located:
    """Walk the fallback chain; ``tower`` is the looked-up serving cell, if any."""
    gps, why = gps_fix(loc, alert_ts, received_at, limits)
    if gps is not None:
        return gps
    skipped: list[str] = [why] if why else []

    if tower is not None and _valid_point(tower.lat, tower.lon):
        radius = tower.range_m if tower.range_m and tower.range_m > 0 else DEFAULT_CELL_RANGE_M
        return Located("cell", tower.lat, tower.lon, float(radius), None, tuple(skipped))
    skipped.append("cell_missing" if tower is None else "cell_invalid")

    if device.fixed and _valid_point(device.install_lat, device.install_lon):
        return Located("fixed", device.install_lat, device.install_lon, FIXED_ACCURACY_M, None, tuple(skipped))
    if device.fixed:
        skipped.append("fixed_invalid")

    # Earlier fixes younger than the limit: the registry's last fix, and this alert's own fix when
    # it was rejected only for its age. The most recent wins.
    best: Located | None = None
    if _valid_point(device.last_lat, device.last_lon):
        age = _age_s(device.last_fix_at, received_at)
        if age is not None and age <= limits.last_known_max_age_s:
            best = Located("last_known", device.last_lat, device.last_lon, device.last_acc_m, age)
    if why == "gps_stale" and loc is not None:
        age = _age_s(loc.fix_ts or alert_ts, received_at)
        if age is not None and age <= limits.last_known_max_age_s and (best is None or age < (best.age_s or 0)):
            best = Located("last_known", loc.lat, loc.lon, loc.acc, age)
    if best is not None:
        return Located(best.source, best.lat, best.lon, best.accuracy_m, best.age_s, tuple(skipped))
    skipped.append("last_known_missing")
    return Located("unknown", None, None, None, None, tuple(skipped))
