"""The fault matrix (issue 8): alerts, telemetry, operator actions and complaint changes through
each fault; afterwards nothing is lost and nothing is doubled. `make faults` runs every row and
prints the table; `make test` runs the short rows (marker faults, not slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.faults.conftest import FaultTable
from tests.faults.rig import Options, Rig, build_rig
from tests.faults.scenario import Plan, Run, run_row
from tests.support import wait_for

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


@pytest.mark.slow
async def test_gateway_sigkill(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """`siaga run --role gateway` SIGKILLed mid-burst (commits in flight, PUBACKs not sent), restarted."""

    async def kill(rig: Rig, run: Run) -> str:
        async with rig.handling("gateway") as gateway:
            await gateway.kill()
            await gateway.start()
        return "SIGKILL mid-burst, restarted at once"

    plan = Plan("gateway SIGKILL", presses=15, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, kill, fault_table)


@pytest.mark.slow
async def test_gateway_sigterm(db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """SIGTERM drains: the gateway stops taking work, exits 0; a new one takes over."""

    async def term(rig: Rig, run: Run) -> str:
        async with rig.handling("gateway") as gateway:
            code = await gateway.terminate()
            assert code == 0, gateway.log_tail()
            await gateway.start()
        return "SIGTERM mid-burst (exit 0), restarted"

    plan = Plan("gateway SIGTERM", presses=15, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, term, fault_table)


@pytest.mark.slow
async def test_dispatch_sigkill_during_escalation(
    db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Half the incidents are never acknowledged and escalate after 2 s and 4 s; the dispatch role
    is SIGKILLed while it fires those timers, and restarted. Each escalation happens exactly once."""

    async def kill(rig: Rig, run: Run) -> str:
        async def escalating() -> bool:
            conn = await asyncpg.connect(rig.dsn)
            try:
                n = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'incident.escalate'")
                return n >= 5
            finally:
                await conn.close()

        await wait_for(escalating, timeout=30, interval=0.05, what="escalations under way")
        async with rig.handling("dispatch") as dispatch:
            await dispatch.kill()
            await asyncio.sleep(1)  # timers fall due while no dispatch runs
            await dispatch.start()
        return "SIGKILL while firing escalation timers (2 s / 4 s), restarted after 1 s"

    def ack(device_id: str) -> bool:
        return int(device_id.rsplit("-", 1)[1]) % 2 == 0

    env = {"SIAGA_ESCALATE_SUPERVISOR_S": "2", "SIAGA_ESCALATE_COMMAND_CENTRE_S": "4"}
    plan = Plan("dispatch SIGKILL during escalation", presses=5, press_s=6, fault_at_s=1)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(env=env)) as rig:
        outcome = await run_row(rig, plan, kill, fault_table, ack_device=ack)
        conn = await asyncpg.connect(rig.dsn)
        try:
            # every incident nobody acknowledged went through both levels, once each
            rows = await conn.fetch(
                """SELECT i.id, t.escalation_level,
                          (SELECT count(*) FROM audit_log a WHERE a.action = 'incident.escalate'
                              AND a.object_id = i.id::text) AS n
                     FROM incident i JOIN incident_track t ON t.incident_id = i.id WHERE i.state = 'new'"""
            )
        finally:
            await conn.close()
    assert rows and outcome.escalations >= 2 * len(rows)
    assert all(r["escalation_level"] == 2 and r["n"] == 2 for r in rows), [dict(r) for r in rows if r["n"] != 2]


@pytest.mark.slow
async def test_broker_sigkill_and_restart(
    db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Mosquitto SIGKILLed (its last persistence snapshot is all it keeps) and started again."""

    async def kill(rig: Rig, run: Run) -> str:
        rig.stack.broker.kill()
        await asyncio.sleep(1)
        await asyncio.to_thread(rig.stack.broker.start)
        return "SIGKILL, restarted after 1 s"

    plan = Plan("broker SIGKILL + restart", presses=10, press_s=6, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options()) as rig:
        await run_row(rig, plan, kill, fault_table)


@pytest.mark.slow
async def test_postgres_restart(tmp_path: Path, topic_root: str, fault_table: FaultTable) -> None:
    """The database crashes (pg_ctl stop -m immediate: no checkpoint) and starts again (WAL replay)."""

    async def restart(rig: Rig, run: Run) -> str:
        assert rig.pg is not None
        await asyncio.to_thread(rig.pg.restart, "immediate")
        return "pg_ctl stop -m immediate, then start (crash recovery)"

    plan = Plan("PostgreSQL restart (immediate)", presses=10, press_s=6, fault_at_s=2)
    async with build_rig(None, tmp_path, topic_root, Options(own_pg=True)) as rig:
        await run_row(rig, plan, restart, fault_table)


@pytest.mark.slow
@pytest.mark.parametrize("cut_s", [30.0])
async def test_database_unreachable(
    cut_s: float, db_dsn: str, tmp_path: Path, topic_root: str, fault_table: FaultTable
) -> None:
    """Every role loses the database for ``cut_s`` (connections reset, new ones refused) while
    alerts, telemetry and operator actions keep coming."""

    async def cut(rig: Rig, run: Run) -> str:
        assert rig.db_proxy is not None
        await rig.db_proxy.cut_for(cut_s)
        return f"database refused for {cut_s:.0f} s (every role)"

    plan = Plan(f"database unreachable {cut_s:.0f}s", press_s=cut_s + 4, fault_at_s=2)
    async with build_rig(db_dsn, tmp_path, topic_root, Options(db_proxy=True)) as rig:
        await run_row(rig, plan, cut, fault_table)
