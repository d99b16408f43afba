"""Telemetry retention: old readings are rolled up per device and hour, then deleted in batches."""

from __future__ import annotations

import asyncio
import os
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.settings import Settings
from gateway import retention
from tests.support import run_siaga, wait_for

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "telemetry_keep_days": 30,
        "telemetry_rollup_keep_days": 365,
        "retention_batch_rows": 100,
        "retention_pause_ms": 0,
    }
    return Settings(**(base | kw))


async def _readings(pool: asyncpg.Pool, n_devices: int, days: int, per_hour: int, seed: int = 7) -> list[tuple]:
    """Readings every few minutes for ``days`` days before NOW; some without a fix or RSSI."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    start = NOW - timedelta(days=days)
    step = timedelta(minutes=60 / per_hour)
    for d in range(n_devices):
        device = f"btn-ret{d:03d}"
        t = start + timedelta(seconds=rng.randint(0, 59))
        seq = 0
        while t < NOW:
            seq += 1
            fix = rng.random() > 0.2
            rows.append(
                (
                    device,
                    seq,
                    t,
                    t,
                    rng.randint(5, 100),
                    rng.randint(-110, -50) if rng.random() > 0.1 else None,
                    -7.36 + rng.random() / 100 if fix else None,
                    109.90 + rng.random() / 100 if fix else None,
                )
            )
            t += step
    await pool.copy_records_to_table(
        "telemetry",
        records=rows,
        columns=["device_id", "seq", "device_ts", "received_at", "battery", "rssi", "lat", "lon"],
    )
    return rows


def _expected_rollup(rows: list[tuple], cutoff: datetime) -> dict[tuple[str, datetime], dict[str, Any]]:
    out: dict[tuple[str, datetime], dict[str, Any]] = {}
    groups: dict[tuple[str, datetime], list[tuple]] = defaultdict(list)
    for r in rows:
        if r[3] < cutoff:
            groups[(r[0], r[3].replace(minute=0, second=0, microsecond=0))].append(r)
    for key, rs in groups.items():
        rssi = [r[5] for r in rs if r[5] is not None]
        fixes = sorted((r for r in rs if r[6] is not None), key=lambda r: r[3])
        out[key] = {
            "readings": len(rs),
            "fixes": len(fixes),
            "battery_min": min(r[4] for r in rs),
            "battery_max": max(r[4] for r in rs),
            "rssi_min": min(rssi) if rssi else None,
            "rssi_sum": sum(rssi),
            "rssi_n": len(rssi),
            "last_at": max(r[3] for r in rs),
            "last_lat": fixes[-1][6] if fixes else None,
        }
    return out


async def test_old_readings_are_rolled_up_exactly_and_deleted(pool: asyncpg.Pool) -> None:
    rows = await _readings(pool, n_devices=3, days=33, per_hour=12)
    settings = _settings()
    cutoff = NOW - timedelta(days=30)
    young = sum(1 for r in rows if r[3] >= cutoff)

    result = await retention.prune_once(pool, settings, now=NOW)

    assert result.rows == len(rows) - young
    assert result.batches > 10  # it really went in batches of 100
    assert await pool.fetchval("SELECT count(*) FROM telemetry") == young
    assert await pool.fetchval("SELECT min(received_at) FROM telemetry") >= cutoff
    got = {
        (r["device_id"], r["hour"]): dict(r)
        for r in await pool.fetch("SELECT * FROM telemetry_hourly ORDER BY device_id, hour")
    }
    want = _expected_rollup(rows, cutoff)
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        assert {k: g[k] for k in w if k != "last_lat"} == {k: v for k, v in w.items() if k != "last_lat"}, key
        assert g["last_lat"] == pytest.approx(w["last_lat"]) if w["last_lat"] is not None else g["last_lat"] is None
    # the pass is recorded, once, by the system
    audit_rows = await pool.fetch("SELECT username, after FROM audit_log WHERE action = 'telemetry.retention'")
    assert len(audit_rows) == 1 and audit_rows[0]["after"]["rows_rolled_up"] == result.rows

    again = await retention.prune_once(pool, settings, now=NOW)
    assert (again.rows, again.rollups_dropped) == (0, 0)
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'telemetry.retention'") == 1


async def test_an_hour_split_across_passes_merges_into_one_rollup_row(pool: asyncpg.Pool) -> None:
    rows = await _readings(pool, n_devices=2, days=31, per_hour=60)
    settings = _settings(retention_batch_rows=137)  # batch edges fall mid-hour
    # the cutoff moves on by 20 minutes between passes, as it does from one hourly pass to the next
    for minutes in (0, 20, 40, 60, 80):
        await retention.prune_once(pool, settings, now=NOW + timedelta(minutes=minutes))
    cutoff = NOW + timedelta(minutes=80) - timedelta(days=30)
    want = _expected_rollup(rows, cutoff)
    got = {(r["device_id"], r["hour"]): r for r in await pool.fetch("SELECT * FROM telemetry_hourly")}
    assert got.keys() == want.keys()
    assert all(got[k]["readings"] == w["readings"] and got[k]["rssi_sum"] == w["rssi_sum"] for k, w in want.items())
    assert await pool.fetchval("SELECT sum(readings) FROM telemetry_hourly") + await pool.fetchval(
        "SELECT count(*) FROM telemetry"
    ) == len(rows)


async def test_old_rollups_are_dropped_and_none_keeps_everything(pool: asyncpg.Pool) -> None:
    await _readings(pool, n_devices=1, days=40, per_hour=2)
    await retention.prune_once(pool, _settings(), now=NOW)
    hours = await pool.fetchval("SELECT count(*) FROM telemetry_hourly")
    assert hours == 10 * 24 or hours == 10 * 24 + 1  # 40 - 30 days, give or take the edge hour
    # a year later with a 365-day roll-up limit, the roll-ups from before then go too
    later = NOW + timedelta(days=365 + 35)
    dropped = await retention.prune_once(pool, _settings(telemetry_keep_days=None), now=later)
    assert dropped.rows == 0  # raw rows are kept when telemetry_keep_days is None
    assert dropped.rollups_dropped == hours
    off = await retention.prune_once(
        pool, _settings(telemetry_keep_days=None, telemetry_rollup_keep_days=None), now=later
    )
    assert (off.rows, off.rollups_dropped, off.batches) == (0, 0, 0)


async def test_two_gateways_prune_one_at_a_time(pool: asyncpg.Pool) -> None:
    rows = await _readings(pool, n_devices=4, days=32, per_hour=30)
    settings = _settings(retention_batch_rows=200)
    a, b = await asyncio.gather(
        retention.prune_once(pool, settings, now=NOW), retention.prune_once(pool, settings, now=NOW)
    )
    cutoff = NOW - timedelta(days=30)
    old = sum(1 for r in rows if r[3] < cutoff)
    assert a.rows + b.rows == old
    assert await pool.fetchval("SELECT sum(readings) FROM telemetry_hourly") == old


async def test_alerts_commit_while_a_long_prune_runs(pool: asyncpg.Pool) -> None:
    """The alert path takes no lock the pruner holds: an alert commits between its batches."""
    await _readings(pool, n_devices=10, days=35, per_hour=20)
    settings = _settings(retention_batch_rows=300, retention_pause_ms=5)
    stop = asyncio.Event()
    pruning = asyncio.create_task(retention.prune_once(pool, settings, now=NOW, stop=stop))

    async def batches_committed() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM telemetry_hourly"))

    await wait_for(batches_committed, what="the pruner's first batches")
    assert not pruning.done()
    async with pool.acquire() as conn, asyncio.timeout(2):
        await conn.execute("INSERT INTO device (id, name) VALUES ('btn-ret999', 'x')")
        await conn.execute(
            """INSERT INTO alert (device_id, seq, type, received_at, payload)
               VALUES ('btn-ret999', 1, 'panic', now(), '{}')"""
        )
    assert not pruning.done()  # the alert went in while the prune was still going
    stop.set()
    partial = await pruning
    assert 0 < partial.rows < 10 * 35 * 24 * 20
    assert await pool.fetchval("SELECT sum(readings) FROM telemetry_hourly") == partial.rows


async def test_cli_runs_one_pass(pool: asyncpg.Pool, db_dsn: str) -> None:
    rows = await _readings(pool, n_devices=2, days=3, per_hour=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")} | {"SIAGA_DATABASE_URL": db_dsn}
    code, out = await run_siaga("retention", "run", "--keep-days", "1", env=env)
    assert code == 0, out
    # NOW is in the past of the real clock, so "older than a day" is every row but today's
    left = await pool.fetchval("SELECT count(*) FROM telemetry")
    assert f"{len(rows) - left:,} baris telemetri diringkas" in out
    assert await pool.fetchval("SELECT sum(readings) FROM telemetry_hourly") == len(rows) - left
