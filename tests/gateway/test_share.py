"""Two gateway processes on one MQTT share group ($share/<group>/...), on a real Mosquitto.

The broker's own log (debug level) says which member each alert went to. One member is SIGKILLed
in the middle of a burst: afterwards every alert is exactly one incident and every device holds
its receipts. The downlink outbox is published once although both members claim from it; a
member stopped with SIGTERM leaves the group; the devices' Last Wills are recorded.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import pytest

from bench.share import member_settings, start_member
from firmware_sim.device import SimDevice
from gateway.mqtt_gateway import gateway_client_id
from tests.gateway.harness import GatewayProcess, Stack
from tests.support import wait_for

pytestmark = pytest.mark.faults

GROUP = "siaga"


@dataclass
class Member:
    proc: GatewayProcess
    client_id: str

    async def start(self) -> None:
        await start_member(self.proc, self.client_id)


def member(stack: Stack, name: str) -> Member:
    proc = GatewayProcess(stack, name)
    proc.env.update(SIAGA_MQTT_SHARE_GROUP=GROUP, SIAGA_GATEWAY_ID=name)
    return Member(proc, gateway_client_id(member_settings(stack.settings, name, GROUP)))


def broker_debug_log(stack: Stack) -> None:
    """Mosquitto logs every PUBLISH it sends, with the receiving client id (re-read on SIGHUP)."""
    conf = stack.broker.conf
    conf.write_text(conf.read_text() + "log_type debug\n")
    stack.broker.reload()


def alerts_sent_to(stack: Stack, m: Member) -> int:
    log = (stack.broker.directory / "mosquitto.log").read_text(errors="replace")
    pattern = re.compile(rf"Sending PUBLISH to {re.escape(m.client_id)}-alerts \(d\d, q1, r0, m\d+, '[^']*/alert'")
    return len(pattern.findall(log))


async def counts(stack: Stack) -> tuple[int, int]:
    row = await stack.pool.fetchrow(
        "SELECT (SELECT count(*) FROM incident) AS incidents,"
        " (SELECT count(DISTINCT (device_id, seq)) FROM alert) AS alerts"
    )
    return row["incidents"], row["alerts"]


async def all_receipted(devices: list[SimDevice]) -> bool:
    return all(not d.outbox for d in devices)


def press_round(devices: list[SimDevice], rounds: int) -> int:
    for _ in range(rounds):
        for dev in devices:
            dev.press()
    return rounds * len(devices)


async def press_paced(devices: list[SimDevice], rounds: int, seconds: float) -> None:
    for _ in range(rounds):
        press_round(devices, 1)
        await asyncio.sleep(seconds / rounds)


async def check_downlinks_once(stack: Stack, devices: list[SimDevice], per_device: int = 5) -> list[str]:
    """Rows other roles wrote to the outbox, inserted in small transactions so that both members
    are woken and race for them: each reaches its device exactly once."""
    base = 10_000
    for k in range(per_device):
        await stack.pool.executemany(
            "INSERT INTO downlink (device_id, payload) VALUES ($1, $2)",
            [
                (
                    d.device_id,
                    {"seq": base + k, "incident_id": "00000000-0000-0000-0000-000000000000", "state": "acknowledged"},
                )
                for d in devices
            ],
        )

    async def all_sent() -> bool:
        return not await stack.pool.fetchval("SELECT count(*) FROM downlink WHERE sent_at IS NULL")

    await wait_for(all_sent, timeout=20, what="the outbox to be sent")

    async def all_arrived() -> bool:
        return all(base + k in d.states for d in devices for k in range(per_device))

    await wait_for(all_arrived, timeout=20, what="every downlink at its device")
    for d in devices:
        for k in range(per_device):
            assert d.states[base + k] == ["acknowledged"], (d.device_id, base + k, d.states[base + k])
    return [r["claimed_by"] for r in await stack.pool.fetch("SELECT DISTINCT claimed_by FROM downlink")]


async def assert_each_alert_once(stack: Stack, devices: list[SimDevice]) -> None:
    rows = await stack.pool.fetch(
        "SELECT a.device_id, a.seq, i.id::text AS incident FROM alert a JOIN incident i ON i.alert_id = a.id"
    )
    by_key = {(r["device_id"], r["seq"]): r["incident"] for r in rows}
    assert len(by_key) == len(rows)
    expected = {(d.device_id, seq) for d in devices for seq in range(1, d.seq + 1)}
    assert set(by_key) == expected
    for d in devices:
        assert d.receipts == {seq: by_key[(d.device_id, seq)] for seq in range(1, d.seq + 1)}


async def run_share(stack: Stack, n_devices: int, rounds: int, *, restart_at_once: bool) -> None:
    creds = await stack.add_devices(n_devices)
    broker_debug_log(stack)
    a, b = member(stack, "gw-a"), member(stack, "gw-b")
    t_start = time.monotonic()
    await asyncio.gather(a.start(), b.start())
    print(f"\nmembers up in {time.monotonic() - t_start:.1f} s")
    try:
        devices = await stack.start_devices(creds, resend_base_s=1.0, resend_max_s=2.0)
        claimers = await check_downlinks_once(stack, devices)
        print(f"downlinks claimed by {claimers}")

        # a paced burst, so that alerts are pressed before, during and after the kill
        total = rounds * n_devices
        burst = asyncio.create_task(press_paced(devices, rounds, 1.0))

        async def under_way() -> bool:
            return (await counts(stack))[0] >= total // 4

        await wait_for(under_way, timeout=30, what="the burst to be under way")
        await b.proc.kill()
        killed_at = (await counts(stack))[0]
        await burst
        to_a, to_b = alerts_sent_to(stack, a), alerts_sent_to(stack, b)
        assert to_a > 0 and to_b > 0, (to_a, to_b)
        t0 = time.monotonic()
        if restart_at_once:  # as a supervisor would: b's session is replayed into b
            await b.start()
        await wait_for(lambda: all_receipted(devices), timeout=120, what="every device to hold its receipts")
        recovery = time.monotonic() - t0
        if not restart_at_once:  # recovered by the outboxes' re-sends to a alone; now b comes back
            await b.start()
        # b takes its share again: its session's backlog is replayed first, then these
        before_b = alerts_sent_to(stack, b)
        total += press_round(devices, 1)
        await wait_for(lambda: all_receipted(devices), timeout=30, what="receipts with b back")
        assert alerts_sent_to(stack, b) > before_b

        # b leaves with SIGTERM: it unsubscribes, so nothing waits for it in its session
        assert await b.proc.terminate() == 0, b.proc.log_tail()
        resends = sum(d.counters.resends for d in devices)
        for d in devices:
            d.config.resend_base_s = 10.0  # one config object, shared by the stack's devices
        total += press_round(devices, 1)
        await wait_for(lambda: all_receipted(devices), timeout=9, what="receipts from a alone, first try")
        assert sum(d.counters.resends for d in devices) == resends

        # Last Wills: b back in the group, every button loses power; each device's 'offline'
        # reaches one of the two members and is recorded
        await b.start()

        async def all_online(online: bool = True) -> bool:
            return not await stack.pool.fetchval("SELECT count(*) FROM device WHERE online IS DISTINCT FROM $1", online)

        await wait_for(all_online, timeout=20, what="every device recorded online")
        await stack.stop_devices(power_cut=True)
        await wait_for(lambda: all_online(False), timeout=20, what="every device recorded offline")
    except AssertionError:
        print(a.proc.log_tail(), b.proc.log_tail(), sep="\n")
        raise
    finally:
        await b.proc.terminate()
        assert await a.proc.terminate() == 0, a.proc.log_tail()

    incidents, alerts = await counts(stack)
    absorbed = sum(max(0, s.count("received") - 1) for d in devices for s in d.states.values())
    print(
        f"alerts to a/b before the kill: {to_a}/{to_b}; b SIGKILLed at {killed_at} incidents;"
        f" all receipted {recovery:.1f} s later; {absorbed} redeliveries absorbed"
    )
    assert incidents == alerts == total
    await assert_each_alert_once(stack, devices)


async def test_two_gateways_share_the_load_and_survive_a_sigkill(stack: Stack) -> None:
    await run_share(stack, 20, 10, restart_at_once=True)


@pytest.mark.slow
async def test_survivor_and_resends_alone_recover_a_sigkill_then_the_replay_is_absorbed(stack: Stack) -> None:
    await run_share(stack, 100, 30, restart_at_once=False)
