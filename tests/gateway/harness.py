"""A running gateway against a Mosquitto and a database of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.stack import ALUN_ALUN, gateway_settings, mosquitto_broker, running_gateway, sim_config
from core.settings import Settings
from firmware_sim.device import SimConfig, SimDevice
from gateway.devices import add_device, write_broker_auth
from gateway.store import AlertPipeline
from siaga.mosquitto import MosquittoProcess
from siaga.procs import RoleProcess, role_env


@dataclass
class Stack:
    pool: asyncpg.Pool
    dsn: str
    broker: MosquittoProcess
    settings: Settings
    workdir: Path
    gateway_password: str
    pipeline: AlertPipeline | None = None
    devices: list[SimDevice] = field(default_factory=list)
    _tasks: list[asyncio.Task[object]] = field(default_factory=list)

    async def add_devices(self, n: int, prefix: str = "btn", **kw: object) -> list[tuple[str, str]]:
        out = []
        async with self.pool.acquire() as conn:
            for i in range(n):
                nd = await add_device(conn, f"{prefix}-{i:04d}", f"Tombol {prefix} {i}", **kw)  # type: ignore[arg-type]
                out.append((nd.device_id, nd.secret))
        await self.sync_broker_auth()
        return out

    async def sync_broker_auth(self) -> None:
        async with self.pool.acquire() as conn:
            await write_broker_auth(
                conn,
                self.workdir / "broker",
                topic_root=self.settings.topic_root,
                gateway_password=self.gateway_password,
            )
        self.broker.reload()

    def sim_config(self, **kw: object) -> SimConfig:
        return sim_config("127.0.0.1", self.broker.port, self.settings.topic_root, **kw)

    async def start_devices(
        self, creds: list[tuple[str, str]], *, home: tuple[float, float] = ALUN_ALUN, **kw: object
    ) -> list[SimDevice]:
        """Buttons standing at ``home`` (the alun-alun unless told), connected."""
        config = self.sim_config(**kw)
        state = self.workdir / "sim-state"
        state.mkdir(exist_ok=True)
        devices = [SimDevice(d, s, config, home, state_dir=state) for d, s in creds]
        for dev in devices:
            self._tasks.append(asyncio.create_task(dev.run(), name=f"sim-{dev.device_id}"))
        async with asyncio.timeout(15):
            for dev in devices:
                assert dev.conn is not None
                await dev.conn.wait_connected()
        self.devices += devices
        return devices

    async def stop_devices(self, *, power_cut: bool = False) -> None:
        if power_cut:
            for dev in self.devices:
                dev.conn.graceful = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()


@contextlib.asynccontextmanager
async def gateway_running(stack: Stack, **overrides: object) -> AsyncIterator[AlertPipeline]:
    """The gateway on the stack's broker and database until the block ends."""
    settings = stack.settings.model_copy(update=overrides) if overrides else stack.settings
    async with running_gateway(settings, stack.pool) as gateway:
        stack.pipeline = gateway.pipeline
        yield gateway.pipeline


@contextlib.asynccontextmanager
async def make_stack(
    db_dsn: str, workdir: Path, topic_root: str, *, broker_max_packet_bytes: int | None = None
) -> AsyncIterator[Stack]:
    """``broker_max_packet_bytes``: Mosquitto's packet limit (default: the settings'; 0 = none,
    for tests of the gateway's own size check)."""
    from core.db import open_pool

    password = secrets.token_urlsafe(16)
    async with (
        open_pool(db_dsn, max_size=8) as pool,
        mosquitto_broker(pool, workdir, topic_root, password, max_packet_bytes=broker_max_packet_bytes) as broker,
    ):
        settings = gateway_settings(db_dsn, "127.0.0.1", broker.port, password, topic_root, mqtt_keepalive_s=5)
        stack = Stack(pool, db_dsn, broker, settings, workdir, password)
        try:
            yield stack
        finally:
            await stack.stop_devices()


class GatewayProcess(RoleProcess):
    """`siaga run --role gateway` as a child process of the test, so it can be SIGKILLed."""

    def __init__(self, stack: Stack, name: str = "gw") -> None:
        settings = stack.settings.model_copy(update={"mqtt_keepalive_s": 5})
        super().__init__(role_env(settings), "gateway", stack.workdir / f"{name}.log")
