"""A retained status the broker replays on subscribing is dated to the subscription, not to its
arrival, so it never overwrites a newer status another gateway of the share group recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from bench.stack import shared_areas
from gateway.mqtt_gateway import MqttGateway
from gateway.service import alert_pipeline
from gateway.store import set_device_status
from tests.gateway.harness import Stack


def _status(topic: str, payload: bytes, *, retain: bool) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    msg.retain = retain
    return msg


async def test_a_replayed_retained_status_loses_to_a_newer_one(stack: Stack) -> None:
    (device_id, _), = await stack.add_devices(1)
    topic = f"{stack.settings.topic_root}/devices/{device_id}/status"
    async with alert_pipeline(stack.settings, stack.pool, await shared_areas()) as pipeline:
        gateway = MqttGateway(stack.settings, stack.pool, pipeline)
        subscribed = datetime.now(UTC) - timedelta(seconds=2)
        gateway._status_replay_at = subscribed  # as _subscribe sets it
        # after the subscription, the device came online and the other gateway recorded it
        online_at = subscribed + timedelta(seconds=1)
        async with stack.pool.acquire() as conn:
            assert await set_device_status(conn, device_id, True, online_at) is None
        # ... and only now does the replay of the old retained "offline" reach this gateway
        gateway._on_alert_session_message(gateway._alerts_client, None, _status(topic, b"offline", retain=True))
        gateway._on_alert_session_message(gateway._alerts_client, None, _status(topic, b"online", retain=False))
        (_, _, replay_at, _, _), (_, _, live_at, _, _) = gateway._status
        assert replay_at == subscribed and live_at > online_at
        async with stack.pool.acquire() as conn:
            await set_device_status(conn, device_id, False, replay_at)
            row = await conn.fetchrow("SELECT online, status_at FROM device WHERE id = $1", device_id)
    assert row["online"] is True and row["status_at"] == online_at
