"""Traffic through a fault, and the check afterwards.

The driver runs simulated buttons (alerts with outboxes, QoS 1 telemetry), an operator who
acknowledges incidents through the HTTP API, and complaint staff who dispose complaints through
the complaint desk. Clients retry on network errors and 5xx answers, as a console would; an
action whose first attempts may have committed is then refused by the API with 409 (the state
machine does not allow the same move twice), which the check counts as a clean refusal as long as
the database holds the action exactly once.

The check reads the database: one incident per (device, seq), every outbox empty and every receipt
naming that incident, one audit row per operator action, one history row per complaint change,
no escalation fired twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from complaints import store as complaint_store
from complaints.model import Actor as ComplaintActor
from firmware_sim.device import SimDevice
from tests.faults.rig import Rig

RETRY_FOR_S = 180.0


@dataclass
class Action:
    kind: str  # 'incident.acknowledged' | 'incident.note' | 'complaint.dispose'
    object_id: str
    attempts: int = 0
    status: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def refused_retry(self) -> bool:
        return self.status == 409 and self.attempts > 1


class ApiClient:
    """HTTP with retries on network errors and 5xx, bounded by RETRY_FOR_S. Reads may take
    another way than changes (the fault rows aim at the changes)."""

    def __init__(self, base: str, token: str, *, read_base: str | None = None) -> None:
        self.base = base
        self.read_base = read_base or base
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.http = aiohttp.ClientSession()
        self.retries = 0

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str) -> Any:
        async with self.http.get(
            self.read_base + path, headers=self.headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as r:
            r.raise_for_status()
            return await r.json()

    async def act(
        self, action: Action, method: str, path: str, *, extra_headers: dict[str, str] | None = None, **kw: Any
    ) -> None:
        deadline = time.monotonic() + RETRY_FOR_S
        headers = self.headers | (extra_headers or {})
        while True:
            action.attempts += 1
            try:
                async with self.http.request(
                    method,
                    self.base + path,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=15),
                    allow_redirects=False,
                    **kw,
                ) as r:
                    await r.read()
                    if r.status < 500:
                        action.status = r.status
                        return
                    action.errors.append(f"HTTP {r.status}")
            except (aiohttp.ClientError, TimeoutError) as e:
                action.errors.append(type(e).__name__)
            if time.monotonic() > deadline:
                return
            self.retries += 1
            await asyncio.sleep(0.5)


@dataclass
class Driver:
    rig: Rig
    devices: list[SimDevice]
    complaint_ids: list[int]
    # the operator acknowledges incidents of these devices (the rest stay 'new' and escalate)
    ack_device: Callable[[str], bool] = lambda device_id: True
    telemetry_every_s: float = 0.5
    complaint_every_s: float = 0.3
    # the operator adds a note to each incident instead of acknowledging it
    with_notes: bool = False
    actions: list[Action] = field(default_factory=list)
    _acted: set[str] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def presses(self, duration_s: float, per_device: int) -> None:
        """``per_device`` presses on every button, spread over ``duration_s``."""
        rng = random.Random(7)
        slots = [(rng.uniform(0, duration_s), dev) for dev in self.devices for _ in range(per_device)]
        slots.sort(key=lambda s: s[0])
        start = time.monotonic()
        for at, dev in slots:
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            dev.press()

    def start_background(self) -> None:
        """Telemetry, the operator and the complaint desk, until ``finish``."""
        self._tasks = [
            asyncio.create_task(self._telemetry(), name="telemetry"),
            asyncio.create_task(self._operator(), name="operator"),
            asyncio.create_task(self._complaint_desk(), name="complaint-desk"),
        ]

    async def _telemetry(self) -> None:
        while not self._stop.is_set():
            for dev in self.devices:
                dev.send_telemetry()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.telemetry_every_s):
                    await self._stop.wait()

    async def _operator(self) -> None:
        client = ApiClient(self.rig.client_url, self.rig.tokens["cc"], read_base=self.rig.web_url)
        try:
            while True:
                try:
                    listing = await client.get("/api/v1/incidents?state=open&limit=1000")
                except (aiohttp.ClientError, TimeoutError):
                    listing = None  # the web role or its database is away: look again soon
                if listing is not None:
                    todo = [
                        i
                        for i in listing["incidents"]
                        if i["state"] == "new" and i["id"] not in self._acted and self.ack_device(i["device_id"])
                    ]
                    for inc in todo:
                        self._acted.add(inc["id"])
                        if self.with_notes:
                            note = Action("incident.note", inc["id"])
                            self.actions.append(note)
                            await client.act(
                                note,
                                "POST",
                                f"/api/v1/incidents/{inc['id']}/notes",
                                json={"body": "unit 2 menuju lokasi"},
                                # the console's key: a retry after a lost reply is the same note
                                extra_headers={"Idempotency-Key": f"note-{inc['id']}"},
                            )
                            continue
                        action = Action("incident.acknowledged", inc["id"])
                        self.actions.append(action)
                        await client.act(
                            action,
                            "POST",
                            f"/api/v1/incidents/{inc['id']}/transition",
                            json={"to": "acknowledged", "note": "diterima, tim meluncur"},
                        )
                    if not todo and self._stop.is_set():
                        return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await self._stop.wait()
        finally:
            await client.close()

    async def _complaint_desk(self) -> None:
        client = ApiClient(self.rig.client_url, self.rig.tokens["complaints"])
        try:
            for cid in self.complaint_ids:
                action = Action("complaint.dispose", str(cid))
                self.actions.append(action)
                await client.act(
                    action,
                    "POST",
                    f"/pengaduan/{cid}/aksi",
                    data={"action": "dispose", "opd_id": str(self.rig.opd_id), "note": "mohon ditindaklanjuti"},
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.complaint_every_s):
                        await self._stop.wait()
        finally:
            await client.close()

    async def finish(self, timeout: float = 240) -> None:
        """Stop the background traffic once the operator has caught up; wait for the clients."""
        self._stop.set()
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._tasks)

    async def cancel(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def make_complaints(rig: Rig, n: int) -> list[int]:
    async with rig.stack.pool.acquire() as conn:
        clock = await complaint_store.load_clock(conn)
        ids = []
        for i in range(n):
            row = await complaint_store.create(
                conn,
                complaint_store.NewComplaint(description=f"Lampu jalan padam di gang {i}", title="Lampu jalan"),
                ComplaintActor.citizen(),
                clock=clock,
            )
            ids.append(row["id"])
    return ids


def outstanding(devices: list[SimDevice]) -> int:
    return sum(len(d.outbox) for d in devices)


@dataclass
class Outcome:
    alerts_sent: int = 0
    incidents: int = 0
    alerts_lost: int = 0
    alerts_duplicated: int = 0
    receipts_missing: int = 0
    receipts_wrong: int = 0
    telemetry_sent: int = 0
    telemetry_stored: int = 0
    actions: int = 0
    actions_lost: int = 0
    actions_duplicated: int = 0
    actions_failed: int = 0
    retries_refused_cleanly: int = 0
    escalations: int = 0
    escalations_duplicated: int = 0
    timers_overdue: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.alerts_lost + self.receipts_missing + self.actions_lost + self.timers_overdue

    @property
    def duplicated(self) -> int:
        return self.alerts_duplicated + self.actions_duplicated + self.escalations_duplicated


async def check(dsn: str, devices: list[SimDevice], actions: list[Action]) -> Outcome:
    """What the database holds, against what was sent."""
    out = Outcome()
    sent = {(d.device_id, s) for d in devices for s in range(1, d.seq + 1)}
    out.alerts_sent = len(sent)
    out.telemetry_sent = sum(d.counters.telemetry_sent for d in devices)
    ids = [d.device_id for d in devices]
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT a.device_id, a.seq, count(*) AS alerts, count(i.id) AS incidents,
                      min(i.id::text) AS incident_id
                 FROM alert a LEFT JOIN incident i ON i.alert_id = a.id
                WHERE a.device_id = ANY($1::text[])
                GROUP BY a.device_id, a.seq""",
            ids,
        )
        stored = {(r["device_id"], r["seq"]): r for r in rows}
        out.incidents = sum(r["incidents"] for r in rows)
        out.alerts_lost = sum(1 for k in sent if k not in stored or stored[k]["incidents"] == 0)
        out.alerts_duplicated = sum(max(0, r["incidents"] - 1) + max(0, r["alerts"] - 1) for r in rows)
        unexpected = set(stored) - sent
        if unexpected:
            out.details.append(f"alerts nobody sent: {sorted(unexpected)[:5]}")
        for dev in devices:
            # an alert stored but never receipted (a lost alert is counted once, above)
            out.receipts_missing += sum(1 for seq in dev.outbox if (dev.device_id, seq) in stored)
            for seq, incident in dev.receipts.items():
                row = stored.get((dev.device_id, seq))
                if row is None or row["incident_id"] != incident:
                    out.receipts_wrong += 1
        out.telemetry_stored = int(
            await conn.fetchval("SELECT count(*) FROM telemetry WHERE device_id = ANY($1::text[])", ids)
        )

        out.actions = len(actions)
        for action in actions:
            if action.kind.startswith("incident."):
                n = await conn.fetchval(
                    """SELECT count(*) FROM audit_log
                        WHERE action = $1 AND object_type = 'incident' AND object_id = $2""",
                    action.kind,
                    action.object_id,
                )
            else:
                n = await conn.fetchval(
                    "SELECT count(*) FROM complaint_history WHERE complaint_id = $1 AND action = 'dispose'",
                    int(action.object_id),
                )
            if action.status not in (200, 201, 303) and not action.refused_retry:
                out.actions_failed += 1
                out.details.append(f"{action.kind} {action.object_id}: {action.status} after {action.errors}")
            if action.refused_retry:
                out.retries_refused_cleanly += 1
            if n == 0:
                out.actions_lost += 1
            out.actions_duplicated += max(0, n - 1)

        esc = await conn.fetch(
            """SELECT object_id, after->>'escalation_level' AS level, count(*) AS n FROM audit_log
                WHERE action = 'incident.escalate' GROUP BY 1, 2"""
        )
        out.escalations = sum(r["n"] for r in esc)
        out.escalations_duplicated = sum(r["n"] - 1 for r in esc)
        # a timer due well before now that never fired is lost work
        out.timers_overdue = int(
            await conn.fetchval(
                """SELECT count(*) FROM dispatch_timer
                    WHERE fired_at IS NULL AND due_at < clock_timestamp() - interval '10 seconds'"""
            )
        )
    finally:
        await conn.close()
    return out
