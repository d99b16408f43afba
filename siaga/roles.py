"""Assembling SIAGA's roles in one process: services (embedded or configured), gateway, dispatch, web."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from core.db import migrate, open_pool
from core.settings import Settings
from gateway.devices import GATEWAY_USERNAME

log = logging.getLogger(__name__)

ROLES = ("gateway", "telemetry", "dispatch", "web")


@dataclass
class Services:
    """Where the database and broker are, and whether SIAGA started them itself."""

    settings: Settings
    embedded_db: bool = False
    embedded_broker: bool = False
    notes: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Settings]:
    """The configured database, or an embedded PostgreSQL under ``data_dir`` when none is set."""
    if settings.database_url:
        yield settings
        return
    from siaga.embedded import embedded_postgres

    async with embedded_postgres(Path(settings.data_dir)) as dsn:
        log.info("embedded PostgreSQL under %s", settings.data_dir)
        yield settings.model_copy(update={"database_url": dsn})


@contextlib.asynccontextmanager
async def broker(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Settings]:
    """The configured broker, or an embedded one that checks the device registry itself."""
    if settings.mqtt_url:
        yield settings
        return
    from siaga.embedded import embedded_broker

    password = secrets.token_urlsafe(18)
    # 1883 when it is free; a machine may already run a broker there (0 = any free port)
    wanted = 1883 if port_free(1883) else 0
    async with embedded_broker(
        pool,
        topic_root=settings.topic_root,
        gateway_password=password,
        port=wanted,
        max_packet_bytes=settings.mqtt_max_packet_bytes,
    ) as (host, port):
        log.info("embedded MQTT broker on %s:%s", host, port)
        yield settings.model_copy(update={"mqtt_url": f"mqtt://{GATEWAY_USERNAME}:{password}@{host}:{port}"})


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


async def serve_web(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("console at http://%s:%s/", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()


async def run_roles(
    settings: Settings,
    roles: set[str],
    stop: asyncio.Event,
    *,
    on_ready: Callable[[Settings, asyncpg.Pool], object] | None = None,
    with_trackers: bool = True,
) -> None:
    """Run the given roles until ``stop``; services come from settings or are embedded."""
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    async with database(settings) as settings:
        assert settings.database_url is not None
        await migrate(settings.database_url)
        async with open_pool(settings.database_url, max_size=12) as pool:
            needs_broker = bool(roles & {"gateway", "telemetry"})
            async with contextlib.AsyncExitStack() as stack:
                if needs_broker:
                    settings = await stack.enter_async_context(broker(settings, pool))
                await _run(settings, pool, roles, stop, on_ready, with_trackers)


async def _run(
    settings: Settings,
    pool: asyncpg.Pool,
    roles: set[str],
    stop: asyncio.Event,
    on_ready: Callable[[Settings, asyncpg.Pool], object] | None,
    with_trackers: bool,
) -> None:
    from gateway.mqtt_gateway import MqttGateway
    from gateway.service import alert_pipeline, run_mqtt_gateway

    async with contextlib.AsyncExitStack() as stack:
        # The gateway role holds the alerts session and, unless SIAGA_GATEWAY_TELEMETRY=false,
        # the telemetry session; the telemetry role holds the telemetry session alone. In one
        # process (`--role all`) both sessions share one gateway.
        alerts_here = "gateway" in roles
        telemetry_here = "telemetry" in roles or (alerts_here and settings.gateway_telemetry)
        pipeline = None
        if alerts_here or telemetry_here or "web" in roles:
            # The web role takes app alerts through the same pipeline; it needs no broker for that.
            pipeline = await stack.enter_async_context(alert_pipeline(settings, pool))
        async with asyncio.TaskGroup() as tg:
            tasks: list[asyncio.Task[Any]] = []

            def spawn(coro: Coroutine[Any, Any, Any], name: str) -> None:
                tasks.append(tg.create_task(coro, name=name))

            ready = asyncio.Event()
            gateway = None
            if alerts_here or telemetry_here:
                assert pipeline is not None
                gateway = MqttGateway(settings, pool, pipeline, alerts=alerts_here, telemetry=telemetry_here)
                spawn(run_mqtt_gateway(gateway, stop, ready), name="gateway")
            else:
                ready.set()
            if telemetry_here:
                from gateway.retention import run_retention

                spawn(run_retention(settings, pool, stop), name="telemetry-retention")
            if alerts_here and with_trackers:
                from gateway.gt06_server import run_gt06
                from gateway.osmand_server import run_osmand

                spawn(run_osmand(settings, pipeline, stop), name="osmand")
                spawn(run_gt06(settings, pipeline, stop), name="gt06")
            if "dispatch" in roles:
                from dispatch.runner import run_dispatch

                spawn(run_dispatch(settings, pool, stop), name="dispatch")
                from dashboard.reports import run_report_schedule

                spawn(run_report_schedule(settings, pool, stop), name="weekly-reports")
            if "web" in roles:
                from siaga.webapp import web_role_app

                app = web_role_app(settings, pool, pipeline, gateway)
                spawn(serve_web(app, settings.http_host, settings.http_port, stop), name="web")
            await ready.wait()
            if on_ready is not None:
                result = on_ready(settings, pool)
                if asyncio.iscoroutine(result):
                    spawn(result, name="on-ready")
            await stop.wait()
            # Drain: every role stopped taking work when `stop` was set; give them a bounded time to
            # finish what they hold, then cancel the rest (unacked messages are redelivered, timers
            # and unrouted incidents stay in the database for the next start).
            running = [t for t in tasks if not t.done()]
            _, late = await asyncio.wait(running, timeout=settings.drain_timeout_s + 5) if running else (set(), set())
            for task in late:
                log.warning("%s did not stop within the drain time; cancelling it", task.get_name())
                task.cancel()
