"""Placing an alert: the location fallback chain, the desa/kecamatan and the covering agencies,
as the incident's location columns. Called by the gateway inside its insert transaction, so it
costs at most two cheap indexed queries (the serving cell's tower, only when GPS is not usable,
and the covering agencies, only without a `JurisdictionCache`), and none when GPS is good and the
cache is warm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from core.areas import AreaIndex, AreaMatch
from core.settings import Settings
from gateway.cells import lookup_cell
from gateway.jurisdiction import Jurisdiction
from gateway.locate import DeviceLocation, Located, LocateLimits, LocationSource, choose_location
from gateway.payloads import AlertIn
from gateway.reference import JurisdictionCache

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Placement:
    """Exactly the location columns of ``incident`` (``dataclasses.asdict`` gives the row)."""

    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: LocationSource
    desa_code: str | None
    desa_name: str | None
    kecamatan_code: str | None
    kecamatan_name: str | None
    area_distance_m: float | None
    outside_regency: bool
    police_agency_id: int | None
    dishub_unit_id: int | None


UNKNOWN_PLACEMENT = Placement(None, None, None, "unknown", None, None, None, None, None, False, None, None)


def placement_of(located: Located, match: AreaMatch | None, jurisdiction: Jurisdiction | None) -> Placement:
    """Pure: the columns for a chosen location and its area match.

    An unknown location is not "outside": it has no area and no covering unit, and the router
    sends it to the command centre on ``location_source = 'unknown'``. A point outside Wonosobo
    has ``outside_regency`` and no covering unit either."""
    if located.lat is None or located.lon is None or match is None:
        return UNKNOWN_PLACEMENT
    police = dishub = None
    if not match.outside and jurisdiction is not None:
        police = jurisdiction.police_unit_for(match.kecamatan_code)
        dishub = jurisdiction.nearest_dishub_post(located.lat, located.lon)
    return Placement(
        lat=located.lat,
        lon=located.lon,
        accuracy_m=located.accuracy_m,
        location_source=located.source,
        desa_code=match.desa_code,
        desa_name=match.desa_name,
        kecamatan_code=match.kecamatan_code,
        kecamatan_name=match.kecamatan_name,
        area_distance_m=match.distance_m,
        outside_regency=match.outside,
        police_agency_id=police,
        dishub_unit_id=dishub,
    )


_COVERING = """
SELECT (SELECT id FROM agency
         WHERE active AND ((kind = 'polsek' AND kecamatan_code = $1) OR kind = 'polres')
         ORDER BY kind = 'polsek' DESC, id LIMIT 1) AS police,
       (SELECT u.id FROM agency_unit u JOIN agency a ON a.id = u.agency_id
         WHERE a.kind = 'dishub' AND a.active AND u.active AND u.lat IS NOT NULL AND u.lon IS NOT NULL
         ORDER BY (u.lat - $2) ^ 2 + ((u.lon - $3) * cos(radians($2))) ^ 2, u.id LIMIT 1) AS dishub
"""


async def place_alert(
    conn: asyncpg.Connection,
    *,
    device: Mapping[str, Any],
    alert: AlertIn,
    received_at: datetime,
    settings: Settings,
    areas: AreaIndex,
    jurisdiction: JurisdictionCache | None = None,
) -> Placement:
    """Where the alert happened and who covers it. ``device`` is its ``device`` row."""
    limits = LocateLimits.from_settings(settings)
    where = DeviceLocation.of(device)
    located = choose_location(
        loc=alert.loc, alert_ts=alert.ts, received_at=received_at, device=where, tower=None, limits=limits
    )
    if located.source != "gps" and alert.cell is not None:
        tower = await lookup_cell(conn, alert.cell)
        if tower is not None:
            located = choose_location(
                loc=alert.loc, alert_ts=alert.ts, received_at=received_at, device=where, tower=tower, limits=limits
            )
    if located.lat is None or located.lon is None:
        log.debug("alert %s/%s: location unknown (%s)", device.get("id"), alert.seq, ",".join(located.skipped))
        return UNKNOWN_PLACEMENT
    match = areas.lookup(located.lat, located.lon)
    if match.outside:
        return placement_of(located, match, None)
    if jurisdiction is not None:
        return placement_of(located, match, await jurisdiction.get(conn))
    row = await conn.fetchrow(_COVERING, match.kecamatan_code, located.lat, located.lon)
    return replace(placement_of(located, match, None), police_agency_id=row["police"], dishub_unit_id=row["dishub"])
