"""One row of the fault matrix: traffic before, during and after a fault, then the check."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from firmware_sim.device import SimDevice
from tests.faults.conftest import FaultRow, FaultTable
from tests.faults.rig import Rig
from tests.faults.traffic import Driver, Outcome, check, make_complaints, outstanding
from tests.support import wait_for

Fault = Callable[[Rig, "Run"], Awaitable[str | None]]


@dataclass
class Plan:
    fault: str
    devices: int = 20
    presses: int = 5  # per device, spread over press_s
    press_s: float = 10.0
    fault_at_s: float = 3.0  # after traffic starts
    complaints: int = 10
    recover_timeout_s: float = 180.0


@dataclass
class Run:
    """What a fault function may look at while traffic flows."""

    devices: list[SimDevice]
    driver: Driver


async def run_row(
    rig: Rig,
    plan: Plan,
    fault: Fault,
    table: FaultTable,
    *,
    ack_device: Callable[[str], bool] = lambda device_id: True,
    device_factory: type[SimDevice] | None = None,
    settled: Callable[[Rig], Awaitable[bool | str]] | None = None,
    with_notes: bool = False,
) -> Outcome:
    creds = await rig.add_devices(plan.devices + 1)
    # the roles take seconds to import and load the areas: seed the complaints meanwhile
    roles = asyncio.create_task(rig.start_roles("gateway", "dispatch", "web"), name="roles")
    complaint_ids = await make_complaints(rig, plan.complaints)
    await roles
    await asyncio.gather(rig.login("cc"), rig.login("complaints"))
    # the gateway is up and subscribed once a probe button's alert comes back receipted
    probe_cred, creds = creds[0], creds[1:]
    (probe,) = await rig.stack.start_devices([probe_cred])
    first = probe.press()
    try:
        async with asyncio.timeout(60):
            await probe.wait_receipt(first)
    except TimeoutError:
        raise AssertionError("the gateway never receipted a first alert\n" + rig.logs()) from None
    if device_factory is None:
        devices = await rig.stack.start_devices(creds, telemetry_qos=1, resend_base_s=1.0, resend_max_s=3.0)
    else:
        devices = await start_custom_devices(rig, creds, device_factory)

    supervisor = asyncio.create_task(rig.supervise(), name="supervisor")
    driver = Driver(
        rig,
        devices,
        complaint_ids,
        ack_device=ack_device,
        complaint_every_s=plan.press_s / max(1, plan.complaints),
        with_notes=with_notes,
    )
    driver.start_background()
    presses = asyncio.create_task(driver.presses(plan.press_s, plan.presses), name="presses")
    note = None
    try:
        await asyncio.sleep(plan.fault_at_s)
        note = await fault(rig, Run(devices, driver))
        fault_over = time.monotonic()
        await presses

        async def receipted() -> bool:
            return outstanding(devices) == 0

        try:
            await wait_for(receipted, timeout=plan.recover_timeout_s, interval=0.1, what="every alert receipted")
            recover_s = time.monotonic() - fault_over
        except AssertionError:
            recover_s = math.inf  # never: the row is still checked and shown

        await driver.finish()

        async def timers_caught_up() -> bool:
            out = await check(rig.dsn, devices, [])
            return out.timers_overdue == 0

        await wait_for(timers_caught_up, timeout=60, interval=0.5, what="dispatch to fire every due timer")
        async def telemetry_in() -> bool:
            out = await check(rig.dsn, devices, [])
            return out.telemetry_stored >= out.telemetry_sent

        # QoS 1 telemetry is acked after commit, so it should all arrive, if later than the alerts
        # (its session reconnects on its own backoff); a broker SIGKILL may lose what it had acked
        with contextlib.suppress(AssertionError):
            await wait_for(telemetry_in, timeout=30, interval=0.5, what="telemetry")
        if settled is not None:
            end = await wait_for(lambda: settled(rig), timeout=60, interval=0.5, what="the row's own end state")
            if isinstance(end, str):
                note = f"{note}; {end}" if note else end
    except BaseException:
        presses.cancel()
        await driver.cancel()
        print(rig.logs())
        raise
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    outcome = await check(rig.dsn, devices, driver.actions)
    table.add(
        FaultRow(
            fault=plan.fault,
            sent=outcome.alerts_sent,
            incidents=outcome.incidents,
            lost=outcome.lost,
            duplicates=outcome.duplicated,
            recover_s=recover_s,
            actions=outcome.actions,
            refused_retries=outcome.retries_refused_cleanly,
            telemetry_sent=outcome.telemetry_sent,
            telemetry_stored=outcome.telemetry_stored,
            escalations=outcome.escalations,
            crashes=", ".join(f"{k} x{v}" for k, v in sorted(rig.crashes.items())),
            note=note or "",
        )
    )
    print(f"\n{plan.fault}: {outcome}")
    assert outcome.lost == 0 and outcome.duplicated == 0, (outcome, rig.logs())
    assert not rig.crashes, f"roles died under the fault and had to be restarted: {rig.crashes}"
    assert math.isfinite(recover_s), f"alerts still in the outboxes after {plan.recover_timeout_s:.0f} s"
    assert outcome.receipts_wrong == 0, outcome
    assert outcome.actions_failed == 0, outcome.details
    assert outcome.actions > 0
    return outcome


async def start_custom_devices(rig: Rig, creds: list[tuple[str, str]], cls: type[SimDevice]) -> list[SimDevice]:
    from tests.gateway.harness import ALUN_ALUN

    stack = rig.stack
    config = stack.sim_config(telemetry_qos=1, resend_base_s=1.0, resend_max_s=3.0)
    devices = [cls(d, s, config, ALUN_ALUN) for d, s in creds]
    for dev in devices:
        stack._tasks.append(asyncio.create_task(dev.run(), name=f"sim-{dev.device_id}"))
    async with asyncio.timeout(15):
        for dev in devices:
            await dev.conn.wait_connected()
    stack.devices += devices
    return devices
