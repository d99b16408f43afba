"""The alert path end to end: a real Mosquitto, a real PostgreSQL, the gateway in this process."""

from __future__ import annotations

import asyncio

import orjson

from tests.gateway.harness import Stack, gateway_running
from tests.support import wait_for


async def count(stack: Stack, sql: str, *args: object) -> int:
    async with stack.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_press_becomes_one_incident_and_the_device_gets_its_receipt(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds)
        seq = dev.press("crime")
        async with asyncio.timeout(10):
            incident_id = await dev.wait_receipt(seq)
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT i.*, a.seq FROM incident i JOIN alert a ON a.id = i.alert_id WHERE i.id = $1::uuid", incident_id
        )
        assert row["device_id"] == dev.device_id and row["seq"] == seq and row["type"] == "crime"
        assert row["state"] == "new"
        assert row["location_source"] == "gps"
        assert row["desa_name"] == "Wonosobo Timur"
        ev = await conn.fetchrow("SELECT kind, data FROM event WHERE incident_id = $1::uuid", incident_id)
        assert ev["kind"] == "incident.created" and ev["data"]["number"] == row["number"]
        dev_row = await conn.fetchrow("SELECT last_seq, last_lat, battery FROM device WHERE id = $1", dev.device_id)
        assert dev_row["last_seq"] == seq and dev_row["last_lat"] is not None


async def test_same_alert_delivered_twice_is_one_incident(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds)
        seq = dev.press()
        async with asyncio.timeout(10):
            first = await dev.wait_receipt(seq)
        # the device did not see the receipt and sends the same alert again, twice
        payload = orjson.dumps({"seq": seq, "type": "panic"})
        for _ in range(2):
            dev.client.publish(f"{dev.root}/devices/{dev.device_id}/alert", payload, qos=1)
        await wait_for(lambda: _receipts_for(dev, seq, 3), what="receipts for the re-sent alert")
    assert await count(stack, "SELECT count(*) FROM incident") == 1
    assert await count(stack, "SELECT count(*) FROM alert") == 1
    assert set(dev.receipts.values()) == {first}


async def _receipts_for(dev, seq: int, n: int) -> bool:  # type: ignore[no-untyped-def]
    return dev.states.get(seq, []).count("received") >= n


async def test_refused_payloads_are_dead_lettered_while_valid_alerts_flow(stack: Stack) -> None:
    creds = await stack.add_devices(3)
    async with stack.pool.acquire() as conn:
        await conn.execute("UPDATE device SET active = false WHERE id = $1", creds[2][0])
    # the broker still knows the disabled device until the next reload: the gateway must refuse it too
    async with gateway_running(stack):
        good, bad, disabled = await stack.start_devices(creds)
        topic = f"{bad.root}/devices/{bad.device_id}/alert"
        bad.client.publish(topic, b"{not json", qos=1)
        bad.client.publish(topic, orjson.dumps({"seq": "seventeen"}), qos=1)
        bad.client.publish(topic, orjson.dumps({"seq": 5, "type": "alien"}), qos=1)
        bad.client.publish(topic, b"[" * 9000, qos=1)
        bad.client.publish(f"{bad.root}/devices/{bad.device_id}/telemetry", b"\xff\xfe", qos=1)
        bad.client.publish(f"{bad.root}/devices/{bad.device_id}/status", b"sleeping", qos=1)
        disabled_seq = disabled.press()
        seqs = [good.press() for _ in range(5)]
        async with asyncio.timeout(10):
            for s in seqs:
                await good.wait_receipt(s)
        await wait_for(lambda: count(stack, "SELECT count(*) FROM dead_letter"), what="dead letters")
        await wait_for(lambda: _at_least(stack, "SELECT count(*) FROM dead_letter", 8), what="all eight refusals")
    async with stack.pool.acquire() as conn:
        rows = await conn.fetch("SELECT reason, device_id, topic, payload FROM dead_letter ORDER BY id")
    reasons = sorted(r["reason"] for r in rows)
    assert reasons == sorted(
        ["malformed_json", "invalid", "invalid", "oversize", "malformed_json", "invalid_status"]
        + ["disabled_device"] * 2  # its alert, and its 'online' status
    ), reasons
    assert any(r["payload"] == b"{not json" for r in rows)
    assert disabled_seq not in disabled.receipts
    assert await count(stack, "SELECT count(*) FROM incident") == 5


async def _at_least(stack: Stack, sql: str, n: int) -> bool:
    return await count(stack, sql) >= n


async def test_device_the_broker_knows_but_the_registry_does_not_is_refused(stack: Stack) -> None:
    """The broker's files can lag the registry (a device removed, no reload yet): the gateway
    checks the topic's device itself and dead-letters what it refuses."""
    creds = await stack.add_devices(2)
    async with stack.pool.acquire() as conn:
        await conn.execute("DELETE FROM device WHERE id = $1", creds[1][0])
    async with gateway_running(stack):
        good, ghost = await stack.start_devices(creds)
        ghost_seq = ghost.press()
        seq = good.press()
        async with asyncio.timeout(10):
            await good.wait_receipt(seq)
        await wait_for(lambda: _at_least(stack, "SELECT count(*) FROM dead_letter", 1), what="dead letter")
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT reason, device_id FROM dead_letter")
    assert (row["reason"], row["device_id"]) == ("unknown_device", ghost.device_id)
    assert ghost_seq not in ghost.receipts
    assert await count(stack, "SELECT count(*) FROM incident") == 1


