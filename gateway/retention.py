"""Telemetry retention: raw readings older than ``telemetry_keep_days`` are folded into an hourly
roll-up per device (``telemetry_hourly``) and deleted; roll-ups older than
``telemetry_rollup_keep_days`` are deleted too.

Work is done in batches of ``retention_batch_rows``, oldest first, each its own short
transaction: telemetry has no foreign keys and the alert path never touches it, so a batch locks
only the rows it deletes, and no transaction stays open long enough to hold back the event bus's
horizon (which waits for every write transaction in SIAGA's database). A pause between batches
leaves the disk and the CPU to the gateway. With several gateway processes one prunes at a time
(an advisory lock); the others skip the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from core import audit
from core.db import TRANSIENT_ERRORS
from core.settings import Settings

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every SIAGA process.
_RETENTION_LOCK = 0x51A6B
# the database is away or cannot take the work right now (core.db): retry, do not die
_NETWORK_ERRORS = TRANSIENT_ERRORS

# One batch: take the oldest rows before the cutoff (b-tree order), delete them, and merge their
# hourly aggregates into the roll-up, all in one statement.
_FOLD = """
WITH doomed AS (
    SELECT ctid FROM telemetry WHERE received_at < $1 ORDER BY received_at LIMIT $2
), gone AS (
    DELETE FROM telemetry t USING doomed d WHERE t.ctid = d.ctid
    RETURNING t.device_id, t.received_at, t.battery, t.rssi, t.lat, t.lon
), hourly AS (
    SELECT device_id, date_trunc('hour', received_at) AS hour,
           count(*)::int AS readings, count(lat)::int AS fixes,
           min(battery) AS battery_min, max(battery) AS battery_max,
           min(rssi) AS rssi_min, max(rssi) AS rssi_max,
           coalesce(sum(rssi), 0)::bigint AS rssi_sum, count(rssi)::int AS rssi_n,
           max(received_at) AS last_at,
           max(received_at) FILTER (WHERE lat IS NOT NULL) AS last_fix_at,
           (array_agg(lat ORDER BY received_at DESC) FILTER (WHERE lat IS NOT NULL))[1] AS last_lat,
           (array_agg(lon ORDER BY received_at DESC) FILTER (WHERE lat IS NOT NULL))[1] AS last_lon
      FROM gone GROUP BY 1, 2
), merged AS (
    INSERT INTO telemetry_hourly AS h
           (device_id, hour, readings, fixes, battery_min, battery_max, rssi_min, rssi_max,
            rssi_sum, rssi_n, last_at, last_fix_at, last_lat, last_lon)
    SELECT device_id, hour, readings, fixes, battery_min, battery_max, rssi_min, rssi_max,
           rssi_sum, rssi_n, last_at, last_fix_at, last_lat, last_lon
      FROM hourly
    ON CONFLICT (device_id, hour) DO UPDATE SET
        readings = h.readings + EXCLUDED.readings,
        fixes = h.fixes + EXCLUDED.fixes,
        battery_min = least(h.battery_min, EXCLUDED.battery_min),
        battery_max = greatest(h.battery_max, EXCLUDED.battery_max),
        rssi_min = least(h.rssi_min, EXCLUDED.rssi_min),
        rssi_max = greatest(h.rssi_max, EXCLUDED.rssi_max),
        rssi_sum = h.rssi_sum + EXCLUDED.rssi_sum,
        rssi_n = h.rssi_n + EXCLUDED.rssi_n,
        last_at = greatest(h.last_at, EXCLUDED.last_at),
        last_fix_at = greatest(h.last_fix_at, EXCLUDED.last_fix_at),
        last_lat = CASE WHEN EXCLUDED.last_fix_at >= h.last_fix_at OR h.last_fix_at IS NULL
                        THEN coalesce(EXCLUDED.last_lat, h.last_lat) ELSE h.last_lat END,
        last_lon = CASE WHEN EXCLUDED.last_fix_at >= h.last_fix_at OR h.last_fix_at IS NULL
                        THEN coalesce(EXCLUDED.last_lon, h.last_lon) ELSE h.last_lon END
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS rows, (SELECT count(*) FROM merged) AS hours
"""

_DROP_ROLLUPS = """
WITH doomed AS (
    SELECT device_id, hour FROM telemetry_hourly WHERE hour < $1 ORDER BY hour LIMIT $2
)
DELETE FROM telemetry_hourly h USING doomed d WHERE h.device_id = d.device_id AND h.hour = d.hour
"""


@dataclass
class PruneResult:
    """What one retention pass did."""

    rows: int = 0  # raw readings folded into the roll-up and deleted
    rollup_writes: int = 0  # roll-up rows written or merged into (one per device-hour per batch)
    rollups_dropped: int = 0
    batches: int = 0
    seconds: float = 0.0
    skipped: bool = False  # another process held the retention lock

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


async def prune_once(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> PruneResult:
    """One retention pass: fold and delete every raw row past the limit, then old roll-ups.

    Returns early (with what was done) when ``stop`` is set; the next pass carries on.
    """
    now = now or datetime.now(UTC)
    result = PruneResult()
    keep = settings.telemetry_keep_days
    keep_rollups = settings.telemetry_rollup_keep_days
    if keep is None and keep_rollups is None:
        return result
    started = time.perf_counter()
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RETENTION_LOCK):
            result.skipped = True
            return result
        try:
            if keep is not None:
                cutoff = now - timedelta(days=keep)
                while not (stop and stop.is_set()):
                    row = await conn.fetchrow(_FOLD, cutoff, settings.retention_batch_rows)
                    result.rows += row["rows"]
                    result.rollup_writes += row["hours"]
                    result.batches += 1
                    if row["rows"] < settings.retention_batch_rows:
                        break
                    await asyncio.sleep(settings.retention_pause_ms / 1000)
            if keep_rollups is not None:
                cutoff = now - timedelta(days=keep_rollups)
                while not (stop and stop.is_set()):
                    status = await conn.execute(_DROP_ROLLUPS, cutoff, settings.retention_batch_rows)
                    dropped = int(status.split()[-1])
                    result.rollups_dropped += dropped
                    if dropped < settings.retention_batch_rows:
                        break
                    await asyncio.sleep(settings.retention_pause_ms / 1000)
            result.seconds = time.perf_counter() - started
            if result.rows or result.rollups_dropped:
                await audit.record(
                    conn,
                    audit.SYSTEM,
                    "telemetry.retention",
                    object_type="telemetry",
                    after={
                        "rows_rolled_up": result.rows,
                        "rollup_writes": result.rollup_writes,
                        "rollups_dropped": result.rollups_dropped,
                        "keep_days": keep,
                        "rollup_keep_days": keep_rollups,
                    },
                )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _RETENTION_LOCK)
    return result


async def run_retention(settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Prune every ``retention_interval_s`` until ``stop``; survives the database going away."""
    if settings.telemetry_keep_days is None and settings.telemetry_rollup_keep_days is None:
        log.info("telemetry retention is off (keep everything)")
        return
    # gateways started together do not all try at the same moment
    delay = random.uniform(0.0, min(60.0, settings.retention_interval_s))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
        if stop.is_set():
            return
        try:
            result = await prune_once(pool, settings, stop=stop)
        except _NETWORK_ERRORS as e:
            log.warning("telemetry retention: database unavailable (%s); next pass later", e)
        else:
            if result.rows or result.rollups_dropped:
                log.info(
                    "telemetry retention: %d readings rolled up (%d roll-up writes), %d old roll-ups "
                    "dropped, %d batches in %.1fs (%.0f rows/s)",
                    result.rows,
                    result.rollup_writes,
                    result.rollups_dropped,
                    result.batches,
                    result.seconds,
                    result.rows_per_s,
                )
        delay = settings.retention_interval_s
