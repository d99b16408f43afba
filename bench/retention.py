"""Telemetry storage and retention benchmark (``siaga bench retention``).

In one fresh database it measures:

- the disk cost of a million raw telemetry rows (table, indexes) and of their hourly roll-up;
- how fast the batched roll-up-and-delete goes, against a raw baseline measured in the same run
  (one plain ``DELETE`` of the same rows, no roll-up, no batches);
- alert-commit latency (the gateway's alert transaction shape: alert, incident, event in one
  transaction) with the database idle and while a retention pass runs, to show the pruner does
  not hold the alert path back.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core import db
from core.settings import Settings
from gateway import retention

_COLUMNS = ["device_id", "seq", "device_ts", "received_at", "battery", "rssi", "lat", "lon", "accuracy_m"]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def _fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    name = f"siaga_bench_ret_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
        await db.migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _fill(pool: asyncpg.Pool, rows: int, devices: int, start: datetime, span: timedelta) -> None:
    """``rows`` readings spread evenly over ``span`` from ``start``, the way the gateway COPYs them."""
    step = span / rows
    batch = 50_000
    done = 0
    t0 = time.perf_counter()
    while done < rows:
        n = min(batch, rows - done)
        records = []
        for i in range(done, done + n):
            at = start + step * i
            records.append(
                (
                    f"btn-{i % devices:05d}",
                    i // devices,
                    at,
                    at,
                    50 + i % 50,
                    -60 - i % 40,
                    -7.36 + (i % 1000) / 1e5 if i % 10 else None,
                    109.9 + (i % 997) / 1e5 if i % 10 else None,
                    12.0,
                )
            )
        await pool.copy_records_to_table("telemetry", records=records, columns=_COLUMNS)
        done += n
        rate = done / (time.perf_counter() - t0)
        print(f"\r  mengisi telemetri: {done:,}/{rows:,} baris ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


async def _sizes(conn: asyncpg.Connection) -> dict[str, int]:
    await conn.execute("VACUUM ANALYZE telemetry")
    # the roll-up's rows are rewritten by each batch that touches their hour; measure the live
    # size (autovacuum gives the dead versions' space back to later batches in a running system)
    await conn.execute("VACUUM FULL telemetry_hourly")
    return {
        "telemetry_table": await conn.fetchval("SELECT pg_table_size('telemetry')"),
        "telemetry_indexes": await conn.fetchval("SELECT pg_indexes_size('telemetry')"),
        "hourly_total": await conn.fetchval("SELECT pg_total_relation_size('telemetry_hourly')"),
    }


async def _alert_latency(pool: asyncpg.Pool, stop: asyncio.Event, rate: float, device: str) -> list[float]:
    """Commit alert + incident + event at ``rate``/s until ``stop``; milliseconds per commit."""
    out: list[float] = []
    seq = int(time.time() * 1000)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO device (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", device)
        while not stop.is_set():
            seq += 1
            t = time.perf_counter()
            async with conn.transaction():
                alert_id = await conn.fetchval(
                    """INSERT INTO alert (device_id, seq, type, received_at, payload)
                       VALUES ($1, $2, 'panic', now(), '{}') RETURNING id""",
                    device,
                    seq,
                )
                iid = await conn.fetchval(
                    """INSERT INTO incident (alert_id, device_id, type, location_source)
                       VALUES ($1, $2, 'panic', 'unknown') RETURNING id""",
                    alert_id,
                    device,
                )
                await conn.execute(
                    "INSERT INTO event (kind, incident_id, data) VALUES ('incident.created', $1, '{}')", iid
                )
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def bench_retention(admin_dsn: str, *, rows: int = 1_000_000, devices: int = 10_000) -> dict[str, Any]:
    """Run the benchmark; returns the figures (and prints a table to stderr)."""
    now = datetime.now(UTC)
    settings = Settings(telemetry_keep_days=30, telemetry_rollup_keep_days=730)
    out: dict[str, Any] = {"rows": rows, "devices": devices}
    async with _fresh_database(admin_dsn) as dsn, db.open_pool(dsn) as pool:
        # 1. size of a million rows (all old enough to be pruned: 40..31 days ago)
        # one heartbeat per device per minute, as the buttons send them
        span = timedelta(minutes=rows / devices)
        _say(f"retensi: {rows:,} baris telemetri dari {devices:,} perangkat ({span} lamanya)")
        t = time.perf_counter()
        await _fill(pool, rows, devices, now - timedelta(days=40), span)
        out["copy_rows_per_s"] = rows / (time.perf_counter() - t)
        async with pool.acquire() as conn:
            sizes = await _sizes(conn)
        per_million = 1_000_000 / rows
        out["bytes_per_million_rows"] = {
            "table": round(sizes["telemetry_table"] * per_million),
            "indexes": round(sizes["telemetry_indexes"] * per_million),
        }

        # 2. raw baseline: one plain DELETE of the same rows, in a copy of the table
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE telemetry_baseline (LIKE telemetry INCLUDING INDEXES)")
            await conn.execute("INSERT INTO telemetry_baseline SELECT * FROM telemetry")
            await conn.execute("VACUUM ANALYZE telemetry_baseline")
            t = time.perf_counter()
            await conn.execute("DELETE FROM telemetry_baseline WHERE received_at < $1", now - timedelta(days=30))
            raw_s = time.perf_counter() - t
            await conn.execute("DROP TABLE telemetry_baseline")
        out["raw_delete_rows_per_s"] = rows / raw_s

        # 3. latency of the alert path, idle, then while the pruner works through the million rows
        stop = asyncio.Event()
        idle_task = asyncio.create_task(_alert_latency(pool, stop, 50, "btn-idle0"))
        await asyncio.sleep(5)
        stop.set()
        idle = await idle_task
        stop = asyncio.Event()
        busy_task = asyncio.create_task(_alert_latency(pool, stop, 50, "btn-busy0"))
        result = await retention.prune_once(pool, settings, now=now)
        stop.set()
        busy = await busy_task
        out["prune"] = {
            "rows": result.rows,
            "rollup_writes": result.rollup_writes,
            "batches": result.batches,
            "seconds": round(result.seconds, 2),
            "rows_per_s": round(result.rows_per_s),
        }
        out["prune_to_raw_delete"] = result.rows_per_s / out["raw_delete_rows_per_s"]
        out["alert_commit_ms"] = {
            "idle": {"p50": statistics.median(idle), "p99": _pct(idle, 0.99), "n": len(idle)},
            "during_prune": {"p50": statistics.median(busy), "p99": _pct(busy, 0.99), "n": len(busy)},
        }
        async with pool.acquire() as conn:
            after = await _sizes(conn)
            left = await conn.fetchval("SELECT count(*) FROM telemetry")
            folded = await conn.fetchval("SELECT coalesce(sum(readings), 0) FROM telemetry_hourly")
        out["rows_left"] = left
        out["rows_in_rollup"] = folded
        out["rollup_bytes_per_million_rows"] = round(after["hourly_total"] * per_million)
    _print(out)
    return out


def _print(r: dict[str, Any]) -> None:
    mb = 1024 * 1024
    size = r["bytes_per_million_rows"]
    lat = r["alert_commit_ms"]
    lines = [
        "",
        f"| telemetri: {r['rows']:,} baris, {r['devices']:,} perangkat | angka | rasio |",
        "|---|---|---|",
        f"| COPY masuk | {r['copy_rows_per_s']:,.0f} baris/s | |",
        f"| per 1 juta baris: tabel / indeks | {size['table'] / mb:.0f} MiB / {size['indexes'] / mb:.0f} MiB | |",
        f"| ringkasan per jam per 1 juta baris asal | {r['rollup_bytes_per_million_rows'] / mb:.1f} MiB | |",
        f"| (a) DELETE polos, satu pernyataan (baseline) | {r['raw_delete_rows_per_s']:,.0f} baris/s | 1.00 |",
        f"| (b) retensi: ringkas + hapus, {r['prune']['batches']} batch | {r['prune']['rows_per_s']:,} baris/s"
        f" | {r['prune_to_raw_delete']:.2f} |",
        f"| baris tersisa / masuk ringkasan | {r['rows_left']:,} / {r['rows_in_rollup']:,} | |",
        f"| commit alert p50/p99, diam | {lat['idle']['p50']:.1f} / {lat['idle']['p99']:.1f} ms | |",
        f"| commit alert p50/p99, saat retensi | {lat['during_prune']['p50']:.1f} / "
        f"{lat['during_prune']['p99']:.1f} ms | {lat['during_prune']['p99'] / lat['idle']['p99']:.2f} |",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
