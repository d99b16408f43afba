"""The one ingest pipeline every path ends in (MQTT, app API, OsmAnd, GT06).

Alerts are committed in small batches, one transaction per batch: device check, alert row
(``(device, seq)`` UNIQUE absorbs redelivery), placement, incident row, event; the caller's future
resolves only after COMMIT, so the MQTT path acks the broker only then. Refused input is
dead-lettered with its reason. Telemetry and positions take a separate, batched path (COPY), so a
telemetry flood never sits in front of an alert.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from core.counters import Counters
from core.db import TRANSIENT_ERRORS
from core.settings import Settings
from gateway.payloads import AlertIn, TelemetryIn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    device_id: str
    seq: int
    incident_id: uuid.UUID
    number: int
    duplicate: bool


class DeviceRefused(Exception):
    """The device is unknown or disabled; the payload is already dead-lettered."""

    def __init__(self, device_id: str, reason: str) -> None:
        super().__init__(f"device {device_id!r} refused: {reason}")
        self.device_id = device_id
        self.reason = reason


class PayloadRefused(DeviceRefused):
    """The database refused what the payload carries (e.g. a NUL character in a JSON string);
    the payload is already dead-lettered. A subclass, so every path that handles a refused
    device handles this too: answer, ack, never retry."""


# The database is away or cannot write now (restarting, disk full...): keep the batch and retry;
# never dead-letter a payload for it.
_CONNECTION_ERRORS = TRANSIENT_ERRORS


# Where an alert happened, as the incident's location columns (see gateway.geolocate).
Placement = Mapping[str, Any]
Placer = Callable[[asyncpg.Connection, Mapping[str, Any], AlertIn, datetime], Awaitable[Placement]]

# incident location columns, in insert order; a Placement provides each of them
PLACEMENT_COLUMNS = (
    "lat",
    "lon",
    "accuracy_m",
    "location_source",
    "desa_code",
    "desa_name",
    "kecamatan_code",
    "kecamatan_name",
    "area_distance_m",
    "outside_regency",
    "police_agency_id",
    "dishub_unit_id",
)


@dataclass
class _AlertJob:
    device_id: str
    alert: AlertIn
    channel: str
    raw: bytes
    received_at: datetime
    future: asyncio.Future[Receipt]


@dataclass
class _PositionJob:
    device_id: str
    position: TelemetryIn
    channel: str
    raw: bytes
    received_at: datetime
    future: asyncio.Future[None] | None


# The reason of a payload refused for its size alone (MQTT, app API, OsmAnd, GT06 frames).
OVERSIZE = "oversize"


@dataclass(frozen=True)
class KeptPayload:
    """What a dead letter keeps of a payload: at most ``keep`` bytes of it, its full length and
    the SHA-256 of all of it (so a 20 MiB refusal costs a few KiB of disk, and is still on record)."""

    prefix: bytes
    length: int
    sha256: bytes

    @classmethod
    def of(cls, payload: bytes, keep: int) -> KeptPayload:
        return cls(bytes(payload[:keep]), len(payload), hashlib.sha256(payload).digest())


@dataclass
class _DeadJob:
    channel: str
    reason: str
    payload: KeptPayload
    topic: str | None
    device_id: str | None
    detail: str | None
    future: asyncio.Future[None] | None


class PipelineStats(
    Counters,
    names="alerts_committed alerts_duplicate alert_batches telemetry_committed telemetry_batches"
    " dead_letters refused db_errors oversized",
    tallies="dead_by_reason",
):
    """``oversized``: payloads refused for their size before they were parsed (stored bounded, as dead letters)."""


class AlertPipeline:
    """Batching writer for alerts, positions and dead letters. Use as ``async with``.

    ``enqueue_*`` return futures (for the MQTT path, which runs in paho callbacks);
    ``submit_*`` await them (for the HTTP and TCP paths).
    """

    def __init__(self, pool: asyncpg.Pool, settings: Settings, placer: Placer) -> None:
        self.pool = pool
        self.settings = settings
        self.placer = placer
        self.stats = PipelineStats()
        self._alerts: deque[_AlertJob] = deque()
        self._positions: deque[_PositionJob] = deque()
        self._dead: deque[_DeadJob] = deque()
        self._alert_wake = asyncio.Event()
        self._position_wake = asyncio.Event()
        self._dead_wake = asyncio.Event()
        self._active: set[str] = set()
        self._active_loaded = 0.0
        self._group: asyncio.TaskGroup | None = None
        self._closing = False

    async def __aenter__(self) -> AlertPipeline:
        if self._group is not None:
            raise RuntimeError("AlertPipeline is not re-entrant")
        await self._refresh_active()
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._group.create_task(self._writer(self._alerts, self._alert_wake, self._write_alerts), name="alerts")
        self._group.create_task(
            self._writer(self._positions, self._position_wake, self._write_positions, linger=True),
            name="telemetry",
        )
        self._group.create_task(self._writer(self._dead, self._dead_wake, self._write_dead), name="dead-letters")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._group is not None
        self._closing = True
        for wake in (self._alert_wake, self._position_wake, self._dead_wake):
            wake.set()
        try:
            await self._group.__aexit__(None, None, None)
        finally:
            self._group = None
            # Nothing still queued was committed: fail it so no caller acks it.
            for queue in (self._alerts, self._positions, self._dead):
                while queue:
                    fut = queue.popleft().future
                    if fut is not None and not fut.done():
                        fut.set_exception(ConnectionAbortedError("pipeline closed before commit"))

    # --- intake -------------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._alerts) + len(self._positions) + len(self._dead)

    def positions_pending(self) -> int:
        return len(self._positions)

    def enqueue_alert(
        self, device_id: str, alert: AlertIn, *, channel: str, raw: bytes, received_at: datetime
    ) -> asyncio.Future[Receipt]:
        fut: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._alerts.append(_AlertJob(device_id, alert, channel, raw, received_at, fut))
        self._alert_wake.set()
        return fut

    async def submit_alert(
        self, device_id: str, alert: AlertIn, *, channel: str, raw: bytes, received_at: datetime
    ) -> Receipt:
        return await self.enqueue_alert(device_id, alert, channel=channel, raw=raw, received_at=received_at)

    def enqueue_position(
        self,
        device_id: str,
        position: TelemetryIn,
        *,
        channel: str,
        raw: bytes,
        received_at: datetime,
        want_result: bool = True,
    ) -> asyncio.Future[None] | None:
        fut: asyncio.Future[None] | None = asyncio.get_running_loop().create_future() if want_result else None
        self._positions.append(_PositionJob(device_id, position, channel, raw, received_at, fut))
        if len(self._positions) >= self.settings.telemetry_batch_max:
            self._position_wake.set()
        elif len(self._positions) == 1:
            self._position_wake.set()
        return fut

    async def submit_position(
        self, device_id: str, position: TelemetryIn, *, channel: str, raw: bytes, received_at: datetime
    ) -> None:
        fut = self.enqueue_position(device_id, position, channel=channel, raw=raw, received_at=received_at)
        assert fut is not None
        await fut

    def dead_letter(
        self,
        *,
        channel: str,
        reason: str,
        payload: bytes,
        topic: str | None = None,
        device_id: str | None = None,
        detail: str | None = None,
    ) -> asyncio.Future[None]:
        """Queue a refused payload; the future is done when it is committed (await it to wait)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # bounded now, so a huge payload is not held while it waits for the writer
        kept = KeptPayload.of(payload, self.settings.dead_letter_keep_bytes)
        self._dead.append(_DeadJob(channel, reason, kept, topic, device_id, detail, fut))
        self._dead_wake.set()
        return fut

    async def device_by_imei(self, imei: str) -> str | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT id FROM device WHERE imei = $1 AND active", imei)

    # --- writers ------------------------------------------------------------------------------
    async def _writer(
        self,
        queue: deque[Any],
        wake: asyncio.Event,
        write: Callable[[list[Any]], Awaitable[None]],
        *,
        linger: bool = False,
    ) -> None:
        batch_max = self.settings.telemetry_batch_max if linger else self.settings.alert_batch_max
        delay = 0.05
        while True:
            if not queue:
                if self._closing:
                    return
                wake.clear()
                await wake.wait()
                continue
            if linger and len(queue) < batch_max and not self._closing:
                # telemetry: gather a batch for up to flush_ms, it is cheaper per row
                wake.clear()
                try:
                    async with asyncio.timeout(self.settings.telemetry_flush_ms / 1000):
                        await wake.wait()
                except TimeoutError:
                    pass
            batch = [queue.popleft() for _ in range(min(batch_max, len(queue)))]
            try:
                await self._write_isolating(write, batch)
                delay = 0.05
            except _CONNECTION_ERRORS as e:
                # The database is away: put the batch back, in order, and retry with backoff.
                # Nothing was acked, so nothing is lost if we are killed meanwhile.
                self.stats.db_errors += 1
                log.warning("database unavailable (%r); retrying %d item(s) in %.1fs", e, len(batch), delay)
                queue.extendleft(reversed(batch))
                if self._closing:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _write_isolating(self, write: Callable[[list[Any]], Awaitable[None]], batch: list[Any]) -> None:
        """Write a batch; if the database refuses its content, find the item(s) it refuses
        (one at a time) and dead-letter them, so one poison message never stops the pipeline."""
        try:
            await write(batch)
            return
        except _CONNECTION_ERRORS:
            raise
        except asyncpg.PostgresError as e:
            if len(batch) == 1:
                await self._refuse(batch[0], e)
                return
            log.warning("database refused a batch of %d (%r); writing its items one by one", len(batch), e)
        for item in batch:
            try:
                await write([item])
            except _CONNECTION_ERRORS:
                raise
            except asyncpg.PostgresError as e:
                await self._refuse(item, e)

    async def _refuse(self, job: Any, error: asyncpg.PostgresError) -> None:
        detail = f"{type(error).__name__}: {error}"[:1000]
        fut = job.future
        if isinstance(job, _DeadJob):
            log.error("cannot store a dead letter (%s); it is dropped: %r", detail, job.payload.prefix[:200])
        else:
            log.warning("database refused a payload from %s: %s", job.device_id, detail)
            async with self.pool.acquire() as conn:
                await self._insert_dead(
                    conn, [(job.channel, None, job.device_id, "rejected_by_database", detail, job.raw)]
                )
            self.stats.dead_letters += 1
            self.stats.dead_by_reason["rejected_by_database"] += 1
        if fut is not None and not fut.done():
            fut.set_exception(PayloadRefused(getattr(job, "device_id", None) or "?", "rejected_by_database"))

    async def _refresh_active(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._active_loaded < 5.0:
            return
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id FROM device WHERE active")
        self._active = {r["id"] for r in rows}
        self._active_loaded = time.monotonic()

    async def _write_alerts(self, batch: list[_AlertJob]) -> None:
        ids = sorted({job.device_id for job in batch})
        receipts: list[tuple[_AlertJob, Receipt | DeviceRefused]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            devices = {r["id"]: r for r in await conn.fetch("SELECT * FROM device WHERE id = ANY($1::text[])", ids)}
            accepted: list[_AlertJob] = []
            dead: list[tuple[Any, ...]] = []
            for job in batch:
                device = devices.get(job.device_id)
                reason = None if device is not None else "unknown_device"
                if device is not None and not device["active"]:
                    reason = "disabled_device"
                if reason:
                    dead.append((job.channel, None, job.device_id, reason, "alert refused", job.raw))
                    receipts.append((job, DeviceRefused(job.device_id, reason)))
                else:
                    accepted.append(job)
            if dead:
                await self._insert_dead(conn, dead)
            if accepted:
                for job, receipt in await self._insert_alerts(conn, accepted, devices):
                    receipts.append((job, receipt))
        # committed: now, and only now, tell the callers
        self.stats.alert_batches += 1
        for job, outcome in receipts:
            if isinstance(outcome, DeviceRefused):
                self.stats.refused += 1
                self.stats.dead_letters += 1
                self.stats.dead_by_reason[outcome.reason] += 1
                if not job.future.done():
                    job.future.set_exception(outcome)
            else:
                if outcome.duplicate:
                    self.stats.alerts_duplicate += 1
                else:
                    self.stats.alerts_committed += 1
                if not job.future.done():
                    job.future.set_result(outcome)

    async def _insert_alerts(
        self, conn: asyncpg.Connection, jobs: list[_AlertJob], devices: Mapping[str, Any]
    ) -> list[tuple[_AlertJob, Receipt]]:
        # one placement per (device, seq): a batch may hold the same alert twice
        first: dict[tuple[str, int], tuple[_AlertJob, Placement]] = {}
        for job in jobs:
            key = (job.device_id, job.alert.seq)
            if key not in first:
                first[key] = (job, await self.placer(conn, devices[job.device_id], job.alert, job.received_at))
        items = list(first.values())
        fixes = [_gps_fix(j, p) for j, p in items]
        # alert, incident, event and device in one statement: one round trip for the whole batch
        rows = await conn.fetch(
            _INSERT_ALERTS,
            [j.device_id for j, _ in items],
            [j.alert.seq for j, _ in items],
            [j.alert.type for j, _ in items],
            [j.alert.ts for j, _ in items],
            [j.received_at for j, _ in items],
            [j.channel for j, _ in items],
            [_json_payload(j.raw, j.alert) for j, _ in items],
            [j.alert.batt for j, _ in items],
            *[[p[name] for _, p in items] for name in PLACEMENT_COLUMNS],
            [f[0] for f in fixes],
            [f[1] for f in fixes],
            [f[2] for f in fixes],
            [f[3] for f in fixes],
        )
        created = {(r["device_id"], r["seq"]): r for r in rows}
        # redelivered alerts (earlier batches): answer with the incident they already have
        dup_keys = [k for k in first if k not in created]
        existing: dict[tuple[str, int], Any] = {}
        if dup_keys:
            for r in await conn.fetch(
                """SELECT a.device_id, a.seq, i.id, i.number
                     FROM unnest($1::text[], $2::bigint[]) AS k(device_id, seq)
                     JOIN alert a ON a.device_id = k.device_id AND a.seq = k.seq
                     JOIN incident i ON i.alert_id = a.id""",
                [k[0] for k in dup_keys],
                [k[1] for k in dup_keys],
            ):
                existing[(r["device_id"], r["seq"])] = r
        out: list[tuple[_AlertJob, Receipt]] = []
        for job in jobs:
            key = (job.device_id, job.alert.seq)
            fresh = key in created and first[key][0] is job
            row = created.get(key) or existing[key]
            out.append((job, Receipt(job.device_id, job.alert.seq, row["id"], row["number"], not fresh)))
        return out

    async def _write_positions(self, batch: list[_PositionJob]) -> None:
        await self._refresh_active()
        unknown = [j for j in batch if j.device_id not in self._active]
        if unknown:
            # the cache may be stale: ask the database before refusing anything
            await self._refresh_active(force=True)
            unknown = [j for j in batch if j.device_id not in self._active]
        known = [j for j in batch if j.device_id in self._active]
        reasons: dict[str, str] = {}
        async with self.pool.acquire() as conn, conn.transaction():
            # Telemetry does not wait for its WAL flush: it may be sampled by contract, and the
            # disk's flushes stay free for the alerts, which always commit synchronously.
            await conn.execute("SET LOCAL synchronous_commit TO off")
            if unknown:
                registered = await conn.fetch(
                    "SELECT id FROM device WHERE id = ANY($1::text[])", list({j.device_id for j in unknown})
                )
                reasons = {j.device_id: "unknown_device" for j in unknown}
                reasons.update({r["id"]: "disabled_device" for r in registered})
            if known:
                await conn.copy_records_to_table(
                    "telemetry",
                    columns=(
                        "device_id",
                        "seq",
                        "device_ts",
                        "received_at",
                        "battery",
                        "rssi",
                        "lat",
                        "lon",
                        "accuracy_m",
                        "mcc",
                        "mnc",
                        "lac",
                        "cid",
                    ),
                    records=[_telemetry_record(j) for j in known],
                )
                await _touch_devices_after_positions(conn, known)
            if unknown:
                await self._insert_dead(
                    conn,
                    [(j.channel, None, j.device_id, reasons[j.device_id], "position refused", j.raw) for j in unknown],
                )
        self.stats.telemetry_committed += len(known)
        self.stats.telemetry_batches += 1
        self.stats.dead_letters += len(unknown)
        for j in unknown:
            reason = reasons[j.device_id]
            self.stats.dead_by_reason[reason] += 1
        for j in known:
            if j.future is not None and not j.future.done():
                j.future.set_result(None)
        for j in unknown:
            if j.future is not None and not j.future.done():
                j.future.set_exception(DeviceRefused(j.device_id, reasons[j.device_id]))

    async def _insert_dead(self, conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (channel, topic, device_id, reason, detail, payload); the payload (bytes or
        already a KeptPayload) is stored bounded."""
        keep = self.settings.dead_letter_keep_bytes
        bounded = []
        for *head, payload in rows:
            kept = payload if isinstance(payload, KeptPayload) else KeptPayload.of(payload, keep)
            bounded.append((*head, kept.prefix, kept.length, kept.sha256))
        await _insert_dead(conn, bounded)

    async def _write_dead(self, batch: list[_DeadJob]) -> None:
        async with self.pool.acquire() as conn:
            await self._insert_dead(
                conn, [(j.channel, j.topic, j.device_id, j.reason, j.detail, j.payload) for j in batch]
            )
        for j in batch:
            self.stats.dead_letters += 1
            if j.reason == OVERSIZE or j.reason.endswith("_" + OVERSIZE):  # gt06_oversize too
                self.stats.oversized += 1
            self.stats.dead_by_reason[j.reason] += 1
            if j.future is not None and not j.future.done():
                j.future.set_result(None)


def _json_payload(raw: bytes, alert: AlertIn) -> str:
    """The payload as received when it is a JSON object (kept whole for the record), else the model."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return alert.model_dump_json()
    if b"\\u0000" in raw:
        # jsonb takes no NUL in a string: an ignored member carrying one must not cost the alert
        # (it would be refused by the database and the button would re-send it for ever)
        return _NUL_ESCAPE.sub(rb"\1\\ufffd", raw).decode()
    return raw.decode()


# a JSON \u0000 escape: preceded by an even number of backslashes (so not itself escaped text)
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _telemetry_record(job: _PositionJob) -> tuple[Any, ...]:
    p = job.position
    return (
        job.device_id,
        p.seq,
        p.ts,
        job.received_at,
        p.batt,
        p.rssi,
        p.loc.lat if p.loc else None,
        p.loc.lon if p.loc else None,
        p.loc.acc if p.loc else None,
        p.cell.mcc if p.cell else None,
        p.cell.mnc if p.cell else None,
        p.cell.lac if p.cell else None,
        p.cell.cid if p.cell else None,
    )


def _text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; a dead letter must be storable whatever it says
    return value.replace("\x00", "\\u0000") if isinstance(value, str) else value


async def _insert_dead(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    await conn.executemany(
        """INSERT INTO dead_letter (channel, topic, device_id, reason, detail, payload, payload_length, payload_sha256)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [tuple(_text(v) for v in row) for row in rows],
    )


def _gps_fix(job: _AlertJob, placement: Placement) -> tuple[Any, Any, Any, Any]:
    """(lat, lon, accuracy, fix time) when the alert's own GPS fix placed it: the device's new last
    known location; Nones otherwise."""
    loc = job.alert.loc
    if loc is None or placement["location_source"] != "gps":
        return (None, None, None, None)
    return (loc.lat, loc.lon, loc.acc, loc.fix_ts or job.received_at)


# only the constant column names are interpolated
_INSERT_ALERTS = f"""
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                         $7::text[], $8::smallint[],
                         $9::float8[], $10::float8[], $11::real[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::text[], $17::real[], $18::bool[], $19::bigint[], $20::bigint[],
                         $21::float8[], $22::float8[], $23::real[], $24::timestamptz[])
        AS u(device_id, seq, type, device_ts, received_at, channel, payload, batt,
             {", ".join(PLACEMENT_COLUMNS)},
             fix_lat, fix_lon, fix_acc, fix_at)
), a AS (
    -- the idempotency key of the wire contract: a redelivered alert is absorbed here
    INSERT INTO alert (device_id, seq, type, device_ts, received_at, channel, payload)
    SELECT device_id, seq, type, device_ts, received_at, channel, payload::jsonb FROM u
    ON CONFLICT (device_id, seq) DO NOTHING
    RETURNING id, device_id, seq
), i AS (
    INSERT INTO incident (alert_id, device_id, type, battery, {", ".join(PLACEMENT_COLUMNS)})
    SELECT a.id, u.device_id, u.type, u.batt, {", ".join("u." + c for c in PLACEMENT_COLUMNS)}
      FROM a JOIN u ON u.device_id = a.device_id AND u.seq = a.seq
    RETURNING id, number, alert_id, device_id, type
), e AS (
    INSERT INTO event (kind, incident_id, data)
    SELECT 'incident.created', i.id,
           jsonb_build_object('incident_id', i.id::text, 'number', i.number, 'type', i.type, 'device_id', i.device_id)
      FROM i
), d AS (
    UPDATE device dv SET
        last_seen_at = GREATEST(dv.last_seen_at, x.received_at),
        last_seq = GREATEST(dv.last_seq, x.seq),
        battery = COALESCE(x.batt, dv.battery),
        last_lat = CASE WHEN x.newer_fix THEN x.fix_lat ELSE dv.last_lat END,
        last_lon = CASE WHEN x.newer_fix THEN x.fix_lon ELSE dv.last_lon END,
        last_acc_m = CASE WHEN x.newer_fix THEN x.fix_acc ELSE dv.last_acc_m END,
        last_fix_at = CASE WHEN x.newer_fix THEN x.fix_at ELSE dv.last_fix_at END
      FROM (SELECT DISTINCT ON (u.device_id) u.*,
                   u.fix_at IS NOT NULL AND (cur.last_fix_at IS NULL OR cur.last_fix_at < u.fix_at) AS newer_fix
              FROM u JOIN device cur ON cur.id = u.device_id
             ORDER BY u.device_id, u.received_at DESC, u.seq DESC) x
     WHERE dv.id = x.device_id
)
SELECT i.id, i.number, a.device_id, a.seq FROM i JOIN a ON a.id = i.alert_id
"""  # noqa: S608


async def _touch_devices_after_positions(conn: asyncpg.Connection, jobs: list[_PositionJob]) -> None:
    latest: dict[str, _PositionJob] = {}
    for j in jobs:
        latest[j.device_id] = j  # arrival order: the last one wins
    items = list(latest.values())
    await conn.execute(
        """UPDATE device d SET
               last_seen_at = GREATEST(d.last_seen_at, u.at),
               battery = COALESCE(u.batt, d.battery),
               rssi = COALESCE(u.rssi, d.rssi),
               last_lat = CASE WHEN u.newer THEN u.lat ELSE d.last_lat END,
               last_lon = CASE WHEN u.newer THEN u.lon ELSE d.last_lon END,
               last_acc_m = CASE WHEN u.newer THEN u.acc ELSE d.last_acc_m END,
               last_fix_at = CASE WHEN u.newer THEN u.fix_at ELSE d.last_fix_at END
             FROM (SELECT x.*, x.lat IS NOT NULL AND (dd.last_fix_at IS NULL OR dd.last_fix_at <= x.fix_at) AS newer
                     FROM unnest($1::text[], $2::timestamptz[], $3::smallint[], $4::smallint[], $5::float8[],
                                 $6::float8[], $7::real[], $8::timestamptz[])
                          AS x(id, at, batt, rssi, lat, lon, acc, fix_at)
                     JOIN device dd ON dd.id = x.id) u
            WHERE d.id = u.id""",
        [j.device_id for j in items],
        [j.received_at for j in items],
        [j.position.batt for j in items],
        [j.position.rssi for j in items],
        [j.position.loc.lat if j.position.loc else None for j in items],
        [j.position.loc.lon if j.position.loc else None for j in items],
        [j.position.loc.acc if j.position.loc else None for j in items],
        [(j.position.loc.fix_ts or j.position.ts or j.received_at) if j.position.loc else None for j in items],
    )


async def set_device_status(conn: asyncpg.Connection, device_id: str, online: bool, at: datetime) -> str | None:
    """Record an online/offline status (Last Will); the refusal reason when the device may not."""
    status = await conn.execute(
        """UPDATE device SET online = $2, status_at = $3,
                  last_seen_at = CASE WHEN $2 THEN GREATEST(last_seen_at, $3) ELSE last_seen_at END
            WHERE id = $1 AND active AND (status_at IS NULL OR status_at <= $3)""",
        device_id,
        online,
        at,
    )
    if status != "UPDATE 0":
        return None
    active = await conn.fetchval("SELECT active FROM device WHERE id = $1", device_id)
    return None if active else "unknown_device" if active is None else "disabled_device"
