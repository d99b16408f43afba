"""Load-generator processes of ``siaga bench``, each in its own process as the gateway is.

``python -m siaga.bench_raw sub URL TOPIC CLIENT_ID``: the raw ceiling's consumer, a plain paho
subscriber (QoS 1, acks on receipt); prints its running count every 100 ms.
``python -m siaga.bench_raw alerts URL ROOT CLIENT_ID``: the raw baseline of the scale scenarios, a
plain paho subscriber to every device's alert topic (QoS 1) in place of the gateway; prints
``a DEVICE SEQ WALL_TIME`` for each alert as it arrives.
``python -m siaga.bench_raw echo URL ROOT CLIENT_ID``: the raw baseline of the flood scenario, a
plain paho client in place of the gateway that answers every alert (QoS 1) with a ``received``
receipt on the device's down topic, and consumes every telemetry message (QoS 1) without storing it.
``python -m siaga.bench_raw flood URL ROOT RATE SECONDS DEVICE:SECRET...``: device telemetry at
RATE messages/s overall, QoS 1; prints ``ready`` once connected and the count sent at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from core.mqtt import AsyncMqtt, new_client
from core.settings import MqttTarget


def telemetry_payload(i: int = 0) -> bytes:
    return orjson.dumps(
        {"seq": i, "ts": int(time.time()), "batt": 88, "rssi": -70, "loc": {"lat": -7.3605, "lon": 109.903, "acc": 9.0}}
    )


class Flooder:
    """One MQTT publisher that keeps at most ``window`` QoS 1 messages unacknowledged."""

    def __init__(self, client_id: str, username: str, password: str, target: MqttTarget, window: int = 200) -> None:
        self.client = new_client(client_id, username=username, password=password)
        self.client.max_inflight_messages_set(window)
        self.window = window
        self.sent = 0
        self.acked = 0
        self._room = asyncio.Event()
        self.client.on_publish = self._on_publish
        self.conn = AsyncMqtt(self.client, target.host, target.port, name=client_id)

    def _on_publish(self, *args: Any) -> None:
        self.acked += 1
        if self.sent - self.acked < self.window:
            self._room.set()

    async def flood(self, topic: str, payload: bytes, seconds: float, rate: float | None = None) -> None:
        """Publish for ``seconds``: at most ``rate`` messages/s when given, else as fast as acks allow."""
        start = time.monotonic()
        deadline = start + seconds
        while time.monotonic() < deadline:
            if rate is not None and self.sent >= int((time.monotonic() - start) * rate):
                await asyncio.sleep(0.005)
                continue
            if self.sent - self.acked >= self.window:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._room.wait()
                continue
            self.client.publish(topic, payload, qos=1)
            self.sent += 1
            if self.sent % 64 == 0:
                await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running(*conns: AsyncMqtt) -> AsyncIterator[None]:
    """The connections kept up for the duration of the block."""
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in conns]
    try:
        async with asyncio.timeout(20):
            for c in conns:
                await c.wait_connected()
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def subscriber(url: str, topic: str, client_id: str) -> None:
    target = MqttTarget.parse(url)
    client = new_client(client_id, username=target.username, password=target.password)
    count = 0

    def on_message(c: Any, u: Any, msg: Any) -> None:
        nonlocal count
        count += 1

    client.on_message = on_message
    subscribed = asyncio.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    conn = AsyncMqtt(
        client, target.host, target.port, name="raw-subscriber", on_connected=lambda: client.subscribe(topic, qos=1)
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(conn.run())
        await subscribed.wait()
        print("ready", flush=True)
        while True:
            await asyncio.sleep(0.1)
            print(count, flush=True)


async def alert_subscriber(url: str, root: str, client_id: str) -> None:
    target = MqttTarget.parse(url)
    client = new_client(client_id, username=target.username, password=target.password)
    out = sys.stdout

    def on_message(c: Any, u: Any, msg: Any) -> None:
        now = time.time()
        try:
            seq = int(orjson.loads(msg.payload)["seq"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        out.write(f"a {msg.topic.split('/')[-2]} {seq} {now:.6f}\n")
        out.flush()

    client.on_message = on_message
    subscribed = asyncio.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    conn = AsyncMqtt(
        client,
        target.host,
        target.port,
        name="raw-alerts",
        on_connected=lambda: client.subscribe(f"{root}/devices/+/alert", qos=1),
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(conn.run())
        await subscribed.wait()
        print("ready", flush=True)


async def echo(url: str, root: str, client_id: str) -> None:
    """Two sessions as the gateway has: one answers alerts, the other swallows telemetry."""
    target = MqttTarget.parse(url)
    prefix = f"{root}/devices/"
    alerts = new_client(f"{client_id}-alerts", username=target.username, password=target.password)
    telemetry = new_client(f"{client_id}-telemetry", username=target.username, password=target.password)

    def on_alert(c: Any, u: Any, msg: Any) -> None:
        try:
            seq = int(orjson.loads(msg.payload)["seq"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        device_id = msg.topic[len(prefix) :].split("/", 1)[0]
        down = orjson.dumps({"seq": seq, "incident_id": "raw", "state": "received"})
        c.publish(f"{prefix}{device_id}/down", down, qos=1)

    alerts.on_message = on_alert
    telemetry.on_message = lambda *a: None
    subscribed = asyncio.Event()
    done: set[str] = set()

    def on_subscribe(c: Any, *a: Any) -> None:
        done.add(c._client_id.decode())
        if len(done) == 2:
            subscribed.set()

    conns = []
    for client, kind in ((alerts, "alert"), (telemetry, "telemetry")):
        client.on_subscribe = on_subscribe
        conns.append(
            AsyncMqtt(
                client,
                target.host,
                target.port,
                name=f"raw-echo-{kind}",
                on_connected=lambda c=client, k=kind: c.subscribe(f"{prefix}+/{k}", qos=1),
            )
        )
    async with asyncio.TaskGroup() as tg:
        for conn in conns:
            tg.create_task(conn.run())
        await subscribed.wait()
        print("ready", flush=True)


async def flood(url: str, root: str, rate: float, seconds: float, creds: list[str]) -> None:
    target = MqttTarget.parse(url)
    pairs = [c.split(":", 1) for c in creds]
    flooders = [Flooder(f"flood-{d}", d, secret, target) for d, secret in pairs]
    async with running(*(f.conn for f in flooders)):
        print("ready", flush=True)
        await asyncio.gather(
            *(
                f.flood(f"{root}/devices/{d}/telemetry", telemetry_payload(), seconds, rate=rate / len(flooders))
                for f, (d, _) in zip(flooders, pairs, strict=True)
            )
        )
    print(sum(f.sent for f in flooders), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["sub"]:
        asyncio.run(subscriber(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif sys.argv[1:2] == ["alerts"]:
        asyncio.run(alert_subscriber(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif sys.argv[1:2] == ["echo"]:
        asyncio.run(echo(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif sys.argv[1:2] == ["flood"]:
        asyncio.run(flood(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6:]))
    else:
        sys.exit("usage: python -m siaga.bench_raw sub|alerts|echo|flood ...")
