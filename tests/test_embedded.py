"""The embedded services: pgserver PostgreSQL, and the SIAGA gateway end to end through the
in-process amqtt broker with SIAGA's device registry as its password file and ACL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import paho.mqtt.client as mqtt
import pytest

from bench.stack import ALUN_ALUN, gateway_settings, running_gateway, sim_config
from core.db import migrate
from core.mqtt import AsyncMqtt, new_client
from core.settings import Settings
from firmware_sim.device import SimDevice
from gateway.devices import GATEWAY_USERNAME, add_device, disable_device
from gateway.mqtt_gateway import MqttGateway
from siaga.embedded import BrokerAccess, embedded_broker, embedded_postgres
from tests.support import wait_for

GW = GATEWAY_USERNAME


# --- the ACL as a table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "action", "topic", "allowed"),
    [
        ("btn-1", "publish", "r/v1/devices/btn-1/alert", True),
        ("btn-1", "publish", "r/v1/devices/btn-1/telemetry", True),
        ("btn-1", "publish", "r/v1/devices/btn-1/status", True),
        ("btn-1", "publish", "r/v1/devices/btn-1/down", False),
        ("btn-1", "publish", "r/v1/devices/btn-2/alert", False),
        ("btn-1", "publish", "r/v1/devices/btn-1/alert/x", False),
        ("btn-1", "publish", "r/v1/bench/x", False),
        ("btn-1", "subscribe", "r/v1/devices/btn-1/down", True),
        ("btn-1", "subscribe", "r/v1/devices/+/down", False),
        ("btn-1", "subscribe", "r/v1/devices/btn-1/#", False),
        ("btn-1", "subscribe", "#", False),
        ("btn-1", "subscribe", "r/v1/devices/btn-2/down", False),
        ("btn-1", "receive", "r/v1/devices/btn-1/down", True),
        ("btn-1", "receive", "r/v1/devices/btn-2/down", False),
        (GW, "subscribe", "r/v1/devices/+/alert", True),
        (GW, "subscribe", "r/v1/devices/+/telemetry", True),
        (GW, "subscribe", "r/v1/devices/+/status", True),
        (GW, "subscribe", "r/v1/devices/btn-1/alert", True),
        (GW, "subscribe", "r/v1/devices/+/+", False),
        (GW, "subscribe", "r/v1/devices/#", False),
        (GW, "subscribe", "r/v1/devices/+/down", False),
        (GW, "subscribe", "r/v1/bench/#", True),
        # amqtt has no shared subscriptions: refused rather than silently matching nothing
        (GW, "subscribe", "$share/siaga/r/v1/devices/+/alert", False),
        (GW, "publish", "r/v1/devices/btn-1/down", True),
        (GW, "publish", "r/v1/devices/btn-1/alert", False),
        (GW, "publish", "r/v1/bench/a/b", True),
        (GW, "receive", "r/v1/devices/btn-1/alert", True),
        (GW, "receive", "r/v1/devices/btn-1/down", False),
        ("siaga.other", "publish", "r/v1/devices/btn-1/alert", False),
        ("a/b", "publish", "r/v1/devices/a/b/alert", False),
        ("+", "subscribe", "r/v1/devices/+/down", False),
        (None, "subscribe", "r/v1/devices/btn-1/down", False),
        ("", "publish", "r/v1/devices//alert", False),
    ],
)
def test_broker_access(user: str | None, action: str, topic: str, allowed: bool) -> None:
    access = BrokerAccess("r/v1/")
    check = {"publish": access.may_publish, "subscribe": access.may_subscribe, "receive": access.may_receive}
    assert check[action](user, topic) is allowed


# --- PostgreSQL from pgserver ---------------------------------------------------------------------------


async def test_embedded_postgres_migrates_and_keeps_its_data(tmp_path: Path) -> None:
    async with embedded_postgres(tmp_path) as dsn:
        assert "/siaga?" in dsn
        applied = await migrate(dsn)
        assert applied
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("INSERT INTO device (id, name) VALUES ('btn-emb', 'Tombol')")
            owner = await conn.fetchval(
                "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'siaga'"
            )
        finally:
            await conn.close()
        assert owner == "postgres"
    pgdata = tmp_path / "pg"
    assert (pgdata / "PG_VERSION").exists() and not (pgdata / "postmaster.pid").exists()
    # a SIAGA killed earlier left its pid on pgserver's list of the server's users
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))
    # started again on the same data directory: the database and its rows are there
    async with embedded_postgres(tmp_path) as dsn:
        assert await migrate(dsn) == []
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT name FROM device WHERE id = 'btn-emb'") == "Tombol"
        finally:
            await conn.close()
    assert not (pgdata / "postmaster.pid").exists(), "the dead pid kept the server running"


# --- the gateway through the embedded broker -------------------------------------------------------------


@dataclass
class Embedded:
    pool: asyncpg.Pool
    settings: Settings
    host: str
    port: int
    workdir: Path
    gateway_password: str
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def add(self, device_id: str) -> tuple[str, str]:
        async with self.pool.acquire() as conn:
            nd = await add_device(conn, device_id, f"Tombol {device_id}")
        return nd.device_id, nd.secret

    def device(self, device_id: str, secret: str, **kw: Any) -> SimDevice:
        config = sim_config(self.host, self.port, self.settings.topic_root, **kw)
        state = self.workdir / "sim-state"
        state.mkdir(exist_ok=True)
        dev = SimDevice(device_id, secret, config, ALUN_ALUN, state_dir=state)
        self._tasks.append(asyncio.create_task(dev.run(), name=f"sim-{device_id}"))
        return dev

    async def connected(self, *devices: SimDevice) -> None:
        async with asyncio.timeout(10):
            for dev in devices:
                await dev.conn.wait_connected()

    def client(
        self, client_id: str, username: str | None, password: str | None, *, will: str | None = None, **kw: Any
    ) -> AsyncMqtt:
        """A raw paho client on the loop, for what a SimDevice would never do."""
        paho = new_client(client_id, username=username, password=password, **kw)
        if will is not None:
            paho.will_set(will, b"{}", qos=1)
        conn = AsyncMqtt(paho, self.host, self.port)
        self._tasks.append(asyncio.create_task(conn.run(), name=f"raw-{client_id}"))
        return conn

    async def stop(self, *devices: SimDevice) -> None:
        """Stop the given devices (all tasks when none are given)."""
        names = {f"sim-{d.device_id}" for d in devices}
        chosen = [t for t in self._tasks if not devices or t.get_name() in names]
        for t in chosen:
            t.cancel()
        for t in chosen:
            with contextlib.suppress(asyncio.CancelledError):
                await t
            self._tasks.remove(t)


@pytest.fixture
async def emb(pool: asyncpg.Pool, db_dsn: str, topic_root: str, tmp_path: Path) -> AsyncIterator[Embedded]:
    password = secrets.token_urlsafe(16)
    async with embedded_broker(
        pool,
        topic_root=topic_root,
        gateway_password=password,
        port=0,
        max_packet_bytes=Settings().mqtt_max_packet_bytes,
    ) as (host, port):
        settings = gateway_settings(db_dsn, host, port, password, topic_root, mqtt_keepalive_s=5)
        e = Embedded(pool, settings, host, port, tmp_path, password)
        try:
            yield e
        finally:
            await e.stop()


@contextlib.asynccontextmanager
async def gateway(emb: Embedded, **overrides: Any) -> AsyncIterator[MqttGateway]:
    settings = emb.settings.model_copy(update=overrides) if overrides else emb.settings
    async with running_gateway(settings, emb.pool) as gw:
        yield gw


async def suback_failures(client: mqtt.Client, topics: list[tuple[str, int]]) -> list[bool]:
    """Subscribe and return, per topic, whether the broker refused it (SUBACK 0x80)."""
    subacks: dict[int, list[Any]] = {}
    client.on_subscribe = lambda c, u, mid, reasons, p: subacks.__setitem__(mid, reasons)  # type: ignore[misc]
    _, mid = client.subscribe(topics)

    async def answered() -> list[Any] | None:
        return subacks.get(mid)

    reasons = await wait_for(answered, timeout=5, what="SUBACK")
    return [r.is_failure for r in reasons]


async def _refused(conn: AsyncMqtt) -> str | None:
    return conn.connect_refused


async def test_press_becomes_an_incident_with_a_receipt(emb: Embedded) -> None:
    creds = await emb.add("btn-0001")
    async with gateway(emb):
        dev = emb.device(*creds)
        await emb.connected(dev)
        seq = dev.press("crime")
        async with asyncio.timeout(10):
            incident_id = await dev.wait_receipt(seq)
        # the retained 'online' status went through the ACL to the gateway too
        await wait_for(lambda: _online(emb, dev.device_id), what="device online")
    row = await emb.pool.fetchrow(
        "SELECT i.device_id, i.type, a.seq FROM incident i JOIN alert a ON a.id = i.alert_id WHERE i.id = $1::uuid",
        incident_id,
    )
    assert (row["device_id"], row["type"], row["seq"]) == (dev.device_id, "crime", seq)


async def _online(emb: Embedded, device_id: str) -> bool:
    return bool(await emb.pool.fetchval("SELECT online FROM device WHERE id = $1", device_id))


async def test_alerts_wait_in_the_gateways_persistent_session(emb: Embedded) -> None:
    """clean_session=False + manual acks: what arrives while the gateway is away is delivered when
    it comes back, under the same client ids."""
    creds = await emb.add("btn-0001")
    async with gateway(emb):
        dev = emb.device(*creds, resend_base_s=60.0, resend_max_s=60.0)  # no re-send to the rescue
        await emb.connected(dev)
    seq = dev.press()  # no gateway now: the broker queues it for the gateway's session
    async with gateway(emb):
        async with asyncio.timeout(10):
            await dev.wait_receipt(seq)
    assert dev.counters.resends == 0
    assert await emb.pool.fetchval("SELECT count(*) FROM incident") == 1


async def test_wrong_password_and_anonymous_are_refused(emb: Embedded) -> None:
    device_id, secret = await emb.add("btn-0001")
    wrong = emb.device(device_id, secret + "x")
    anonymous = emb.client("anon-1", None, None)
    gateway_guess = emb.client("gw-guess", GATEWAY_USERNAME, "guess")
    for conn in (wrong.conn, anonymous, gateway_guess):
        await wait_for(lambda conn=conn: _refused(conn), what="a refused CONNECT")  # type: ignore[misc]
    await emb.stop(wrong)
    right = emb.device(device_id, secret)
    await emb.connected(right)


async def test_device_cannot_use_another_devices_topics(emb: Embedded) -> None:
    mallory_creds = await emb.add("btn-mallory")
    victim_creds = await emb.add("btn-victim")
    async with gateway(emb):
        mallory, victim = emb.device(*mallory_creds), emb.device(*victim_creds)
        await emb.connected(mallory, victim)
        mallory.client.publish(f"{mallory.root}/devices/{victim.device_id}/alert", orjson.dumps({"seq": 99}), qos=1)
        refused = await suback_failures(mallory.client, [(f"{mallory.root}/devices/{victim.device_id}/down", 1)])
        assert refused == [True]
        seq = victim.press()
        async with asyncio.timeout(10):
            await victim.wait_receipt(seq)
        # mallory's own alert after the forged one: the broker handled the forged one first
        own = mallory.press()
        async with asyncio.timeout(10):
            await mallory.wait_receipt(own)
        assert mallory.states == {own: ["received"]}  # its own receipt only, none of the victim's
    seqs = {r["device_id"]: r["seq"] for r in await emb.pool.fetch("SELECT device_id, seq FROM alert")}
    assert seqs == {victim.device_id: seq, mallory.device_id: own}
    assert await emb.pool.fetchval("SELECT count(*) FROM dead_letter") == 0  # never reached the gateway


async def test_will_on_a_foreign_topic_and_a_shared_subscription_are_refused(emb: Embedded) -> None:
    device_id, secret = await emb.add("btn-0001")
    await emb.add("btn-0002")
    forged_will = emb.client(device_id, device_id, secret, will=f"{emb.settings.topic_root}/devices/btn-0002/alert")
    await wait_for(lambda: _refused(forged_will), what="CONNECT with a foreign Will refused")
    # the gateway account may not use $share: amqtt would accept it and deliver nothing
    gw = emb.client("gw-share", GATEWAY_USERNAME, emb.gateway_password)
    async with asyncio.timeout(10):
        await gw.wait_connected()
    root = emb.settings.topic_root
    refused = await suback_failures(
        gw.client, [(f"$share/siaga/{root}/devices/+/alert", 1), (f"{root}/devices/+/alert", 1)]
    )
    assert refused == [True, False]


async def test_disabled_device_is_refused_at_its_next_connect(emb: Embedded) -> None:
    device_id, secret = await emb.add("btn-0001")
    dev = emb.device(device_id, secret)
    await emb.connected(dev)  # verified once: the cache knows this secret now
    async with emb.pool.acquire() as conn:
        await disable_device(conn, device_id)
    await emb.stop(dev)
    again = emb.device(device_id, secret)
    await wait_for(lambda: _refused(again.conn), what="the disabled device refused")
    assert not again.conn.connected


async def test_refused_connect_with_the_gateways_client_id_leaves_the_gateway_alone(emb: Embedded) -> None:
    """amqtt alone would take over the live session before checking the password."""
    creds = await emb.add("btn-0001")
    async with gateway(emb) as gw:
        dev = emb.device(*creds)
        await emb.connected(dev)
        alerts_id = f"{emb.settings.mqtt_client_id}-alerts"
        intruder = emb.client(alerts_id, GATEWAY_USERNAME, "wrong", clean_session=False)
        await wait_for(lambda: _refused(intruder), what="intruder refused")
        # a device with valid credentials may not take the gateway's persistent session either
        hijack = emb.client(alerts_id, *creds, clean_session=False)
        await wait_for(lambda: _refused(hijack), what="hijack refused")
        seq = dev.press()
        async with asyncio.timeout(10):
            await dev.wait_receipt(seq)
        assert gw.alerts_conn.generation == 1, "the gateway's alert session was knocked off"


async def test_taken_port_falls_back_to_a_free_one(pool: asyncpg.Pool, topic_root: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with embedded_broker(
            pool,
            topic_root=topic_root,
            gateway_password="pw",
            port=port,
            max_packet_bytes=Settings().mqtt_max_packet_bytes,
        ) as (host, bound):
            assert host == "127.0.0.1" and bound not in (port, 0)
            with socket.create_connection((host, bound), timeout=5):
                pass


async def test_silent_client_is_dropped_after_its_keep_alive_and_its_will_published(emb: Embedded) -> None:
    """A button that loses power sends no TCP close; amqtt alone would keep it for ever."""
    device_id, secret = await emb.add("btn-0001")
    root = emb.settings.topic_root
    wills: list[bytes] = []
    watcher = emb.client("gw-watch", GATEWAY_USERNAME, emb.gateway_password)
    watcher.client.on_message = lambda c, u, m: wills.append(m.payload)  # type: ignore[misc]
    async with asyncio.timeout(10):
        await watcher.wait_connected()
    assert await suback_failures(watcher.client, [(f"{root}/devices/+/status", 1)]) == [False]

    def connect_then_go_silent() -> mqtt.Client:
        client = new_client(device_id, username=device_id, password=secret)
        client.will_set(f"{root}/devices/{device_id}/status", b"offline", qos=1, retain=True)
        client.connect(emb.host, emb.port, keepalive=1)  # blocking: off the loop
        client.loop_read()  # the CONNACK; no loop after it, so no PINGREQ ever
        return client

    silent = await asyncio.to_thread(connect_then_go_silent)
    try:
        await wait_for(lambda: _has(wills, b"offline"), timeout=8, what="the Last Will")
    finally:
        sock = silent.socket()
        if sock is not None:
            sock.close()


async def _has(items: list[bytes], item: bytes) -> bool:
    return item in items


async def test_oversized_packet_closes_the_connection_before_its_body_is_read(emb: Embedded) -> None:
    """amqtt has no packet limit of its own; SIAGA's reader closes the connection at the declared
    length, as Mosquitto's max_packet_size does, and the broker keeps serving."""
    big_id, big_secret = await emb.add("btn-big")
    creds = await emb.add("btn-0001")
    async with gateway(emb):
        raw = emb.client("btn-big-raw", big_id, big_secret)
        await wait_for(lambda: _connected(raw), what="the raw client connected")
        first = raw.generation
        raw.client.publish(f"{emb.settings.topic_root}/devices/{big_id}/alert", b"[" * (20 * 1024 * 1024), qos=0)

        async def dropped() -> bool:
            return not raw.connected or raw.generation > first

        await wait_for(dropped, timeout=20, what="the oversized publisher disconnected")
        dev = emb.device(*creds)
        await emb.connected(dev)
        seq = dev.press()
        async with asyncio.timeout(10):
            await dev.wait_receipt(seq)
    assert await emb.pool.fetchval("SELECT count(*) FROM dead_letter") == 0  # never reached the gateway


async def _connected(conn: AsyncMqtt) -> bool:
    return conn.connected
