"""Placing an alert against a real database: every location source, outside and unknown, the
covering agencies, and how many queries it costs inside the gateway's transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from core.areas import AreaIndex
from core.settings import Settings
from gateway.cells import import_cells
from gateway.geolocate import UNKNOWN_PLACEMENT, Placement, place_alert
from gateway.payloads import AlertIn
from gateway.reference import POLRES_CODE, JurisdictionCache, load_reference

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
SETTINGS = Settings(gps_max_age_s=300, gps_max_accuracy_m=500.0, last_known_max_age_s=3600)
INCIDENT_LOCATION_COLUMNS = (
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "desa_code",
    "desa_name",
    "kecamatan_code",
    "kecamatan_name",
    "area_distance_m",
    "outside_regency",
    "police_agency_id",
    "dishub_unit_id",
)
CELLS = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
    # a tower in Desa Sembungan (Kejajar, has a polsek) and one in Kec. Garung (no known polsek)
    "LTE,510,10,100,1001,0,109.9226,-7.2357,1200,30,1,1459814400,1700000000,0\n"
    "GSM,510,10,100,1002,0,109.9180,-7.2940,800,5,1,1459814400,1700000000,0\n"
)


def alert(**fields: Any) -> AlertIn:
    return AlertIn.model_validate({"seq": 1, "ts": int(NOW.timestamp()), **fields})


def gps(lat: float, lon: float, acc: float = 8.0, age_s: float = 5.0) -> dict[str, Any]:
    return {"lat": lat, "lon": lon, "acc": acc, "fix_ts": (NOW - timedelta(seconds=age_s)).timestamp()}


def device(**fields: Any) -> dict[str, Any]:
    return {"id": "btn-001", "fixed": False, "install_lat": None, "install_lon": None, "last_lat": None,
            "last_lon": None, "last_acc_m": None, "last_fix_at": None, **fields}  # fmt: skip


@pytest.fixture
async def seeded(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[dict[str, int]]:
    """Reference data and two towers; agency ids by code."""
    await load_reference(pool)
    path = tmp_path / "cells.csv"
    path.write_text(CELLS)
    await import_cells(pool, path)
    yield {r["code"]: r["id"] for r in await pool.fetch("SELECT code, id FROM agency")}


async def _place(
    pool: asyncpg.Pool,
    areas: AreaIndex,
    dev: dict[str, Any],
    a: AlertIn,
    cache: JurisdictionCache | None = None,
) -> tuple[Placement, int]:
    """The placement and the number of queries it ran."""
    queries: list[str] = []

    def log(record: Any) -> None:
        queries.append(record.query)

    async with pool.acquire() as conn, conn.transaction():
        conn.add_query_logger(log)
        try:
            p = await place_alert(
                conn, device=dev, alert=a, received_at=NOW, settings=SETTINGS, areas=areas, jurisdiction=cache
            )
        finally:
            conn.remove_query_logger(log)
    return p, len(queries)


def test_placement_fields_are_the_incident_location_columns() -> None:
    assert tuple(f.name for f in dataclasses.fields(Placement)) == INCIDENT_LOCATION_COLUMNS


SEMBUNGAN_CELL = {"mcc": 510, "mnc": 10, "lac": 100, "cid": 1001}
GARUNG_CELL = {"mcc": 510, "mnc": 10, "lac": 100, "cid": 1002}
UNKNOWN_CELL = {"mcc": 510, "mnc": 10, "lac": 100, "cid": 999}
ALUN = (-7.3605, 109.9030)
TELAGA_CEBONG = (-7.2337, 109.9195)
CANDI_ARJUNA = (-7.2052, 109.9069)  # Dieng Kulon, Banjarnegara
GAP = (-7.361101, 109.905734)  # a hairline gap ~2.5 m wide, 300 m east of the Alun-alun

# (case, device, alert, expected (source, lat, lon, accuracy, desa, kecamatan, distance, outside,
#  police agency code), queries without a jurisdiction cache)
PLACEMENTS: list[tuple[str, dict[str, Any], AlertIn, tuple[Any, ...], int]] = [
    (
        "fresh gps at the Alun-alun; the cell is not even looked up",
        device(),
        alert(loc=gps(*ALUN), cell=SEMBUNGAN_CELL),
        ("gps", *ALUN, 8.0, "Wonosobo Timur", "Wonosobo", 0.0, False, "polsek-wonosobo"),
        1,
    ),
    (
        "stale gps -> the cell tower in Sembungan",
        device(),
        alert(loc=gps(*ALUN, age_s=900), cell=SEMBUNGAN_CELL),
        ("cell", -7.2357, 109.9226, 1200.0, "Sembungan", "Kejajar", 0.0, False, "polsek-kejajar"),
        2,
    ),
    (
        "cell in Garung, which has no known polsek -> the polres",
        device(),
        alert(cell=GARUNG_CELL),
        ("cell", -7.2940, 109.9180, 800.0, "Menjer", "Garung", 0.0, False, POLRES_CODE),
        2,
    ),
    (
        "inaccurate gps, unknown cell -> the fixed install location",
        device(fixed=True, install_lat=TELAGA_CEBONG[0], install_lon=TELAGA_CEBONG[1]),
        alert(loc=gps(*ALUN, acc=900.0), cell=UNKNOWN_CELL),
        ("fixed", *TELAGA_CEBONG, 25.0, "Sembungan", "Kejajar", 0.0, False, "polsek-kejajar"),
        2,
    ),
    (
        "nothing in the alert -> last known location",
        device(last_lat=ALUN[0], last_lon=ALUN[1], last_acc_m=15.0, last_fix_at=NOW - timedelta(minutes=30)),
        alert(),
        ("last_known", *ALUN, 15.0, "Wonosobo Timur", "Wonosobo", 0.0, False, "polsek-wonosobo"),
        1,
    ),
    (
        "a hairline gap -> the nearest desa",
        device(),
        alert(loc=gps(*GAP)),
        ("gps", *GAP, 8.0, "Jaraksari", "Wonosobo", pytest.approx(1.28, abs=0.05), False, "polsek-wonosobo"),
        1,
    ),
    (
        "outside Wonosobo: placed, flagged, no covering unit",
        device(),
        alert(loc=gps(*CANDI_ARJUNA)),
        ("gps", *CANDI_ARJUNA, 8.0, None, None, None, True, None),
        0,
    ),
    (
        "last known too old -> unknown",
        device(last_lat=ALUN[0], last_lon=ALUN[1], last_fix_at=NOW - timedelta(hours=2)),
        alert(),
        ("unknown", None, None, None, None, None, None, False, None),
        0,
    ),
    (
        "nothing at all -> unknown, not 'outside'",
        device(),
        alert(cell=UNKNOWN_CELL),
        ("unknown", None, None, None, None, None, None, False, None),
        1,
    ),
]


async def test_placements(pool: asyncpg.Pool, seeded: dict[str, int], desa_index: AreaIndex) -> None:
    """Every case against one seeded database, with and without the jurisdiction cache."""
    # Dishub posts have no coordinates in the seed data: no post until an admin maps one. A cold
    # cache loads itself (three small queries).
    p, _ = await _place(pool, desa_index, device(), alert(loc=gps(*ALUN)))
    assert (p.police_agency_id, p.dishub_unit_id) == (seeded["polsek-wonosobo"], None)
    cached, n = await _place(pool, desa_index, device(), alert(loc=gps(*ALUN)), JurisdictionCache())
    assert (cached, n) == (p, 3)

    await pool.execute("UPDATE agency_unit SET lat = -7.385, lon = 109.916 WHERE name = 'Terminal Mendolo'")
    mendolo = await pool.fetchval("SELECT id FROM agency_unit WHERE name = 'Terminal Mendolo'")
    cache = JurisdictionCache()
    await cache.refresh(pool)
    for case, dev, a, expected, queries in PLACEMENTS:
        p, n = await _place(pool, desa_index, dev, a)
        source, lat, lon, acc, desa, kec, dist, outside, police = expected
        got = (p.location_source, p.lat, p.lon, p.accuracy_m, p.desa_name, p.kecamatan_name, p.area_distance_m)
        assert got == (source, lat, lon, acc, desa, kec, dist), case
        assert p.outside_regency is outside, case
        assert p.police_agency_id == (seeded[police] if police else None), case
        # the only mapped Dishub post covers every place in the regency
        assert p.dishub_unit_id == (mendolo if desa else None), case
        if desa:
            assert p.desa_code == desa_index.lookup(lat, lon).desa_code and p.kecamatan_code == p.desa_code[:8]
        assert n == queries, case
        if source == "unknown":
            assert p == UNKNOWN_PLACEMENT

        cached, n_cached = await _place(pool, desa_index, dev, a, cache)
        assert cached == p, case
        assert n_cached == queries - (1 if desa else 0), case  # the covering-unit query is gone
