"""The one ingest pipeline every path ends in (MQTT, app API, OsmAnd, GT06).

Alerts are committed in small batches, one transaction per batch: device check, alert row
(``(device, seq)`` UNIQUE absorbs redelivery), placement, incident row, event; the caller's future
resolves only after COMMIT, so the MQTT path acks the broker only then. Refused input is
dead-lettered with its reason. Telemetry and positions take a separate, batched path (COPY), so a
telemetry flood never sits in front of an alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from core import events
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


_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    TimeoutError,
)


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


@dataclass
class _DeadJob:
    channel: str
    reason: str
    payload: bytes
    topic: str | None
    device_id: str | None
    detail: str | None
    future: asyncio.Future[None] | None


@dataclass
class PipelineStats:
    alerts_committed: int = 0
    alerts_duplicate: int = 0
    alert_batches: int = 0
    telemetry_committed: int = 0
    telemetry_batches: int = 0
    dead_letters: int = 0
    refused: int = 0
    db_errors: int = 0
    dead_by_reason: dict[str, int] = field(default_factory=dict)


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

    def enqueue_dead_letter(
        self,
        *,
        channel: str,
        reason: str,
        payload: bytes,
        topic: str | None = None,
        device_id: str | None = None,
        detail: str | None = None,
    ) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dead.append(_DeadJob(channel, reason, payload, topic, device_id, detail, fut))
        self._dead_wake.set()
        return fut

    async def dead_letter(
        self,
        *,
        channel: str,
        reason: str,
        payload: bytes,
        topic: str | None = None,
        device_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self.enqueue_dead_letter(
            channel=channel, reason=reason, payload=payload, topic=topic, device_id=device_id, detail=detail
        )

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
            log.error("cannot store a dead letter (%s); it is dropped: %r", detail, job.payload[:200])
        else:
            log.warning("database refused a payload from %s: %s", job.device_id, detail)
            async with self.pool.acquire() as conn:
                await _insert_dead(conn, [(job.channel, None, job.device_id, "rejected_by_database", detail, job.raw)])
            self.stats.dead_letters += 1
            self.stats.dead_by_reason["rejected_by_database"] = (
                self.stats.dead_by_reason.get("rejected_by_database", 0) + 1
            )
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
                await _insert_dead(conn, dead)
            if accepted:
                for job, receipt in await self._insert_alerts(conn, accepted, devices):
                    receipts.append((job, receipt))
        # committed: now, and only now, tell the callers
        self.stats.alert_batches += 1
        for job, outcome in receipts:
            if isinstance(outcome, DeviceRefused):
                self.stats.refused += 1
                self.stats.dead_letters += 1
                self.stats.dead_by_reason[outcome.reason] = self.stats.dead_by_reason.get(outcome.reason, 0) + 1
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
        rows = await conn.fetch(
            # the payload goes as JSON text and is cast here, whatever codecs the connection has
            """INSERT INTO alert (device_id, seq, type, device_ts, received_at, channel, payload)
               SELECT d, s, t, ts, r, c, p::jsonb
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[],
                             $5::timestamptz[], $6::text[], $7::text[]) AS u(d, s, t, ts, r, c, p)
               ON CONFLICT (device_id, seq) DO NOTHING
               RETURNING id, device_id, seq""",
            [j.device_id for j in jobs],
            [j.alert.seq for j in jobs],
            [j.alert.type for j in jobs],
            [j.alert.ts for j in jobs],
            [j.received_at for j in jobs],
            [j.channel for j in jobs],
            [_json_payload(j.raw, j.alert) for j in jobs],
        )
        new_alert = {(r["device_id"], r["seq"]): r["id"] for r in rows}
        out: list[tuple[_AlertJob, Receipt]] = []
        fresh: list[tuple[_AlertJob, int, Placement]] = []
        seen: set[tuple[str, int]] = set()
        for job in jobs:
            key = (job.device_id, job.alert.seq)
            if key in new_alert and key not in seen:
                seen.add(key)
                placement = await self.placer(conn, devices[job.device_id], job.alert, job.received_at)
                fresh.append((job, new_alert[key], placement))
        if fresh:
            cols = [p for _, _, p in fresh]
            inserted = await conn.fetch(
                f"""INSERT INTO incident (alert_id, device_id, type, battery, {", ".join(PLACEMENT_COLUMNS)})
                    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[],
                        $5::float8[], $6::float8[], $7::real[], $8::text[], $9::text[], $10::text[],
                        $11::text[], $12::text[], $13::real[], $14::bool[], $15::bigint[], $16::bigint[])
                    RETURNING id, number, alert_id""",  # noqa: S608 - column names are constants
                [a for _, a, _ in fresh],
                [j.device_id for j, _, _ in fresh],
                [j.alert.type for j, _, _ in fresh],
                [j.alert.batt for j, _, _ in fresh],
                *[[c[name] for c in cols] for name in PLACEMENT_COLUMNS],
            )
            by_alert = {r["alert_id"]: r for r in inserted}
            await conn.execute(
                """INSERT INTO event (kind, incident_id, data)
                   SELECT 'incident.created', i, jsonb_build_object(
                            'incident_id', i::text, 'number', n, 'type', t, 'device_id', d)
                     FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS u(i, n, t, d)""",
                [by_alert[a]["id"] for _, a, _ in fresh],
                [by_alert[a]["number"] for _, a, _ in fresh],
                [j.alert.type for j, _, _ in fresh],
                [j.device_id for j, _, _ in fresh],
            )
            await conn.execute("SELECT pg_notify($1, '')", events.CHANNEL)
            await _touch_devices_after_alerts(conn, [(j, p) for j, _, p in fresh])
        # duplicates (earlier batches, or twice in this one): answer with the existing incident
        dup_keys = [(j.device_id, j.alert.seq) for j in jobs if (j.device_id, j.alert.seq) not in new_alert]
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
        fresh_ids = {a: by_alert[a] for _, a, _ in fresh} if fresh else {}
        first_seen: set[tuple[str, int]] = set()
        for job in jobs:
            key = (job.device_id, job.alert.seq)
            if key in new_alert and key not in first_seen:
                first_seen.add(key)
                row = fresh_ids[new_alert[key]]
                out.append((job, Receipt(job.device_id, job.alert.seq, row["id"], row["number"], False)))
            elif key in new_alert:
                row = fresh_ids[new_alert[key]]
                out.append((job, Receipt(job.device_id, job.alert.seq, row["id"], row["number"], True)))
            else:
                row = existing[key]
                out.append((job, Receipt(job.device_id, job.alert.seq, row["id"], row["number"], True)))
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
                await _insert_dead(
                    conn,
                    [(j.channel, None, j.device_id, reasons[j.device_id], "position refused", j.raw) for j in unknown],
                )
        self.stats.telemetry_committed += len(known)
        self.stats.telemetry_batches += 1
        self.stats.dead_letters += len(unknown)
        for j in unknown:
            reason = reasons[j.device_id]
            self.stats.dead_by_reason[reason] = self.stats.dead_by_reason.get(reason, 0) + 1
        for j in known:
            if j.future is not None and not j.future.done():
                j.future.set_result(None)
        for j in unknown:
            if j.future is not None and not j.future.done():
                j.future.set_exception(DeviceRefused(j.device_id, reasons[j.device_id]))

    async def _write_dead(self, batch: list[_DeadJob]) -> None:
        async with self.pool.acquire() as conn:
            await _insert_dead(conn, [(j.channel, j.topic, j.device_id, j.reason, j.detail, j.payload) for j in batch])
        for j in batch:
            self.stats.dead_letters += 1
            self.stats.dead_by_reason[j.reason] = self.stats.dead_by_reason.get(j.reason, 0) + 1
            if j.future is not None and not j.future.done():
                j.future.set_result(None)


def _json_payload(raw: bytes, alert: AlertIn) -> str:
    """The payload as received when it is a JSON object (kept whole for the record), else the model."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    return (raw if isinstance(data, dict) else alert.model_dump_json().encode()).decode()


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
        """INSERT INTO dead_letter (channel, topic, device_id, reason, detail, payload)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [tuple(_text(v) for v in row) for row in rows],
    )


async def _touch_devices_after_alerts(conn: asyncpg.Connection, items: list[tuple[_AlertJob, Placement]]) -> None:
    await conn.execute(
        """UPDATE device d SET
               last_seen_at = GREATEST(d.last_seen_at, u.at),
               last_seq = GREATEST(d.last_seq, u.seq),
               battery = COALESCE(u.batt, d.battery)
             FROM (SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[],
                                                          $4::smallint[]) AS x(id, at, seq, batt)
                    ORDER BY id, at DESC) u
            WHERE d.id = u.id""",
        [j.device_id for j, _ in items],
        [j.received_at for j, _ in items],
        [j.alert.seq for j, _ in items],
        [j.alert.batt for j, _ in items],
    )
    # A fresh GPS fix in an alert is also the device's last known location.
    gps = [
        (j.device_id, j.alert.loc, j.received_at)
        for j, p in items
        if j.alert.loc is not None and p["location_source"] == "gps"
    ]
    if gps:
        await conn.execute(
            """UPDATE device d SET last_lat = u.lat, last_lon = u.lon, last_acc_m = u.acc, last_fix_at = u.at
                 FROM unnest($1::text[], $2::float8[], $3::float8[], $4::real[], $5::timestamptz[])
                      AS u(id, lat, lon, acc, at)
                WHERE d.id = u.id AND (d.last_fix_at IS NULL OR d.last_fix_at < u.at)""",
            [d for d, _, _ in gps],
            [loc.lat for _, loc, _ in gps],
            [loc.lon for _, loc, _ in gps],
            [loc.acc for _, loc, _ in gps],
            [loc.fix_ts or at for _, loc, at in gps],
        )


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
