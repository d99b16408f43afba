"""``/metrics`` (Prometheus text format) and ``/healthz`` for whichever roles run in this process."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from aiohttp import web

from core import appkeys, auth

_STARTED = time.time()
# a probe must answer within its own timeout, also when the pool has no free connection
HEALTH_DB_TIMEOUT_S = 2.0
log = logging.getLogger(__name__)


def _line(name: str, value: float, help_text: str, kind: str = "counter", labels: str = "") -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{labels} {value}"]


async def _db_metrics(pool: asyncpg.Pool) -> list[str]:
    out: list[str] = []
    async with pool.acquire() as conn:
        states = await conn.fetch("SELECT state, count(*) AS n FROM incident GROUP BY state")
        reasons = await conn.fetch("SELECT reason, count(*) AS n FROM dead_letter GROUP BY reason")
        devices = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE active) AS active, count(*) FILTER (WHERE active AND online) AS online"
            " FROM device"
        )
        unsent = await conn.fetchval("SELECT count(*) FROM downlink WHERE sent_at IS NULL")
    out += ["# HELP siaga_incidents Incidents by state.", "# TYPE siaga_incidents gauge"]
    out += [f'siaga_incidents{{state="{r["state"]}"}} {r["n"]}' for r in states]
    out += ["# HELP siaga_dead_letters Refused payloads stored raw, by reason.", "# TYPE siaga_dead_letters gauge"]
    out += [f'siaga_dead_letters{{reason="{r["reason"]}"}} {r["n"]}' for r in reasons]
    out += _line("siaga_devices_active", devices["active"], "Registered, active devices.", "gauge")
    out += _line("siaga_devices_online", devices["online"], "Active devices whose last status is online.", "gauge")
    out += _line("siaga_downlink_unsent", unsent, "Messages for devices not yet published.", "gauge")
    return out


@auth.public
async def metrics(request: web.Request) -> web.Response:
    lines = _line("siaga_uptime_seconds", round(time.time() - _STARTED, 1), "Seconds since start.", "gauge")
    pipeline = request.app.get(appkeys.PIPELINE_STATS)
    if pipeline is not None:
        for name, value in pipeline.stats.as_dict().items():
            lines += _line(f"siaga_pipeline_{name}_total", value, f"Alert pipeline: {name}.")
        lines += _line("siaga_pipeline_pending", pipeline.pending(), "Items waiting for a commit.", "gauge")
    gateway = request.app.get(appkeys.GATEWAY_STATS)
    if gateway is not None:
        for name, value in gateway.stats.as_dict().items():
            lines += _line(f"siaga_gateway_{name}_total", value, f"MQTT gateway: {name}.")
        lines += _line(
            "siaga_gateway_connected",
            int(gateway.connected),
            "Every broker session of this process's gateway connected.",
            "gauge",
        )
    lines += await _db_metrics(request.app[appkeys.POOL])
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


@auth.public
async def healthz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S), request.app[appkeys.POOL].acquire() as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
        # /healthz is public: the reason goes to the log, never to whoever asks (an exception's
        # text can name hosts, users and paths)
        log.warning("healthz: database unavailable: %r", e)
        return web.json_response({"status": "error", "database": "unavailable", "broker": None}, status=503)
    gateway = request.app.get(appkeys.GATEWAY_STATS)
    broker = None if gateway is None else gateway.connected
    status = 200 if broker in (None, True) else 503
    return web.json_response(
        {"status": "ok" if status == 200 else "degraded", "database": "ok", "broker": broker}, status=status
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
