"""Size limits on the device side: a 20 MiB MQTT payload costs neither the broker nor the gateway.

Mosquitto, as SIAGA configures it, closes a connection whose packet is over ``max_packet_size``
before reading its body. The gateway does not rely on that (EMQX, or a broker configured by
hand, may let it through): against a broker without the limit it refuses an oversized payload
before parsing it, keeps only its first bytes with the full length and SHA-256, and counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core import appkeys, auth
from core.mqtt import AsyncMqtt, new_client
from core.settings import Settings
from gateway.store import AlertPipeline
from siaga import observability
from siaga.mosquitto import default_max_packet_bytes, render_config
from tests.gateway.harness import GatewayProcess, Stack, gateway_running, make_stack
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIG = 20 * 1024 * 1024


def test_every_mosquitto_config_sets_the_packet_limit_of_the_settings() -> None:
    limit = Settings().mqtt_max_packet_bytes
    assert limit == default_max_packet_bytes() == Settings().max_payload_bytes + 1024
    shipped = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert re.findall(r"^max_packet_size (\d+)$", shipped, re.M) == [str(limit)]
    written = render_config(1883, Path("/tmp/x"))
    assert re.findall(r"^max_packet_size (\d+)$", written, re.M) == [str(limit)]
    # only a test of the gateway's own check asks for a broker without it
    assert "max_packet_size" not in render_config(1883, Path("/tmp/x"), max_packet_bytes=0)


@contextlib.asynccontextmanager
async def raw_device(stack: Stack, device_id: str, secret: str) -> AsyncIterator[AsyncMqtt]:
    """A connection with a device's credentials, for what a SimDevice would never send."""
    client = new_client(f"{device_id}-raw", username=device_id, password=secret)
    conn = AsyncMqtt(client, "127.0.0.1", stack.broker.port)
    task = asyncio.create_task(conn.run(), name=f"raw-{device_id}")
    try:
        async with asyncio.timeout(10):
            await conn.wait_connected()
        yield conn
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await pool.fetchval(sql, *args))


async def test_mosquitto_as_configured_refuses_20_mib_and_keeps_serving(stack: Stack) -> None:
    (dev_id, secret), other = await stack.add_devices(2)
    async with gateway_running(stack):
        (button,) = await stack.start_devices([other])
        async with raw_device(stack, dev_id, secret) as raw:
            first = raw.generation
            raw.client.publish(f"{stack.settings.topic_root}/devices/{dev_id}/alert", b"[" * BIG, qos=0)

            async def dropped() -> bool:
                return not raw.connected or raw.generation > first

            await wait_for(dropped, timeout=20, what="the broker to close the oversized publisher")
        assert stack.broker.proc is not None and stack.broker.proc.poll() is None
        seq = button.press()
        async with asyncio.timeout(15):
            await button.wait_receipt(seq)
    assert await _count(stack.pool, "SELECT count(*) FROM dead_letter") == 0  # never reached the gateway
    assert await _count(stack.pool, "SELECT count(*) FROM incident") == 1


