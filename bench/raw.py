"""Load-generator processes of ``siaga bench``, each in its own process as the gateway is.

``python -m bench.raw sub URL TOPIC CLIENT_ID``: the raw ceiling's consumer, a plain paho
subscriber (QoS 1, acks on receipt); prints its running count every 100 ms.
``python -m bench.raw alerts URL ROOT CLIENT_ID``: the raw baseline of the scale scenarios, a
plain paho subscriber to every device's alert topic (QoS 1) in place of the gateway; prints
``a DEVICE SEQ WALL_TIME`` for each alert as it arrives.
``python -m bench.raw echo URL ROOT CLIENT_ID``: the raw baseline of the flood scenario, a
plain paho client in place of the gateway that answers every alert (QoS 1) with a ``received``
receipt on the device's down topic, and consumes every telemetry message (QoS 1) without storing it.
``python -m bench.raw flood URL ROOT RATE SECONDS DEVICE:SECRET...``: device telemetry at
RATE messages/s overall, QoS 1, from RawPublishers (ready-made packets: the flood's own CPU is
not the server's in a deployment); prints ``ready`` once connected and the count sent at the end.
The ceilings (``sub``, and bench.gateway's phases) are measured with paho on both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

from core.mqtt import AsyncMqtt, new_client
from core.settings import MqttTarget


def telemetry_payload(i: int = 0) -> bytes:
    return orjson.dumps(
        {"seq": i, "ts": int(time.time()), "batt": 88, "rssi": -70, "loc": {"lat": -7.3605, "lon": 109.903, "acc": 9.0}}
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


class RawPublisher:
    """A minimal MQTT 3.1.1 QoS 1 publisher over an asyncio stream: it writes ready-made PUBLISH
    packets and counts the broker's PUBACKs. It stands in for devices in the floods, where paho
    spent most of a core of this 2-core machine per 25,000 messages/s that in a deployment the
    devices' own hardware spends; the broker sees the same packets either way.
    """

    def __init__(self, client_id: str, username: str, password: str, target: MqttTarget) -> None:
        self.name = client_id
        self.target = target
        self._connect = self._connect_packet(client_id, username, password)
        self._connected = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self.acked = 0
        self.ack_event = asyncio.Event()

    @staticmethod
    def _connect_packet(client_id: str, username: str, password: str) -> bytes:
        # protocol MQTT 4, flags: username, password, clean session; keepalive 600 s
        variable = _field(b"MQTT") + bytes([4, 0xC2]) + (600).to_bytes(2, "big")
        payload = _field(client_id.encode()) + _field(username.encode()) + _field(password.encode())
        body = variable + payload
        return b"\x10" + _varint(len(body)) + body

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.target.host, self.target.port)
        try:
            writer.write(self._connect)
            connack = await reader.readexactly(4)
            if connack[0] != 0x20 or connack[3] != 0:
                raise ConnectionError(f"{self.name}: broker refused the connection ({connack.hex()})")
            self._writer = writer
            self._connected.set()
            buf = b""
            while chunk := await reader.read(65536):
                buf += chunk
                # the broker sends this client nothing but PUBACKs (0x40, length 2, packet id)
                whole = len(buf) - len(buf) % 4
                if whole:
                    if buf[0] != 0x40:
                        raise ConnectionError(f"{self.name}: unexpected packet {buf[:8].hex()}")
                    self.acked += whole // 4
                    buf = buf[whole:]
                    self.ack_event.set()
            raise ConnectionError(f"{self.name}: the broker closed the connection")
        finally:
            self._connected.clear()
            writer.close()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def publish_many(self, topic: str, payload: bytes, first_id: int, n: int) -> None:
        """``n`` QoS 1 PUBLISH packets of one topic, packet ids from ``first_id`` on, in one write."""
        assert self._writer is not None
        name = _field(topic.encode())
        head = b"\x32" + _varint(len(name) + 2 + len(payload)) + name
        ids = ((first_id + i) % 65535 + 1 for i in range(n))
        self._writer.write(b"".join(head + pid.to_bytes(2, "big") + payload for pid in ids))


class PahoPublisher:
    """paho as a flood's publisher: the ceilings are measured paho to paho."""

    def __init__(self, client_id: str, username: str, password: str, target: MqttTarget, window: int) -> None:
        self.name = client_id
        self.client = new_client(client_id, username=username, password=password)
        self.client.max_inflight_messages_set(window)
        self.client.on_publish = self._on_publish
        self.acked = 0
        self.ack_event = asyncio.Event()
        self._conn = AsyncMqtt(self.client, target.host, target.port, name=client_id)

    def _on_publish(self, *args: Any) -> None:
        self.acked += 1
        self.ack_event.set()

    async def run(self) -> None:
        await self._conn.run()

    async def wait_connected(self) -> None:
        await self._conn.wait_connected()

    def publish_many(self, topic: str, payload: bytes, first_id: int, n: int) -> None:
        for _ in range(n):
            self.client.publish(topic, payload, qos=1)


class Flooder:
    """One device-like publisher that keeps at most ``window`` QoS 1 messages unacknowledged:
    paho (``raw=False``, the ceilings) or ready-made packets (``raw=True``, the floods)."""

    def __init__(
        self,
        client_id: str,
        username: str,
        password: str,
        target: MqttTarget,
        window: int = 200,
        *,
        raw: bool = False,
    ) -> None:
        self.conn: PahoPublisher | RawPublisher = (
            RawPublisher(client_id, username, password, target)
            if raw
            else PahoPublisher(client_id, username, password, target, window)
        )
        self.window = window
        self.sent = 0

    async def flood(self, topic: str, payload: bytes, seconds: float, rate: float | None = None) -> None:
        """Publish for ``seconds``: at most ``rate`` messages/s when given, else as fast as acks allow."""
        conn = self.conn
        start = time.monotonic()
        deadline = start + seconds
        while (now := time.monotonic()) < deadline:
            room = self.window - (self.sent - conn.acked)
            if room <= 0:
                conn.ack_event.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await conn.ack_event.wait()
                continue
            if rate is not None:
                due = int((now - start) * rate) - self.sent
                if due <= 0:
                    await asyncio.sleep(min(deadline - now, max(0.001, (self.sent + 1) / rate - (now - start))))
                    continue
                room = min(room, due)
            n = min(room, 64)
            conn.publish_many(topic, payload, self.sent, n)
            self.sent += n
            await asyncio.sleep(0)


class Connection(Protocol):
    name: str

    async def run(self) -> None: ...

    async def wait_connected(self) -> None: ...


@contextlib.asynccontextmanager
async def running(*conns: Connection) -> AsyncIterator[None]:
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

    def on_subscribe(kind: str) -> None:
        done.add(kind)
        if len(done) == 2:
            subscribed.set()

    conns = []
    for client, kind in ((alerts, "alert"), (telemetry, "telemetry")):
        client.on_subscribe = lambda *a, k=kind: on_subscribe(k)
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
    flooders = [Flooder(f"flood-{d}", d, secret, target, raw=True) for d, secret in pairs]
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
        sys.exit("usage: python -m bench.raw sub|alerts|echo|flood ...")
