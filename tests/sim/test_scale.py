"""The simulator at scale: many buttons on one loop without a task or thread per button, paced by
the ramp, against a real Mosquitto and (for receipts) the real gateway."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from bench.gateway import register_bench_devices
from bench.scale import console_latency, ratio, rss_summary
from firmware_sim.fleet import Fleet, raise_fd_limit, rss_kib
from tests.gateway.harness import ALUN_ALUN, Stack, make_stack, running_gateway
from tests.support import wait_for


async def _register(stack: Stack, n: int, cache: Path) -> list[tuple[str, str]]:
    """The benchmark's bulk path: one COPY, hashes from a cache, each button its own password."""
    async with stack.pool.acquire() as conn:
        creds = await register_bench_devices(conn, n, cache)
    await stack.sync_broker_auth()
    return creds


def _fleet(stack: Stack, creds: list[tuple[str, str]], **kw: object) -> Fleet:
    config = stack.sim_config(heartbeat_s=kw.pop("heartbeat_s", 0), keepalive=10, resend_base_s=10.0, resend_max_s=20.0)
    homes = [ALUN_ALUN] * len(creds)
    return Fleet(creds, config, seed=1, homes=homes, **kw)  # type: ignore[arg-type]


async def _count(pool: asyncpg.Pool, sql: str) -> int:
    return int(await pool.fetchval(sql))


async def test_300_buttons_connect_heartbeat_and_press_with_receipts(
    db_dsn: str, tmp_path: Path, topic_root: str
) -> None:
    async with make_stack(db_dsn, tmp_path, topic_root) as stack:
        creds = await _register(stack, 300, tmp_path / "cache.json")
        fleet = _fleet(stack, creds, heartbeat_s=3.0, ramp_per_s=1000.0)
        threads_before = threading.active_count()
        async with running_gateway(stack.settings, stack.pool), fleet.running():
            await fleet.wait_all_connected(20)
            # no task and no thread per button: the fleet's few tasks and its connect threads
            assert len(asyncio.all_tasks()) < 40
            assert threading.active_count() <= threads_before + fleet.connect_threads + 2
            seqs = [(dev, dev.press()) for dev in fleet.devices]
            async with asyncio.timeout(30):
                for dev, seq in seqs:
                    await dev.wait_receipt(seq)
            assert await _count(stack.pool, "SELECT count(*) FROM incident") == 300
            # heartbeats are spread over the interval; within two intervals every button has sent one
            await wait_for(
                lambda: _count(stack.pool, "SELECT count(DISTINCT device_id) FROM telemetry"),
                timeout=15,
                what="telemetry",
            )
            await wait_for(
                lambda: _count(stack.pool, "SELECT count(DISTINCT device_id) >= 300 FROM telemetry"),
                timeout=15,
                what="a heartbeat from every button",
            )
        totals = fleet.totals()
        assert totals.receipts == 300 and totals.outbox == 0 and totals.resends == 0
        assert fleet.stats.connect_rate() > 0


async def test_ramp_paces_new_connections(db_dsn: str, tmp_path: Path, topic_root: str) -> None:
    async with make_stack(db_dsn, tmp_path, topic_root) as stack:
        creds = await _register(stack, 60, tmp_path / "cache.json")
        fleet = _fleet(stack, creds, ramp_per_s=30.0)
        t0 = time.monotonic()
        async with fleet.running():
            await asyncio.sleep(1.0)
            early = fleet.connected_count()
            await fleet.wait_all_connected(20)
            took = time.monotonic() - t0
    # 60 at 30/s: about half after one second, all after about two
    assert 10 <= early <= 45, early
    assert took >= 1.8, took


async def test_fleet_reconnects_after_the_broker_restarts(db_dsn: str, tmp_path: Path, topic_root: str) -> None:
    async with make_stack(db_dsn, tmp_path, topic_root) as stack:
        creds = await _register(stack, 50, tmp_path / "cache.json")
        fleet = _fleet(stack, creds, ramp_per_s=0.0)
        async with fleet.running():
            await fleet.wait_all_connected(15)
            stack.broker.kill()
            await wait_for(lambda: _async(fleet.connected_count() == 0), timeout=15, what="all dropped")
            stack.broker.start()
            await wait_for(lambda: _async(fleet.connected_count() == 50), timeout=20, what="all back")
        assert fleet.stats.reconnects >= 50


async def _async(value: bool) -> bool:
    return value


def test_fd_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    limit = raise_fd_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit
    assert rss_kib() > 0 and rss_kib(2**22 + 7) == 0


@pytest.mark.parametrize(
    ("series", "slope"),
    [
        ([(0.0, 1024), (1800.0, 1024), (3600.0, 1024)], 0.0),
        ([(0.0, 1024), (1800.0, 2048), (3600.0, 3072)], 2.0),
        ([(0.0, 10240), (60.0, 10240 - 1024 // 60), (120.0, 10240 - 2 * (1024 // 60))], -0.98),
    ],
)
def test_rss_slope_is_mib_per_hour(series: list[tuple[float, int]], slope: float) -> None:
    assert rss_summary(series)["slope_mib_per_h"] == pytest.approx(slope, abs=0.05)


def test_console_latency_takes_each_devices_next_event() -> None:
    pressed = [("a", 1, 10.0), ("b", 1, 10.5), ("a", 2, 20.0), ("c", 1, 30.0)]
    seen = [("b", 10.6), ("a", 9.0), ("a", 10.2), ("a", 20.3)]
    lat, missing = console_latency(pressed, seen)
    assert [round(x, 3) for x in lat] == [0.2, 0.1, 0.3] and missing == 1


@pytest.mark.parametrize(("a", "b", "want"), [(2.0, 1.0, 2.0), (1.0, 0.0, None), (float("nan"), 1.0, None)])
def test_ratio(a: float, b: float, want: float | None) -> None:
    assert ratio(a, b) == want
