"""Device spoofing and replay on a real Mosquitto (tests/gateway/test_alert_path.py has the ACL and
unknown-device cases): an old seq replayed with other content, and a device disabled with
`siaga devices disable` while it is connected, before and after the broker reloads its files."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from tests.gateway.harness import Stack, gateway_running, make_stack
from tests.support import run_siaga, wait_for


@pytest.fixture
async def stack(db_dsn: str, tmp_path: Path, topic_root: str) -> AsyncIterator[Stack]:
    async with make_stack(db_dsn, tmp_path, topic_root) as s:
        yield s


async def _count(stack: Stack, sql: str, *args: object) -> int:
    return int(await stack.pool.fetchval(sql, *args))


async def test_an_old_seq_replayed_with_other_content_changes_nothing(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds)
        seqs = [dev.press("crime") for _ in range(3)]
        async with asyncio.timeout(10):
            receipts = [await dev.wait_receipt(s) for s in seqs]
        first = "SELECT * FROM alert WHERE device_id = $1 AND seq = $2"
        stored = await stack.pool.fetchrow(first, dev.device_id, seqs[0])
        # someone who recorded the first alert sends it again, altered: another type, another place
        forged = {"seq": seqs[0], "type": "fire", "loc": {"lat": -7.1, "lon": 110.2, "acc": 3}}
        dev.client.publish(f"{dev.root}/devices/{dev.device_id}/alert", orjson.dumps(forged), qos=1)

        async def answered() -> bool:
            return dev.states.get(seqs[0], []).count("received") >= 2

        await wait_for(answered, what="the receipt of the replayed seq")
    assert dev.receipts[seqs[0]] == receipts[0]  # the same incident, not a new one
    assert await _count(stack, "SELECT count(*) FROM incident") == 3
    assert await _count(stack, "SELECT count(*) FROM alert") == 3
    after = await stack.pool.fetchrow(first, dev.device_id, seqs[0])
    assert dict(after) == dict(stored)  # nothing of the original was rewritten
    assert await stack.pool.fetchval("SELECT type FROM incident WHERE id = $1::uuid", receipts[0]) == "crime"


def _connect_result(port: int, username: str, password: str) -> str:
    """Connect once with these credentials; the broker's answer (blocking: run it in a thread)."""
    done = threading.Event()
    result: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{username}", protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        result.append(str(reason))
        done.set()

    def on_disconnect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        result.append(str(reason))
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect("127.0.0.1", port, keepalive=5)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0] if result else "no answer"


async def _siaga(stack: Stack, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "SIAGA_DATABASE_URL": stack.dsn,
        "SIAGA_MQTT_URL": stack.settings.mqtt_url or "",
        "SIAGA_TOPIC_ROOT": stack.settings.topic_root,
        "SIAGA_BROKER_AUTH_DIR": str(stack.workdir / "broker"),
    }
    return await run_siaga(*args, env=env)


async def test_a_disabled_device_is_refused_by_the_gateway_at_once_and_by_the_broker_after_reload(
    stack: Stack,
) -> None:
    creds = await stack.add_devices(2)
    (good_id, good_secret), (stolen_id, stolen_secret) = creds
    async with gateway_running(stack):
        good, stolen = await stack.start_devices(creds)
        async with asyncio.timeout(10):
            await stolen.wait_receipt(stolen.press())

        # the button is reported stolen: the admin disables it
        code, out = await _siaga(stack, "devices", "disable", stolen_id)
        assert code == 0, out
        assert f"{stolen_id}:" not in (stack.workdir / "broker" / "passwd").read_text()

        # the broker has not reloaded yet and still lets the thief in: the gateway refuses it
        refused_seq = stolen.press()

        async def dead_lettered() -> bool:
            return (
                await _count(
                    stack,
                    "SELECT count(*) FROM dead_letter WHERE device_id = $1 AND reason = 'disabled_device'",
                    stolen_id,
                )
                >= 1
            )

        await wait_for(dead_lettered, what="the disabled device's alert dead-lettered")
        assert refused_seq not in stolen.receipts

        # the broker reloads its files (kill -HUP): the connection is dropped and no new one is let in
        stack.broker.reload()
        await wait_for(lambda: _disconnected(stolen), what="the broker dropping the disabled device")
        answer = await asyncio.to_thread(_connect_result, stack.broker.port, stolen_id, stolen_secret)
        assert answer in ("Not authorized", "Bad user name or password"), answer
        # the other device is not disturbed
        assert await asyncio.to_thread(_connect_result, stack.broker.port, good_id, good_secret) == "Success"
        async with asyncio.timeout(10):
            await good.wait_receipt(good.press())
    assert await _count(stack, "SELECT count(*) FROM incident WHERE device_id = $1", stolen_id) == 1


async def _disconnected(dev: Any) -> bool:
    return not dev.conn.connected
