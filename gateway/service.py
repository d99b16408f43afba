"""The gateway role assembled: area index, pipeline, MQTT gateway, one ``async with``."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from core.areas import AreaIndex
from core.settings import Settings
from gateway.geolocate import place_alert
from gateway.mqtt_gateway import MqttGateway
from gateway.payloads import AlertIn
from gateway.reference import JurisdictionCache
from gateway.store import AlertPipeline, Placement, Placer

log = logging.getLogger(__name__)


def make_placer(settings: Settings, areas: AreaIndex) -> Placer:
    jurisdiction = JurisdictionCache()

    async def place(
        conn: asyncpg.Connection, device: Mapping[str, Any], alert: AlertIn, received_at: datetime
    ) -> Placement:
        placement = await place_alert(
            conn,
            device=device,
            alert=alert,
            received_at=received_at,
            settings=settings,
            areas=areas,
            jurisdiction=jurisdiction,
        )
        return dataclasses.asdict(placement)

    return place


async def load_areas(settings: Settings | None = None) -> AreaIndex:
    """The desa index, built off the loop (it parses ~1 MB of GeoJSON)."""
    nearest = settings.nearest_area_max_m if settings else Settings.model_fields["nearest_area_max_m"].default
    return await asyncio.to_thread(AreaIndex.load, nearest_max_m=nearest)


@asynccontextmanager
async def alert_pipeline(
    settings: Settings, pool: asyncpg.Pool, areas: AreaIndex | None = None
) -> AsyncIterator[AlertPipeline]:
    areas = areas or await load_areas(settings)
    async with AlertPipeline(pool, settings, make_placer(settings, areas)) as pipeline:
        yield pipeline


async def run_mqtt_gateway(gateway: MqttGateway, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Run the MQTT gateway until ``stop``; drains before returning. ``ready`` is set once both
    broker sessions are connected and subscribed."""

    async def signal_ready() -> None:
        await gateway.wait_ready()
        if ready is not None:
            ready.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(gateway.run(stop), name="mqtt-gateway")
        watcher = tg.create_task(signal_ready(), name="gateway-ready")
        await stop.wait()
        watcher.cancel()
