"""Press -> console latency, for `siaga bench`: how long from a button press until a connected
operator console holds the incident (its 'incident.routed' event on the WebSocket).

The caller supplies ``press(device_id)``, which makes a device raise an alert the real way (MQTT
publish through the broker, or the app API), so the measured path is the whole one:
device -> broker -> gateway -> database -> dispatch routing -> event bus -> WebSocket.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Latency:
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "samples": self.samples,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "lost": self.lost,
        }


def summarise(seconds: Sequence[float], lost: int = 0) -> Latency:
    ms = sorted(s * 1000.0 for s in seconds)
    if not ms:
        return Latency(0, float("nan"), float("nan"), float("nan"), lost)
    p99 = ms[min(len(ms) - 1, max(0, round(0.99 * len(ms)) - 1))]
    return Latency(len(ms), round(statistics.median(ms), 2), round(p99, 2), round(ms[-1], 2), lost)


async def press_to_console(
    base_url: str,
    token: str,
    press: Callable[[str], Awaitable[None]],
    device_ids: Sequence[str],
    *,
    timeout_s: float = 5.0,
) -> Latency:
    """Press each device in turn (one in flight) and time until its incident reaches the console.

    ``token`` is a bearer token of a user who sees the incidents (e.g. command_centre).
    """
    seconds: list[float] = []
    lost = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.ws_connect(base_url.rstrip("/") + "/api/v1/stream", heartbeat=20) as ws:
            while (await ws.receive_json(timeout=timeout_s))["type"] != "caught_up":
                pass
            for device_id in device_ids:
                started = time.perf_counter()
                await press(device_id)
                try:
                    async with asyncio.timeout(timeout_s):
                        while True:
                            msg = await ws.receive_json()
                            data = msg.get("data") or {}
                            if msg.get("kind") == "incident.routed" and data.get("device_id") == device_id:
                                seconds.append(time.perf_counter() - started)
                                break
                except TimeoutError:
                    lost += 1
    return summarise(seconds, lost)
