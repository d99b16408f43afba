"""The press -> console measurement, driven by plain SQL presses (the gateway's bench drives MQTT)."""

import asyncio

import aiohttp
import asyncpg

from bench.dispatch import press_to_console, summarise
from core.settings import Settings
from dispatch.runner import run_dispatch
from tests.dispatch import factory


def test_summarise() -> None:
    s = summarise([0.010, 0.020, 0.030, 0.040, 1.0])
    assert (s.samples, s.p50_ms, s.max_ms) == (5, 30.0, 1000.0)
    assert summarise([]).samples == 0


async def test_press_to_console(server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{server}/api/v1/login", json={"username": "cc", "password": factory.PASSWORD})
        token = (await r.json())["token"]

    async def press(device_id: str) -> None:
        async with pool.acquire() as conn:
            await factory.incident(conn, police_agency_id=world.polsek_wonosobo, device_id=device_id)

    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatch(settings, pool, stop), name="dispatch")
    try:
        result = await press_to_console(server, token, press, [f"bench-{i}" for i in range(5)])
    finally:
        stop.set()
        await task
    assert result.samples == 5 and result.lost == 0
