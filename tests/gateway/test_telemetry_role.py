"""Telemetry in a process of its own: `siaga run --role telemetry` beside a gateway started with
SIAGA_GATEWAY_TELEMETRY=false, both real child processes on the stack's own Mosquitto.

The gateway holds only the alerts session, the telemetry process only the telemetry session.
With the telemetry process SIGKILLed, alerts are still committed and receipted, and no telemetry
is committed (nobody else holds that session); restarted, it commits every QoS 1 reading its
persistent session kept meanwhile, each once.
"""

from __future__ import annotations

import asyncio
import signal

from firmware_sim.device import SimDevice
from siaga.procs import RoleProcess, role_env
from tests.gateway.harness import GatewayProcess, Stack
from tests.support import wait_for


def sessions_subscribed(proc: RoleProcess, client_id: str) -> dict[str, int]:
    text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
    return {kind: text.count(f"session {client_id}-{kind} subscribed") for kind in ("alerts", "telemetry")}


async def start_and_wait(proc: RoleProcess, client_id: str, kind: str) -> None:
    before = sessions_subscribed(proc, client_id)[kind]
    await proc.start()

    async def subscribed() -> bool:
        if proc.proc is not None and proc.proc.returncode is not None:
            raise AssertionError(f"{proc.argv} exited:\n{proc.log_tail()}")
        return sessions_subscribed(proc, client_id)[kind] > before

    await wait_for(subscribed, timeout=30, what=f"the {kind} session of {proc.argv[-1]}")


async def telemetry_rows(stack: Stack) -> int:
    return int(await stack.pool.fetchval("SELECT count(*) FROM telemetry"))


async def press_and_receipt(devices: list[SimDevice]) -> None:
    seqs = [(d, d.press()) for d in devices]
    async with asyncio.timeout(15):
        for d, seq in seqs:
            await d.wait_receipt(seq)


async def test_alerts_and_telemetry_in_separate_processes(stack: Stack) -> None:
    creds = await stack.add_devices(4, prefix="split")
    client_id = stack.settings.mqtt_client_id
    gateway = GatewayProcess(stack, "gw-alerts")
    gateway.env["SIAGA_GATEWAY_TELEMETRY"] = "false"
    telemetry = RoleProcess(role_env(stack.settings), "telemetry", stack.workdir / "telemetry.log")
    await start_and_wait(gateway, client_id, "alerts")
    await start_and_wait(telemetry, client_id, "telemetry")
    try:
        assert sessions_subscribed(gateway, client_id)["telemetry"] == 0, "the gateway took the telemetry session"
        assert sessions_subscribed(telemetry, client_id)["alerts"] == 0, "the telemetry role took the alerts session"
        devices = await stack.start_devices(creds, telemetry_qos=1)

        await press_and_receipt(devices)
        for d in devices:
            d.send_telemetry()
        await wait_for(lambda: _rows_are(stack, 4), timeout=15, what="4 telemetry rows")

        # the telemetry process dies: alerts go on, telemetry waits in its broker session
        assert telemetry.proc is not None
        telemetry.proc.send_signal(signal.SIGKILL)
        await telemetry.proc.wait()
        for _ in range(5):
            for d in devices:
                d.send_telemetry()
        await press_and_receipt(devices)
        await asyncio.sleep(1.0)  # time enough for anyone else to commit telemetry, were it taken
        assert await telemetry_rows(stack) == 4
        assert await stack.pool.fetchval("SELECT count(*) FROM incident") == 8

        # back: what its persistent session kept is committed, once
        await start_and_wait(telemetry, client_id, "telemetry")
        await wait_for(lambda: _rows_are(stack, 24), timeout=20, what="24 telemetry rows")
        await asyncio.sleep(0.5)  # an observation window: a second commit of the replay would land in it
        assert await telemetry_rows(stack) == 24
        assert await stack.pool.fetchval("SELECT count(*) FROM alert") == 8
    finally:
        await stack.stop_devices()
        await telemetry.terminate()
        await gateway.terminate()


async def _rows_are(stack: Stack, n: int) -> bool:
    return await telemetry_rows(stack) >= n
