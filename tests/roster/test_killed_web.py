"""Presence survives a web process being killed (marked faults): the consoles of a SIGKILLed web
process stop counting after the staleness window, and their agency's incident goes to the command
centre; a console on another web process keeps its agency staffed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from core import audit
from core.settings import Settings
from dispatch import roster, roster_rules
from siaga.procs import RoleProcess, role_env
from tests.dispatch import factory
from tests.roster.conftest import dispatcher
from tests.support import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # run by make faults

PRESENCE = {"SIAGA_PRESENCE_BEAT_S": "0.2", "SIAGA_PRESENCE_STALE_S": "1.0"}


async def _web(db_dsn: str, log: Path) -> tuple[RoleProcess, str]:
    env = role_env(Settings(database_url=db_dsn), **PRESENCE)
    proc = RoleProcess(env, "web", log)
    await proc.start()
    url = f"http://127.0.0.1:{env['SIAGA_HTTP_PORT']}"

    async def up() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{url}/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await wait_for(up, timeout=30, interval=0.1, what="web role up")
    except AssertionError:
        raise AssertionError(proc.log_tail()) from None
    return proc, url


@pytest.fixture
async def two_webs(db_dsn: str, world: factory.World, tmp_path: Path) -> AsyncIterator[list[tuple[RoleProcess, str]]]:
    procs = [await _web(db_dsn, tmp_path / f"web{i}.log") for i in (1, 2)]
    try:
        yield procs
    finally:
        for proc, _ in procs:
            await proc.kill()


async def _console(session: aiohttp.ClientSession, url: str, username: str) -> aiohttp.ClientWebSocketResponse:
    r = await session.post(f"{url}/api/v1/login", json={"username": username, "password": factory.PASSWORD})
    token = (await r.json())["token"]
    ws = await session.ws_connect(f"{url}/api/v1/stream", headers={"Authorization": f"Bearer {token}"})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    return ws


async def test_killed_web_process_leaves_no_phantom_operator(
    db_dsn: str, pool: asyncpg.Pool, world: factory.World, two_webs: list[tuple[RoleProcess, str]]
) -> None:
    settings = Settings(database_url=db_dsn, dispatch_poll_s=0.1, presence_beat_s=0.2, presence_stale_s=1.0)
    async with pool.acquire() as conn:
        for agency in (world.polsek_wonosobo, world.dishub):
            await roster.save_shift(conn, audit.SYSTEM, agency, roster_rules.make_shift("H", "Harian", "00:00", 24))
    (doomed, doomed_url), (_, other_url) = two_webs
    async with aiohttp.ClientSession() as session, dispatcher(settings, db_dsn):
        # keep the sockets referenced: a collected client socket closes
        consoles = [await _console(session, doomed_url, "op-polsek"), await _console(session, other_url, "op-dishub")]

        async def staffed() -> bool:
            return await pool.fetchval("SELECT count(*) FROM agency_attendance WHERE present") == 2

        await wait_for(staffed, timeout=3, what="both agencies staffed")
        async with pool.acquire() as conn:
            polsek = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
            crash = await factory.incident(
                conn, type="accident", police_agency_id=world.polsek_wonosobo, dishub_unit_id=world.dishub_post
            )

        async def routed() -> bool:
            return await pool.fetchval("SELECT count(*) FROM incident_track") == 2

        await wait_for(routed, timeout=3)
        assert await pool.fetchval("SELECT count(*) FROM incident_cover") == 0

        killed = time.monotonic()
        await doomed.kill()

        async def covered() -> list[tuple[str, int]]:
            rows = await pool.fetch("SELECT incident_id::text AS i, empty_agency_id FROM incident_cover")
            return sorted((r["i"], r["empty_agency_id"]) for r in rows)

        got = await wait_for(covered, timeout=5, interval=0.02, what="the killed console's agency covered")
        took = time.monotonic() - killed
        # both incidents were the polsek's; the accident's Dishub side stays with the live console
        assert got == sorted(
            [(str(polsek.incident_id), world.polsek_wonosobo), (str(crash.incident_id), world.polsek_wonosobo)]
        )

        async def alarms() -> int:
            return await pool.fetchval("SELECT count(*) FROM event WHERE kind = 'agency.unattended'")

        # the alarm follows in the same pass, just after the cover
        assert await wait_for(alarms, timeout=1, what="the command centre alarmed") == 1
        assert not consoles[1].closed
    # the window is 1.0 s after the last beat (<= 0.2 s before the kill), plus one 0.1 s pass
    assert took < 1.0 + 0.5
    print(f"\nweb process killed -> its agency's incidents with the command centre after {took * 1000:.0f} ms")