async def test_device_cannot_publish_on_another_devices_topic(stack: Stack) -> None:
    creds = await stack.add_devices(2)
    async with gateway_running(stack):
        mallory, victim = await stack.start_devices(creds)
        # an alert "from" the victim, published by mallory with mallory's credentials
        mallory.client.publish(f"{mallory.root}/devices/{victim.device_id}/alert", orjson.dumps({"seq": 99}), qos=1)
        # and mallory listening to the victim's downlink
        got: list[bytes] = []
        mallory.client.message_callback_add(
            f"{mallory.root}/devices/{victim.device_id}/down",
            lambda c, u, m: got.append(m.payload),  # type: ignore[misc]
        )
        mallory.client.subscribe(f"{mallory.root}/devices/{victim.device_id}/down", qos=1)
        seq = victim.press()
        async with asyncio.timeout(10):
            await victim.wait_receipt(seq)
        # a legitimate alert from mallory goes through after the refused one, so the refused one had its chance
        own = mallory.press()
        async with asyncio.timeout(10):
            await mallory.wait_receipt(own)
    async with stack.pool.acquire() as conn:
        seqs = {r["device_id"]: r["seq"] for r in await conn.fetch("SELECT device_id, seq FROM alert")}
    assert seqs == {victim.device_id: seq, mallory.device_id: own}
    assert got == []


async def test_status_and_telemetry_update_the_device(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds, telemetry_qos=1)
        await wait_for(lambda: _online(stack, dev.device_id), what="device online")
        for _ in range(3):
            dev.send_telemetry()
        await wait_for(lambda: _at_least(stack, "SELECT count(*) FROM telemetry", 3), what="telemetry rows")
        await stack.stop_devices(power_cut=True)  # the Last Will says offline
        await wait_for(lambda: _offline(stack, dev.device_id), what="device offline after its Last Will")
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT battery, rssi, last_lat FROM device WHERE id = $1", dev.device_id)
    assert row["battery"] is not None and row["rssi"] is not None and row["last_lat"] is not None


async def _online(stack: Stack, device_id: str) -> bool:
    async with stack.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT online FROM device WHERE id = $1", device_id))


async def _offline(stack: Stack, device_id: str) -> bool:
    async with stack.pool.acquire() as conn:
        return await conn.fetchval("SELECT online FROM device WHERE id = $1", device_id) is False


async def test_downlink_rows_reach_the_device(stack: Stack) -> None:
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds)
        seq = dev.press()
        async with asyncio.timeout(10):
            incident = await dev.wait_receipt(seq)
        async with stack.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO downlink (device_id, payload) VALUES ($1, $2)",
                dev.device_id,
                {"seq": seq, "incident_id": incident, "state": "acknowledged"},
            )
        await wait_for(lambda: _has_state(dev, seq, "acknowledged"), what="acknowledged on the device")
        await wait_for(
            lambda: _at_least(stack, "SELECT count(*) FROM downlink WHERE sent_at IS NOT NULL", 1), what="sent_at"
        )


async def _has_state(dev, seq: int, state: str) -> bool:  # type: ignore[no-untyped-def]
    return state in dev.states.get(seq, [])


async def test_a_payload_the_database_refuses_is_dead_lettered_and_the_rest_flows(stack: Stack) -> None:
    """An alert PostgreSQL refuses must not wedge the pipeline: the batch is retried item by item
    and only the poison message is dead-lettered. (No payload that decodes is known to be refused
    today, so a trigger plays the database's part: the refusal is real, only its cause is staged.)"""
    creds = await stack.add_devices(2)
    async with stack.pool.acquire() as conn:
        await conn.execute(
            f"""CREATE FUNCTION refuse_seq_7() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.device_id = '{creds[1][0]}' AND NEW.seq = 7 THEN
                        RAISE EXCEPTION 'staged refusal' USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_seq_7 BEFORE INSERT ON alert FOR EACH ROW EXECUTE FUNCTION refuse_seq_7();"""
        )
    async with gateway_running(stack):
        good, bad = await stack.start_devices(creds)
        poison = b'{"seq": 7, "type": "panic"}'
        bad.client.publish(f"{bad.root}/devices/{bad.device_id}/alert", poison, qos=1)
        seqs = [good.press() for _ in range(3)]
        async with asyncio.timeout(10):
            for s in seqs:
                await good.wait_receipt(s)
        await wait_for(lambda: _at_least(stack, "SELECT count(*) FROM dead_letter", 1), what="poison dead-lettered")
        later = good.press()
        async with asyncio.timeout(10):
            await good.wait_receipt(later)
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT reason, device_id, payload FROM dead_letter")
    assert (row["reason"], row["device_id"], row["payload"]) == ("rejected_by_database", bad.device_id, poison)
    assert await count(stack, "SELECT count(*) FROM incident") == 4


async def test_a_nul_in_an_ignored_member_does_not_cost_the_alert(stack: Stack) -> None:
    """jsonb takes no NUL: the payload kept for the record has it replaced, and the alert is an incident."""
    creds = await stack.add_devices(1)
    async with gateway_running(stack):
        (dev,) = await stack.start_devices(creds)
        dev.client.publish(
            f"{dev.root}/devices/{dev.device_id}/alert", b'{"seq": 7, "type": "panic", "note": "a\\u0000b"}', qos=1
        )
        await wait_for(lambda: _at_least(stack, "SELECT count(*) FROM incident", 1), what="the incident")
    async with stack.pool.acquire() as conn:
        assert await conn.fetchval("SELECT payload->>'note' FROM alert WHERE seq = 7") == "a\ufffdb"
        assert await conn.fetchval("SELECT count(*) FROM dead_letter") == 0
