"""The fault matrix (issue 8): alerts, telemetry, operator actions and complaint changes through
each fault; afterwards nothing is lost and nothing is doubled. `make faults` runs every row and
prints the table; `make test` runs the short rows (marker faults, not slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.conftest import FaultTable
from tests.faults.rig import Options, Rig, build_rig
from tests.faults.scenario import Plan, Run, run_row

pytestmark = pytest.mark.faults

# The outages of the issue last 30 s; the fast subset uses the same rows with short ones.
CUT = [pytest.param(5.0, id="5s"), pytest.param(30.0, id="30s", marks=pytest.mark.slow)]


async def test_slow_database(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """Every role's database connection gets 100 ms each way (200 ms a round trip) for 4 s."""

    async def slow(rig: Rig, run: Run) -> str:
        assert rig.db_proxy is not None
        rig.db_proxy.latency_s = 0.1
        await asyncio.sleep(4)
        rig.db_proxy.latency_s = 0.0
        return "+200 ms per database round trip for 4 s"

    async with build_rig(db_dsn, tmp_path, topic_root, Options(db_proxy=True)) as rig:
        await run_row(rig, Plan("slow database (+200 ms RTT)", press_s=5, fault_at_s=1), slow, fault_table)


@pytest.mark.parametrize("cut_s", CUT)
async def test_broker_unreachable_from_the_gateway(
    cut_s: float, db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """The gateway's link to the broker is cut (RST, new connections refused); devices keep theirs."""

    async def cut(rig: Rig, run: Run) -> str:
        assert rig.broker_proxy is not None
        await rig.broker_proxy.cut_for(cut_s)
        return f"gateway<->broker refused for {cut_s:.0f} s"

    plan = Plan(f"broker cut from gateway {cut_s:.0f}s", press_s=cut_s + 2, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(broker_proxy=True)) as rig:
        await run_row(rig, plan, cut, fault_table)
