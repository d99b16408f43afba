"""Many simulated buttons on one event loop, with ramp-up, random presses and a live progress line."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

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


class Fleet:
    """Run many :class:`SimDevice` on this loop; press buttons at ``press_rate`` per second overall."""

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
    ) -> None:
        self.rng = random.Random(seed)
        homes = homes_in_wonosobo(len(creds), self.rng)
        self.devices = [
            SimDevice(d, s, config, home, state_dir=state_dir, rng=random.Random(self.rng.random()))
            for (d, s), home in zip(creds, homes, strict=True)
        ]
        self.press_rate = press_rate
        self.ramp_per_s = ramp_per_s
        self.script = script or []
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

    async def run(self, stop: asyncio.Event, *, progress: TextIO | None = sys.stderr) -> FleetTotals:
        """Run the fleet until ``stop`` is set."""
        tasks: list[asyncio.Task[None]] = []
        async with asyncio.TaskGroup() as tg:
            tasks.append(tg.create_task(self._start_all(tg, tasks), name="fleet-ramp"))
            if self.press_rate > 0:
                tasks.append(tg.create_task(self._presses(), name="fleet-presses"))
            if self.script:
                tasks.append(tg.create_task(self._scripted(), name="fleet-script"))
            if progress is not None:
                tasks.append(tg.create_task(self._progress(progress), name="fleet-progress"))
            await stop.wait()
            for task in tasks:
                task.cancel()
        if progress is not None:
            progress.write("\n")
        return self.totals()

    async def _start_all(self, tg: asyncio.TaskGroup, tasks: list[asyncio.Task[None]]) -> None:
        interval = 1.0 / self.ramp_per_s if self.ramp_per_s > 0 else 0.0
        for dev in self.devices:
            tasks.append(tg.create_task(dev.run(), name=f"sim-{dev.device_id}"))
            if interval:
                await asyncio.sleep(interval)

    async def _presses(self) -> None:
        types = ["panic"] * 6 + ["crime", "accident", "fire", "medical"]
        while True:
            await asyncio.sleep(self.rng.expovariate(self.press_rate))
            dev = self.rng.choice(self.devices)
            if dev.conn.connected:
                dev.press(self.rng.choice(types))

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
                f" | outbox {now.outbox} | telemetri {now.telemetry} ({(now.telemetry - last.telemetry) / dt:.0f}/s)   "
            )
            out.flush()
            last, last_t = now, t
