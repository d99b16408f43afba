"""Faults at the edges: the gateway process SIGKILLed mid-burst, the broker SIGKILLed after it
acked alerts it had not yet delivered. Afterwards every alert is exactly one incident and every
device holds its receipts."""

from __future__ import annotations

import asyncio
import time

import pytest

from firmware_sim.device import SimDevice
from tests.gateway.harness import GatewayProcess, Stack, gateway_running
from tests.support import wait_for

pytestmark = pytest.mark.faults


async def counts(stack: Stack) -> tuple[int, int]:
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM incident) AS incidents,"
            " (SELECT count(DISTINCT (device_id, seq)) FROM alert) AS alerts"
        )
    return row["incidents"], row["alerts"]


def outstanding(devices: list[SimDevice]) -> int:
    return sum(len(d.outbox) for d in devices)


async def all_receipted(devices: list[SimDevice]) -> bool:
    return outstanding(devices) == 0


@pytest.mark.slow  # ~45 s here; `make test` keeps the short rows of tests/faults, `make faults` runs this
async def test_gateway_sigkill_during_a_burst_loses_and_doubles_nothing(stack: Stack) -> None:
    creds = await stack.add_devices(100)
    gateway = GatewayProcess(stack)
    await gateway.start()
    devices = await stack.start_devices(creds, resend_base_s=1.0, resend_max_s=2.0)
    try:
        # 1,000 alerts: 10 presses on each of 100 buttons, as fast as they can
        for _ in range(10):
            for dev in devices:
                dev.press()
            await asyncio.sleep(0)

        async def some_committed() -> bool:
            return (await counts(stack))[0] >= 150

        await wait_for(some_committed, timeout=30, what="the burst to be under way")
        await gateway.kill()
        killed_at = (await counts(stack))[0]
        await gateway.start()
        t0 = time.monotonic()
        await wait_for(lambda: all_receipted(devices), timeout=90, what="every device to hold its receipts")
        recovery = time.monotonic() - t0
    except AssertionError:
        print(gateway.log_tail())
        raise
    finally:
        await gateway.terminate()
    incidents, alerts = await counts(stack)
    print(f"\ngateway SIGKILL at {killed_at} incidents; recovered in {recovery:.1f}s")
    assert incidents == 1000 and alerts == 1000
    assert sum(len(d.receipts) for d in devices) == 1000
    # one incident per (device, seq), and each device's receipts name those incidents
    async with stack.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT a.device_id, a.seq, i.id::text FROM alert a JOIN incident i ON i.alert_id = a.id"
        )
    by_key = {(r["device_id"], r["seq"]): r["id"] for r in rows}
    for dev in devices:
        for seq, incident in dev.receipts.items():
            assert by_key[(dev.device_id, seq)] == incident


async def test_gateway_sigterm_drains_and_exits_cleanly(stack: Stack) -> None:
    creds = await stack.add_devices(20)
    gateway = GatewayProcess(stack)
    await gateway.start()
    devices = await stack.start_devices(creds)
    for _ in range(5):
        for dev in devices:
            dev.press()
    await wait_for(lambda: _incidents_at_least(stack, 20), timeout=30, what="alerts flowing")
    code = await gateway.terminate()
    assert code == 0, gateway.log_tail()
    await gateway.start()
    try:
        await wait_for(lambda: all_receipted(devices), timeout=60, what="receipts after restart")
    finally:
        await gateway.terminate()
    assert await counts(stack) == (100, 100)


async def _incidents_at_least(stack: Stack, n: int) -> bool:
    return (await counts(stack))[0] >= n


async def test_broker_sigkill_after_puback_the_outboxes_resend(stack: Stack) -> None:
    """Mosquitto acks the devices' alerts and queues them for the gateway's persistent session,
    then dies before its next persistence snapshot: those alerts exist nowhere but in the devices'
    outboxes. The outboxes re-send until receipted, so nothing is lost."""
    creds = await stack.add_devices(20)
    # first run: the gateway registers its persistent session and subscriptions, then leaves
    async with gateway_running(stack):
        pass
    devices = await stack.start_devices(creds, resend_base_s=1.0, resend_max_s=2.0)
    for _ in range(5):
        for dev in devices:
            dev.press()

    async def broker_acked_everything() -> bool:  # paho drops a QoS 1 message once PUBACKed
        return all(not dev.client._out_messages for dev in devices)

    # the broker has acked all 100 alerts and holds them for the gateway, which is not connected
    await wait_for(broker_acked_everything, timeout=15, what="PUBACKs for every alert")
    stack.broker.kill()
    stack.broker.start()
    async with gateway_running(stack):
        await wait_for(lambda: all_receipted(devices), timeout=60, what="receipts after the broker restart")
    assert await counts(stack) == (100, 100)
    assert sum(d.counters.resends for d in devices) > 0  # the outboxes, not the broker, saved them

