"""A real AlertPipeline on the test's own database, and helpers to register trackers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from core.settings import Settings
from gateway.payloads import AlertIn
from gateway.store import PLACEMENT_COLUMNS, AlertPipeline, Placement


class _Placement(dict[str, Any]):
    def as_columns(self) -> dict[str, Any]:  # the pipeline's earlier Placement protocol
        return self


async def place_by_gps(
    conn: asyncpg.Connection, device: Mapping[str, Any], alert: AlertIn, received_at: datetime
) -> Placement:
    """Places an alert at its GPS fix. The ingress tests check what reaches the pipeline, not the
    geolocation (tested on its own); the real placer is used when gateway.geolocate is present."""
    out = _Placement.fromkeys(PLACEMENT_COLUMNS)
    out["outside_regency"] = False
    out["location_source"] = "unknown"
    if alert.loc is not None:
        out.update(lat=alert.loc.lat, lon=alert.loc.lon, accuracy_m=alert.loc.acc, location_source="gps")
    return out


def ingress_settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"telemetry_flush_ms": 5, "tracker_host": "127.0.0.1"}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def settings() -> Settings:
    return ingress_settings()


_AREAS: list[Any] = []


async def _areas() -> Any:
    """The desa index is immutable and costly to build: once per test session."""
    from gateway.service import load_areas

    if not _AREAS:
        _AREAS.append(await load_areas())
    return _AREAS[0]


@pytest.fixture
async def pipeline(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[AlertPipeline]:
    placer: Any = place_by_gps
    try:
        from gateway.service import make_placer

        placer = make_placer(settings, await _areas())
    except ImportError:  # geolocation not assembled yet
        pass
    async with AlertPipeline(pool, settings, placer) as p:
        yield p


async def add_tracker(
    pool: asyncpg.Pool, device_id: str, *, kind: str = "gt06", imei: str | None = None, active: bool = True
) -> None:
    await pool.execute(
        "INSERT INTO device (id, name, kind, imei, active) VALUES ($1, $2, $3, $4, $5)",
        device_id,
        f"Pelacak {device_id}",
        kind,
        imei,
        active,
    )


async def dead_letters(pool: asyncpg.Pool, channel: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM dead_letter WHERE channel = $1 ORDER BY id", channel)
