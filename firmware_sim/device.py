"""A simulated panic button: a real MQTT client with its own credentials, Last Will, heartbeat,
GPS with jitter and lost fixes, and an outbox that re-sends an alert (same ``seq``) until the
gateway's ``received`` receipt arrives. ``seq`` and the outbox live in a state file, as they would
in the button's flash, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import paho.mqtt.client as mqtt

from core.counters import Counters
from core.mqtt import AsyncMqtt, new_client

log = logging.getLogger(__name__)


class DeviceCounters(Counters, names="alerts_sent resends receipts telemetry_sent downs"):
    """What one simulated device has sent and received."""


@dataclass
class OutboxEntry:
    seq: int
    payload: dict[str, Any]
    first_sent: float
    next_send: float
    attempts: int = 0


@dataclass
class SimConfig:
    host: str
    port: int
    topic_root: str = "siaga/v1"
    heartbeat_s: float = 60.0
    resend_base_s: float = 2.0
    resend_max_s: float = 30.0
    gps_loss: float = 0.05  # share of readings without a fix
    telemetry_qos: int = 0
    keepalive: int = 60


class DeviceDriver(Protocol):
    """What runs a device instead of its own tasks (firmware_sim.fleet's shared scheduler)."""

    def outbox_due(self, device: SimDevice, when: float) -> None:
        """Call ``device.send_due()`` at ``when`` (time.monotonic)."""

    def connection_lost(self, device: SimDevice) -> None:
        """The connection dropped: reconnect with backoff."""


@dataclass
class SimDevice:
    device_id: str
    secret: str
    config: SimConfig
    home: tuple[float, float]
    state_dir: Path | None = None
    rng: random.Random = field(default_factory=random.Random)
    counters: DeviceCounters = field(default_factory=DeviceCounters)
    # None: run() keeps the device alive with tasks of its own; else a shared scheduler does
    driver: DeviceDriver | None = None

    def __post_init__(self) -> None:
        self.seq = 0
        self.outbox: dict[int, OutboxEntry] = {}
        self.receipts: dict[int, str] = {}  # seq -> incident id
        self.states: dict[int, list[str]] = {}  # seq -> every state the gateway told us
        self.receipt_latency: list[float] = []
        self.last_receipt_at = 0.0  # time.time() of the latest receipt
        self._receipt_waiters: dict[int, asyncio.Future[str]] = {}
        self._load_state()
        self.root = self.config.topic_root.rstrip("/")
        self.down_topic = f"{self.root}/devices/{self.device_id}/down"
        self.client = new_client(self.device_id, username=self.device_id, password=self.secret, clean_session=False)
        self.client.will_set(f"{self.root}/devices/{self.device_id}/status", b"offline", qos=1, retain=True)
        self.client.on_message = self._on_message
        self.conn = AsyncMqtt(
            self.client,
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive,
            name=f"sim-{self.device_id}",
            on_connected=self._on_connected,
            on_lost=self._on_lost,
            backoff_max_s=5.0,
        )
        self._wake = asyncio.Event()

    # --- persistent state ---------------------------------------------------------------------
    @property
    def _state_file(self) -> Path | None:
        return self.state_dir / f"{self.device_id}.json" if self.state_dir else None

    def _load_state(self) -> None:
        path = self._state_file
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text())
        self.seq = int(data["seq"])
        now = time.monotonic()
        for item in data.get("outbox", []):
            self.outbox[item["seq"]] = OutboxEntry(item["seq"], item["payload"], now, now)

    def _save_state(self) -> None:
        path = self._state_file
        if path is None:
            return
        data = {"seq": self.seq, "outbox": [{"seq": e.seq, "payload": e.payload} for e in self.outbox.values()]}
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(data))
        os.replace(tmp, path)

    # --- sensors --------------------------------------------------------------------------------
    def reading(self) -> dict[str, Any] | None:
        """A GPS reading around home: ~5-30 m of jitter, sometimes no fix at all."""
        if self.rng.random() < self.config.gps_loss:
            return None
        acc = self.rng.uniform(4, 30)
        bearing = self.rng.uniform(0, 2 * math.pi)
        dist = abs(self.rng.gauss(0, acc / 2))
        lat = self.home[0] + (dist * math.cos(bearing)) / 111_320
        lon = self.home[1] + (dist * math.sin(bearing)) / (111_320 * math.cos(math.radians(self.home[0])))
        now = int(time.time())
        return {
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "acc": round(acc, 1),
            "fix_ts": now - self.rng.randint(0, 5),
        }

    # --- actions --------------------------------------------------------------------------------
    def press(self, alert_type: str = "panic") -> int:
        """The button is pressed: a new alert goes into the outbox and out to the broker."""
        self.seq += 1
        payload: dict[str, Any] = {
            "seq": self.seq,
            "ts": int(time.time()),
            "type": alert_type,
            "batt": self.rng.randint(40, 100),
        }
        loc = self.reading()
        if loc:
            payload["loc"] = loc
        now = time.monotonic()
        self.outbox[self.seq] = OutboxEntry(self.seq, payload, now, now)
        self._save_state()
        self._send_due()
        return self.seq

    async def wait_receipt(self, seq: int) -> str:
        """The incident id once the receipt for ``seq`` arrived (bound it with asyncio.timeout)."""
        if seq in self.receipts:
            return self.receipts[seq]
        fut = self._receipt_waiters.setdefault(seq, asyncio.get_running_loop().create_future())
        return await asyncio.shield(fut)

    def send_due(self) -> None:
        """(Re-)send every outbox entry whose time has come."""
        self._send_due()

    def _send_due(self) -> None:
        if not self.conn.connected:
            return
        now = time.monotonic()
        for entry in self.outbox.values():
            if entry.next_send <= now:
                self.client.publish(f"{self.root}/devices/{self.device_id}/alert", orjson.dumps(entry.payload), qos=1)
                if entry.attempts:
                    self.counters.resends += 1
                else:
                    self.counters.alerts_sent += 1
                entry.attempts += 1
                backoff = min(self.config.resend_base_s * 2 ** (entry.attempts - 1), self.config.resend_max_s)
                entry.next_send = now + backoff * (0.8 + 0.4 * self.rng.random())
        if self.driver is not None and self.outbox:
            self.driver.outbox_due(self, min(e.next_send for e in self.outbox.values()))

    def send_telemetry(self) -> None:
        if not self.conn.connected:
            return
        body: dict[str, Any] = {
            "seq": self.seq,
            "ts": int(time.time()),
            "batt": self.rng.randint(40, 100),
            "rssi": self.rng.randint(-110, -60),
        }
        loc = self.reading()
        if loc:
            body["loc"] = loc
        self.client.publish(
            f"{self.root}/devices/{self.device_id}/telemetry", orjson.dumps(body), qos=self.config.telemetry_qos
        )
        self.counters.telemetry_sent += 1

    # --- MQTT -----------------------------------------------------------------------------------
    def publish_offline(self) -> None:
        """Say ``offline`` on the retained status topic before a clean disconnect: the broker sends
        the Last Will only when a connection is lost, so without this a stopped button would stay
        ``online`` for every later subscriber. Queued ahead of the DISCONNECT, so it goes first."""
        if self.conn.connected:
            self.client.publish(f"{self.root}/devices/{self.device_id}/status", b"offline", qos=1, retain=True)

    def _on_connected(self) -> None:
        self.client.subscribe(self.down_topic, qos=1)
        self.client.publish(f"{self.root}/devices/{self.device_id}/status", b"online", qos=1, retain=True)
        for entry in self.outbox.values():  # a reconnect is a good moment to try again
            entry.next_send = 0.0
        self._wake.set()
        if self.driver is not None:
            self._send_due()

    def _on_lost(self) -> None:
        if self.driver is not None:
            self.driver.connection_lost(self)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.down_topic:
            log.debug("%s: ignoring a message on %s", self.device_id, msg.topic)
            return
        try:
            down = orjson.loads(msg.payload)
            seq = int(down["seq"])
            state = str(down["state"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("%s: unreadable down message %r", self.device_id, msg.payload[:100])
            return
        self.counters.downs += 1
        self.states.setdefault(seq, []).append(state)
        if state == "received" and seq in self.outbox:
            entry = self.outbox.pop(seq)
            self.receipts[seq] = str(down.get("incident_id"))
            self.receipt_latency.append(time.monotonic() - entry.first_sent)
            self.last_receipt_at = time.time()
            self.counters.receipts += 1
            self._save_state()
        elif state == "received":
            self.receipts.setdefault(seq, str(down.get("incident_id")))
        waiter = self._receipt_waiters.pop(seq, None) if state == "received" else None
        if waiter and not waiter.done():
            waiter.set_result(self.receipts[seq])

    async def run(self) -> None:
        """Connect (with reconnects), heartbeat and re-send the outbox until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.conn.run(), name=f"{self.device_id}-mqtt")
            tg.create_task(self._outbox_loop(), name=f"{self.device_id}-outbox")
            if self.config.heartbeat_s > 0:
                tg.create_task(self._heartbeat_loop(), name=f"{self.device_id}-heartbeat")
            try:
                await asyncio.Event().wait()  # until cancelled
            finally:
                # before the group cancels the connection, whose teardown sends the DISCONNECT
                if self.conn.graceful:
                    self.publish_offline()

    async def _outbox_loop(self) -> None:
        while True:
            self._wake.clear()
            self._send_due()
            try:
                async with asyncio.timeout(0.25):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _heartbeat_loop(self) -> None:
        # spread the fleet's heartbeats over the interval instead of all at once
        await asyncio.sleep(self.rng.uniform(0, self.config.heartbeat_s))
        while True:
            self.send_telemetry()
            await asyncio.sleep(self.config.heartbeat_s)
