"""Many simulated buttons on one event loop, with ramp-up, random presses and a live progress line.

Ten thousand buttons fit in one process because no device owns a task: one shared scheduler (the
loop's timer heap, one callback per device and event) sends heartbeats spread over the interval,
calls paho's keep-alive bookkeeping, re-sends outboxes when due and reconnects with backoff. The
blocking TCP connect of paho runs in a small bounded thread pool, paced by the ramp rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from paho.mqtt.enums import MQTTErrorCode
from shapely.geometry import Point, shape

from firmware_sim.device import SimConfig, SimDevice

log = logging.getLogger(__name__)


def homes_in_wonosobo(n: int, rng: random.Random) -> list[tuple[float, float]]:
    """``n`` install points (lat, lon) inside random Wonosobo desa, from the shipped boundaries."""
    text = resources.files("core.data.wonosobo").joinpath("desa.geojson").read_text(encoding="utf-8")
    polygons = [shape(f["geometry"]) for f in json.loads(text)["features"]]
    out: list[tuple[float, float]] = []
    while len(out) < n:
        poly = rng.choice(polygons)
        minx, miny, maxx, maxy = poly.bounds
        for _ in range(50):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if poly.contains(Point(x, y)):
                out.append((round(y, 6), round(x, 6)))
                break
    return out


@dataclass(frozen=True)
class ScriptedPress:
    at_s: float
    device: int
    type: str = "panic"


def parse_script(text: str) -> list[ScriptedPress]:
    """A press script: one ``seconds,device_index[,type]`` per line; ``#`` starts a comment."""
    presses = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            press = ScriptedPress(float(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else "panic")
        except (ValueError, IndexError):
            raise ValueError(f"script line {number}: expected 'seconds,device_index[,type]', got {line!r}") from None
        if press.at_s < 0 or press.device < 0:
            raise ValueError(f"script line {number}: negative time or device index")
        presses.append(press)
    return sorted(presses, key=lambda p: p.at_s)


@dataclass
class FleetTotals:
    devices: int
    connected: int
    alerts: int
    resends: int
    receipts: int
    telemetry: int
    outbox: int


TOTALS_HEADERS = ("perangkat", "terhubung", "alarm", "kirim ulang", "tanda terima", "telemetri", "antrean")


def totals_rows(totals: FleetTotals) -> list[list[str]]:
    """The totals as one row under TOTALS_HEADERS (``antrean``: alerts still awaiting a receipt)."""
    t = totals
    return [
        [
            f"{n:,}".replace(",", ".")
            for n in (t.devices, t.connected, t.alerts, t.resends, t.receipts, t.telemetry, t.outbox)
        ]
    ]


@dataclass
class FleetStats:
    """How the simulator itself fares: connect rate, its CPU and memory."""

    connects: int = 0
    connect_failures: int = 0
    reconnects: int = 0
    all_connected_at: float = 0.0
    ramp_started_at: float = 0.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cpu s, rss KiB)

    def connect_rate(self) -> float:
        span = self.all_connected_at - self.ramp_started_at
        return self.connects / span if span > 0 and self.all_connected_at else 0.0


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (one socket per button); returns it.

    Children started afterwards (a broker of the benchmark's own) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft if soft != resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Fleet:
    """Run many :class:`SimDevice` on this loop; press buttons at ``press_rate`` per second overall.

    ``ramp_per_s`` paces new connections; ``connect_threads`` bounds paho's blocking connects.
    """

    def __init__(
        self,
        creds: list[tuple[str, str]],
        config: SimConfig,
        *,
        state_dir: Path | None = None,
        press_rate: float = 0.0,
        ramp_per_s: float = 500.0,
        seed: int | None = None,
        script: list[ScriptedPress] | None = None,
        connect_threads: int = 4,
        homes: list[tuple[float, float]] | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        homes = homes if homes is not None else homes_in_wonosobo(len(creds), self.rng)
        self.devices = [
            SimDevice(d, s, config, home, state_dir=state_dir, rng=random.Random(self.rng.random()), driver=self)
            for (d, s), home in zip(creds, homes, strict=True)
        ]
        self.by_id = {d.device_id: d for d in self.devices}
        self.config = config
        self.press_rate = press_rate
        self.ramp_per_s = ramp_per_s
        self.connect_threads = connect_threads
        self.script = script or []
        self.stats = FleetStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._resend: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._timers: dict[str, list[asyncio.TimerHandle | None]] = {}  # device -> [heartbeat, misc, reconnect]
        self._backoff: dict[str, float] = {}
        self._started: set[str] = set()
        self._all_connected = asyncio.Event()
        self._closing = False
        for press in self.script:
            if press.device >= len(self.devices):
                raise ValueError(f"script presses device {press.device}, the fleet has {len(self.devices)}")

    def totals(self) -> FleetTotals:
        ds = self.devices
        return FleetTotals(
            devices=len(ds),
            connected=sum(1 for d in ds if d.conn.connected),
            alerts=sum(d.counters.alerts_sent for d in ds),
            resends=sum(d.counters.resends for d in ds),
            receipts=sum(d.counters.receipts for d in ds),
            telemetry=sum(d.counters.telemetry_sent for d in ds),
            outbox=sum(len(d.outbox) for d in ds),
        )

    def connected_count(self) -> int:
        return sum(1 for d in self.devices if d.conn.connected)

    async def wait_all_connected(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._all_connected.wait()

    async def run(self, stop: asyncio.Event, *, progress: TextIO | None = sys.stderr) -> FleetTotals:
        """Run the fleet until ``stop`` is set."""
        async with self.running(progress=progress):
            await stop.wait()
            totals = self.totals()  # before the shutdown, which disconnects every device
        return totals

    @contextlib.asynccontextmanager
    async def running(self, *, progress: TextIO | None = None) -> AsyncIterator[Fleet]:
        """The fleet connected (ramping up in the background) for the duration of the block."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        raise_fd_limit()
        self._executor = ThreadPoolExecutor(self.connect_threads, thread_name_prefix="sim-connect")
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.TaskGroup() as tg:
                tasks.append(tg.create_task(self._ramp(), name="fleet-ramp"))
                tasks.append(tg.create_task(self._sample(), name="fleet-sample"))
                if self.press_rate > 0:
                    tasks.append(tg.create_task(self._presses(), name="fleet-presses"))
                if self.script:
                    tasks.append(tg.create_task(self._scripted(), name="fleet-script"))
                if progress is not None:
                    tasks.append(tg.create_task(self._progress(progress), name="fleet-progress"))
                try:
                    yield self
                finally:
                    for task in tasks:
                        task.cancel()
        finally:
            await self._shutdown()
            self._executor.shutdown(wait=True, cancel_futures=True)
            if progress is not None:
                progress.write("\n")

    async def _shutdown(self, grace_s: float = 3.0) -> None:
        self._closing = True
        for _, handle in self._resend.values():
            handle.cancel()
        self._resend.clear()
        for handles in self._timers.values():
            for h in handles:
                if h is not None:
                    h.cancel()
        self._timers.clear()
        for dev in self.devices:
            if dev.conn.graceful and dev.conn.connected:
                dev.publish_offline()
                dev.client.disconnect()  # written by the loop's writer callback, then closed
        for _ in range(int(grace_s / 0.05)):
            if all(d.client.socket() is None for d in self.devices if d.conn.graceful):
                break
            await asyncio.sleep(0.05)
        for dev in self.devices:
            sock = dev.client.socket()
            if sock is not None:
                # a power cut (graceful False) leaves without DISCONNECT: the broker sends the Will
                assert self._loop is not None
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
                sock.close()

    # --- connections ------------------------------------------------------------------------
    async def _ramp(self) -> None:
        self.stats.ramp_started_at = time.monotonic()
        step = 0.01
        started = 0
        t0 = time.monotonic()
        for dev in self.devices:
            if self.ramp_per_s > 0:
                due = (time.monotonic() - t0) * self.ramp_per_s
                while started >= due:
                    await asyncio.sleep(step)
                    due = (time.monotonic() - t0) * self.ramp_per_s
            self._start(dev)
            started += 1
            if started % 200 == 0:
                await asyncio.sleep(0)

    def _start(self, dev: SimDevice) -> None:
        assert self._loop is not None
        self._started.add(dev.device_id)
        timers: list[asyncio.TimerHandle | None] = [None, None, None]
        self._timers[dev.device_id] = timers
        if self.config.heartbeat_s > 0:
            # spread the fleet's heartbeats over the interval instead of all at once
            timers[0] = self._loop.call_later(dev.rng.uniform(0, self.config.heartbeat_s), self._heartbeat, dev)
        timers[1] = self._loop.call_later(self._misc_interval() * dev.rng.random(), self._misc, dev)
        self._connect(dev, first=True)

    def _misc_interval(self) -> float:
        return max(1.0, min(self.config.keepalive / 4, 15.0))

    def _connect(self, dev: SimDevice, *, first: bool) -> None:
        if self._closing:
            return
        assert self._loop is not None and self._executor is not None
        c, cfg = dev.client, dev.config
        if first:
            fut = self._loop.run_in_executor(self._executor, c.connect, cfg.host, cfg.port, cfg.keepalive)
        else:
            fut = self._loop.run_in_executor(self._executor, c.reconnect)
        fut.add_done_callback(lambda f: self._connect_done(dev, f))

    def _connect_done(self, dev: SimDevice, fut: asyncio.Future[Any]) -> None:
        if self._closing or fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None or fut.result() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats.connect_failures += 1
            log.debug("%s: connect failed: %r", dev.device_id, exc or fut.result())
            self._retry(dev)
            return
        # the CONNACK arrives on the loop; if it has not within the bound, try again
        assert self._loop is not None
        self._set_timer(dev, 2, self._loop.call_later(max(10.0, dev.config.keepalive / 2), self._check_up, dev))

    def _check_up(self, dev: SimDevice) -> None:
        if not dev.conn.connected:
            self.stats.connect_failures += 1
            self._retry(dev)

    def _retry(self, dev: SimDevice) -> None:
        assert self._loop is not None
        delay = self._backoff.get(dev.device_id, 0.1)
        self._backoff[dev.device_id] = min(delay * 2, 5.0)
        self._set_timer(
            dev, 2, self._loop.call_later(delay * (0.5 + dev.rng.random()), lambda: self._connect(dev, first=False))
        )

    def _set_timer(self, dev: SimDevice, slot: int, handle: asyncio.TimerHandle) -> None:
        timers = self._timers.get(dev.device_id)
        if timers is None:
            handle.cancel()
            return
        old = timers[slot]
        if old is not None:
            old.cancel()
        timers[slot] = handle

    # --- DeviceDriver ---------------------------------------------------------------------------
    def outbox_due(self, device: SimDevice, when: float) -> None:
        if self._closing or self._loop is None:
            return
        current = self._resend.get(device.device_id)
        if current is not None:
            if current[0] <= when:
                return
            current[1].cancel()
        # time.monotonic and the loop's clock are the same clock
        handle = self._loop.call_at(when, self._resend_now, device)
        self._resend[device.device_id] = (when, handle)

    def _resend_now(self, device: SimDevice) -> None:
        self._resend.pop(device.device_id, None)
        device.send_due()

    def connection_lost(self, device: SimDevice) -> None:
        if self._closing:
            return
        self.stats.reconnects += 1
        self._retry(device)

    # --- timers ---------------------------------------------------------------------------------
    def _heartbeat(self, dev: SimDevice) -> None:
        assert self._loop is not None
        dev.send_telemetry()
        self._set_timer(dev, 0, self._loop.call_later(self.config.heartbeat_s, self._heartbeat, dev))

    def _misc(self, dev: SimDevice) -> None:
        assert self._loop is not None
        if dev.client.socket() is not None:
            dev.client.loop_misc()  # PINGREQ when due, and paho's own keep-alive timeout
        if dev.conn.connected:
            self._backoff.pop(dev.device_id, None)
        self._set_timer(dev, 1, self._loop.call_later(self._misc_interval(), self._misc, dev))

    async def _sample(self) -> None:
        t0 = time.monotonic()
        while True:
            if not self._all_connected.is_set() and len(self._started) == len(self.devices):
                if self.connected_count() == len(self.devices):
                    self.stats.all_connected_at = time.monotonic()
                    self.stats.connects = len(self.devices)
                    self._all_connected.set()
            self.stats.samples.append((time.monotonic() - t0, cpu_seconds(), rss_kib()))
            await asyncio.sleep(0.1 if not self._all_connected.is_set() else 5.0)

    # --- presses --------------------------------------------------------------------------------
    async def _presses(self) -> None:
        types = ["panic"] * 6 + ["crime", "accident", "fire", "medical"]
        while True:
            await asyncio.sleep(self.rng.expovariate(self.press_rate))
            dev = self.rng.choice(self.devices)
            if dev.conn.connected:
                dev.press(self.rng.choice(types))

    def press_one(self, alert_type: str = "panic") -> tuple[SimDevice, int] | None:
        """Press the first connected button now (a person at a demo, or a test timing the path);
        None when no button is connected."""
        dev = next((d for d in self.devices if d.conn.connected), None)
        if dev is None:
            return None
        return dev, dev.press(alert_type)

    async def _scripted(self) -> None:
        start = time.monotonic()
        for press in self.script:
            await asyncio.sleep(max(0.0, start + press.at_s - time.monotonic()))
            self.devices[press.device].press(press.type)

    async def _progress(self, out: TextIO) -> None:
        last = self.totals()
        last_t = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = self.totals()
            t = time.monotonic()
            dt = t - last_t
            out.write(
                f"\rperangkat {now.connected}/{now.devices} terhubung | alarm {now.alerts}"
                f" ({(now.alerts - last.alerts) / dt:.1f}/s) | tanda terima {now.receipts}"
                f" ({(now.receipts - last.receipts) / dt:.1f}/s) | kirim ulang {now.resends}"
                f" | outbox {now.outbox} | telemetri {now.telemetry} ({(now.telemetry - last.telemetry) / dt:.0f}/s)"
                f" | RSS {rss_kib() // 1024} MiB   "
            )
            out.flush()
            last, last_t = now, t