@pytest.fixture
async def open_stack(db_dsn: str, tmp_path: Path, topic_root: str) -> AsyncIterator[Stack]:
    """A Mosquitto without a packet limit, so the gateway's own check is what is tested."""
    async with make_stack(db_dsn, tmp_path, topic_root, broker_max_packet_bytes=0) as s:
        yield s


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_gateway_keeps_a_bounded_prefix_of_oversized_payloads_and_its_memory(open_stack: Stack) -> None:
    stack = open_stack
    (dev_id, secret), other = await stack.add_devices(2)
    gateway = GatewayProcess(stack)
    await gateway.start()
    try:
        (button,) = await stack.start_devices([other])
        seq = button.press()
        async with asyncio.timeout(30):
            await button.wait_receipt(seq)  # the gateway is up and has done one round
        assert gateway.pid is not None
        before = _rss_bytes(gateway.pid)
        root = stack.settings.topic_root
        payloads = [secrets.token_bytes(16) + bytes([i]) * BIG for i in range(3)]
        async with raw_device(stack, dev_id, secret) as raw:
            for i, payload in enumerate(payloads):
                kind = "telemetry" if i == 2 else "alert"
                raw.client.publish(f"{root}/devices/{dev_id}/{kind}", payload, qos=1)

            async def stored() -> list[asyncpg.Record] | None:
                rows = await stack.pool.fetch(
                    "SELECT reason, device_id, topic, payload, payload_length, payload_sha256, detail"
                    " FROM dead_letter ORDER BY id"
                )
                return rows if len(rows) >= 3 else None

            rows = await wait_for(stored, timeout=60, what="three oversize dead letters")
        after = _rss_bytes(gateway.pid)
        # the service is still there, and later alerts go through
        seq = button.press()
        async with asyncio.timeout(15):
            await button.wait_receipt(seq)
    except AssertionError:
        print(gateway.log_tail())
        raise
    finally:
        await gateway.terminate()
    # 60 MiB went through the gateway; what it kept of them is a few KiB. Transient buffers
    # (paho's packet, one payload copy) may stay in the allocator once; 3 x the payload may not.
    growth = after - before
    print(f"gateway RSS {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB (+{growth / 2**20:.0f} MiB)")
    assert growth < 2 * BIG, f"gateway RSS grew by {growth / 2**20:.0f} MiB for three 20 MiB payloads"
    keep = stack.settings.dead_letter_keep_bytes
    # alerts and telemetry take separate sessions, so the rows may come in either order
    by_hash = {bytes(r["payload_sha256"]): r for r in rows}
    assert len(rows) == 3
    for payload in payloads:
        row = by_hash[hashlib.sha256(payload).digest()]
        assert row["reason"] == "oversize" and row["device_id"] == dev_id
        assert bytes(row["payload"]) == payload[:keep]
        assert row["payload_length"] == len(payload)
        assert f"{len(payload)} bytes > limit {stack.settings.max_payload_bytes}" in row["detail"]
    disk = await _count(stack.pool, "SELECT coalesce(sum(octet_length(payload)), 0) FROM dead_letter")
    assert disk <= 3 * keep


async def test_oversized_payload_is_counted_and_acked_before_parsing(open_stack: Stack) -> None:
    stack = open_stack
    (dev_id, secret), other = await stack.add_devices(2)
    async with gateway_running(stack) as pipeline:
        (button,) = await stack.start_devices([other])
        limit = stack.settings.max_payload_bytes
        root = stack.settings.topic_root
        async with raw_device(stack, dev_id, secret) as raw:
            # a status is never parsed as JSON, yet it must be refused by its size as well
            raw.client.publish(f"{root}/devices/{dev_id}/status", b"o" * (limit + 1), qos=1)
            raw.client.publish(f"{root}/devices/{dev_id}/alert", b"{" * (limit + 1), qos=1)
            raw.client.publish(f"{root}/devices/{dev_id}/telemetry", b"{" * (4 * limit), qos=1)

            async def counted() -> bool:
                return pipeline.stats.oversized >= 3

            await wait_for(counted, timeout=15, what="three oversized payloads counted")
        seq = button.press()
        async with asyncio.timeout(15):
            await button.wait_receipt(seq)
        metrics = await _metrics(stack, pipeline)
    assert "siaga_pipeline_oversized_total 3" in metrics.splitlines()
    rows = await stack.pool.fetch("SELECT reason, topic, payload_length FROM dead_letter ORDER BY id")
    assert sorted((r["topic"].rsplit("/", 1)[1], r["reason"], r["payload_length"]) for r in rows) == [
        ("alert", "oversize", limit + 1),
        ("status", "oversize", limit + 1),
        ("telemetry", "oversize", 4 * limit),
    ]
    assert pipeline.stats.oversized == 3


async def _metrics(stack: Stack, pipeline: AlertPipeline) -> str:
    """/metrics as the web role serves it beside this pipeline."""
    app = web.Application(middlewares=[auth.auth_middleware])
    app[appkeys.SETTINGS] = stack.settings
    app[appkeys.POOL] = stack.pool
    app[appkeys.PIPELINE_STATS] = pipeline
    observability.setup(app)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/metrics")
        assert r.status == 200
        return await r.text()
