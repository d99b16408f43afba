"""The stack a benchmark or a test runs SIAGA on: a broker of its own that takes SIAGA's device
registry as its password file, the gateway's settings for that broker, simulated buttons, and a
pipeline with its MQTT gateway in this process.

Written once so that a benchmark measures the same assembly the tests check."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from core.areas import AreaIndex
from core.settings import Settings
from firmware_sim.device import SimConfig
from gateway.devices import GATEWAY_USERNAME, write_broker_auth
from gateway.mqtt_gateway import MqttGateway
from gateway.service import alert_pipeline, load_areas, run_mqtt_gateway
from siaga.mosquitto import MosquittoProcess
from siaga.procs import free_port

# Where the simulated buttons stand: the alun-alun of Wonosobo, inside a desa of the reference data.
ALUN_ALUN = (-7.3605, 109.9030)

_areas: AreaIndex | None = None


async def shared_areas() -> AreaIndex:
    """The desa index, built once per process: it is immutable and takes seconds to build."""
    global _areas
    if _areas is None:
        _areas = await load_areas()
    return _areas


def gateway_settings(
    dsn: str, host: str, port: int, password: str, topic_root: str, *, client_prefix: str = "gw", **overrides: Any
) -> Settings:
    """The gateway's settings for a broker of the stack's own, under a client id of its own so two
    stacks on one machine never take each other's session."""
    return Settings(
        database_url=dsn,
        mqtt_url=f"mqtt://{GATEWAY_USERNAME}:{password}@{host}:{port}",
        topic_root=topic_root,
        mqtt_client_id=f"{client_prefix}-{secrets.token_hex(3)}",
        **overrides,
    )


def sim_config(host: str, port: int, topic_root: str, **overrides: Any) -> SimConfig:
    """A simulated button's configuration: no heartbeat and a fix on every reading, so a run
    counts only what it sends on purpose; quick re-sends and keepalive unless overridden."""
    base: dict[str, Any] = {
        "host": host,
        "port": port,
        "topic_root": topic_root,
        "heartbeat_s": 0,
        "resend_base_s": 1.0,
        "resend_max_s": 3.0,
        "gps_loss": 0.0,
        "keepalive": 5,
    }
    base.update(overrides)
    return SimConfig(**base)


@contextlib.asynccontextmanager
async def mosquitto_broker(
    pool: asyncpg.Pool, workdir: Path, topic_root: str, gateway_password: str, *, max_packet_bytes: int | None = None
) -> AsyncIterator[MosquittoProcess]:
    """A Mosquitto on a free port whose password file and ACL are the registry's, until the block
    ends. ``max_packet_bytes``: its packet limit (default: the settings'; 0 = none)."""
    async with pool.acquire() as conn:
        await write_broker_auth(conn, workdir / "broker", topic_root=topic_root, gateway_password=gateway_password)
    broker = MosquittoProcess(workdir / "broker", free_port(), max_packet_bytes=max_packet_bytes)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[MqttGateway]:
    """Pipeline + MQTT gateway in this process, connected and subscribed, until the block ends
    (then a clean, draining stop). ``gateway.pipeline`` is the pipeline."""
    stop, ready = asyncio.Event(), asyncio.Event()
    async with alert_pipeline(settings, pool, await shared_areas()) as pipeline:
        gateway = MqttGateway(settings, pool, pipeline)
        task = asyncio.create_task(run_mqtt_gateway(gateway, stop, ready), name="gateway")
        waiter = asyncio.create_task(ready.wait())
        try:
            async with asyncio.timeout(15):
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
            yield gateway
        finally:
            waiter.cancel()
            stop.set()
            await task
