"""Escalation timers: each fires exactly once, whichever of several dispatch processes takes it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import asyncpg
import pytest

from core.settings import Settings
from dispatch import service
from tests.dispatch import factory
from tests.dispatch.conftest import dispatcher
from tests.support import wait_for

FAST: dict[str, Any] = {
    "escalate_supervisor_s": 0.4,
    "escalate_command_centre_s": 0.8,
    "on_scene_flag_s": 0.4,
    "dispatch_poll_s": 0.05,
}


async def _escalations(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch(
        "SELECT incident_id::text AS i, (data->>'level')::int AS level FROM event "
        "WHERE kind = 'incident.escalated' ORDER BY id"
    )
    return [(r["i"], r["level"]) for r in rows]


async def test_escalation_once_with_two_dispatchers(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    settings = Settings(database_url=db_dsn, **FAST)
    async with dispatcher(settings, db_dsn), dispatcher(settings, db_dsn):
        async with pool.acquire() as conn:
            made = [await factory.incident(conn, police_agency_id=world.polsek_wonosobo) for _ in range(6)]
            handled = await factory.incident(conn, police_agency_id=world.polsek_kertek)

        async def routed() -> bool:
            return await pool.fetchval("SELECT count(*) FROM incident_track") == 7

        await wait_for(routed, timeout=5, what="all incidents routed")
        # one is acknowledged in time: no escalation, but flagged when nobody is on scene
        await service.transition(
            pool, settings, world.users["op-kertek"], handled.incident_id, service.TransitionRequest("acknowledged")
        )

        async def all_fired() -> bool:
            return await pool.fetchval("SELECT count(*) FROM dispatch_timer WHERE fired_at IS NULL") == 0

        await wait_for(all_fired, timeout=10, what="every timer fired")

    esc = await _escalations(pool)
    assert sorted(esc) == sorted((str(m.incident_id), level) for m in made for level in (1, 2))
    outcomes = await pool.fetch("SELECT incident_id, kind, outcome FROM dispatch_timer ORDER BY id")
    assert {(r["kind"], r["outcome"]) for r in outcomes if r["incident_id"] == handled.incident_id} == {
        ("ack_supervisor", "skipped:acknowledged"),
        ("ack_command_centre", "skipped:acknowledged"),
        ("on_scene", "flagged"),
    }
    # level 2 brought in the command centre and the polres above the polsek
    rows = await pool.fetch(
        "SELECT agency_id, reason FROM incident_assignment WHERE incident_id = $1 ORDER BY agency_id",
        made[0].incident_id,
    )
    assert {(r["agency_id"], r["reason"]) for r in rows} == {
        (world.command_centre, "escalation"),
        (world.polres, "escalation"),
        (world.polsek_wonosobo, "rule"),
    }
    flagged = await pool.fetchval("SELECT count(*) FROM event WHERE kind = 'incident.flagged'")
    assert flagged == 1
    audit = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'incident.escalate'")
    assert audit == 12


_CHILD = """
import asyncio, sys
from core.db import open_pool
from core.settings import Settings
from dispatch.runner import run_dispatch

async def main():
    settings = Settings(database_url=sys.argv[1], escalate_supervisor_s=float(sys.argv[2]),
                        escalate_command_centre_s=float(sys.argv[3]), dispatch_poll_s=0.05)
    async with open_pool(sys.argv[1], min_size=1, max_size=3) as pool:
        print("ready", flush=True)
        await run_dispatch(settings, pool, asyncio.Event())

asyncio.run(main())
"""


def _spawn(dsn: str, sup: float, cc: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, dsn, str(sup), str(cc)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.faults
async def test_escalation_survives_sigkill(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    """Two dispatch processes; one is SIGKILLed between the two escalation levels."""
    first = await asyncio.to_thread(_spawn, db_dsn, 0.3, 1.5)
    second = None
    try:
        async with pool.acquire() as conn:
            made = [await factory.incident(conn, police_agency_id=world.polsek_wonosobo) for _ in range(3)]

        async def level_one() -> bool:
            return len(await _escalations(pool)) >= 3

        await wait_for(level_one, timeout=10, what="first escalations")
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        second = await asyncio.to_thread(_spawn, db_dsn, 0.3, 1.5)

        async def all_fired() -> bool:
            return await pool.fetchval("SELECT count(*) FROM dispatch_timer WHERE fired_at IS NULL") == 0

        await wait_for(all_fired, timeout=15, what="every timer fired after the restart")
    finally:
        for p in (first, second):
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                await asyncio.to_thread(p.wait)
            if p.stdout is not None:
                p.stdout.close()
    assert sorted(await _escalations(pool)) == sorted((str(m.incident_id), lvl) for m in made for lvl in (1, 2))
