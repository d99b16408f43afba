"""Presence-aware routing: an alert to an agency with no one present reaches the command centre
within 1 s; the last console of an agency leaving with open incidents alarms once."""

from __future__ import annotations

import time
import uuid

import asyncpg

from core import audit
from core.settings import Settings
from dispatch import presence, roster, roster_rules, service
from tests.dispatch import factory
from tests.roster.conftest import dispatcher
from tests.support import wait_for

FAST = {"dispatch_poll_s": 0.1, "presence_beat_s": 0.2, "presence_stale_s": 0.6}


async def _three_shifts(conn: asyncpg.Connection, agency_id: int) -> None:
    for code, name, start in (("P", "Pagi", "06:00"), ("S", "Siang", "14:00"), ("M", "Malam", "22:00")):
        await roster.save_shift(conn, audit.SYSTEM, agency_id, roster_rules.make_shift(code, name, start, 8))


async def _assignments(pool: asyncpg.Pool, iid: uuid.UUID) -> set[tuple[int, str]]:
    rows = await pool.fetch("SELECT agency_id, reason FROM incident_assignment WHERE incident_id = $1", iid)
    return {(r["agency_id"], r["reason"]) for r in rows}


async def test_alert_to_empty_agency_reaches_command_centre_within_1s(
    db_dsn: str, pool: asyncpg.Pool, world: factory.World
) -> None:
    settings = Settings(database_url=db_dsn, **FAST)
    async with pool.acquire() as conn:
        await _three_shifts(conn, world.polsek_wonosobo)
        # the polres operator account stands as on-call supervisor of the polsek right now
        polres_op = await conn.fetchval(
            "INSERT INTO app_user (username, password_hash, role, agency_id) VALUES ('spv-polres', 'x', 'operator', $1)"
            " RETURNING id",
            world.polres,
        )
        await conn.execute(
            """INSERT INTO roster_entry (agency_id, shift_id, day, user_id, on_call, starts_at, ends_at)
               SELECT $1, id, current_date, $2, true, now() - interval '1 hour', now() + interval '1 hour'
                 FROM shift_pattern WHERE agency_id = $1 AND code = 'P'""",
            world.polsek_wonosobo,
            polres_op,
        )
    async with dispatcher(settings, db_dsn), dispatcher(settings, db_dsn):
        async with pool.acquire() as conn:
            started = time.monotonic()
            made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)

        async def covered() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM event WHERE kind = 'incident.unattended' AND incident_id = $1", made.incident_id
            )

        await wait_for(covered, timeout=1.0, interval=0.01, what="the command centre took the incident")
        took = time.monotonic() - started
        assert took < 1.0
        # stays once, with two dispatchers
        await wait_for(lambda: _idle(pool), timeout=2)
    assert await _assignments(pool, made.incident_id) == {
        (world.polsek_wonosobo, "rule"),
        (world.command_centre, "unattended"),
        (world.polres, "on_call"),
    }
    ev = await pool.fetch("SELECT data FROM event WHERE kind = 'incident.unattended'")
    assert len(ev) == 1
    assert ev[0]["data"]["on_call"] == [{"user_id": polres_op, "username": "spv-polres"}]
    assert ev[0]["data"]["empty_agency_id"] == world.polsek_wonosobo
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'incident.unattended'") == 1
    # the command centre's operators see it in their list now
    async with pool.acquire() as conn:
        seen = await service.list_incidents(conn, world.users["op-cc"])
    assert [r["id"] for r in seen] == [made.incident_id]
    print(f"\nalert to an empty agency reached the command centre in {took * 1000:.0f} ms")


async def _idle(pool: asyncpg.Pool) -> bool:
    return (
        await pool.fetchval(
            "SELECT count(*) FROM incident i WHERE NOT EXISTS "
            "(SELECT 1 FROM incident_track t WHERE t.incident_id = i.id)"
        )
        == 0
    )


async def test_present_agency_keeps_its_alert(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    settings = Settings(database_url=db_dsn, **FAST)
    async with pool.acquire() as conn:
        await _three_shifts(conn, world.polsek_wonosobo)
        socket = await presence.connect(conn, world.users["op-polsek"], world.polsek_wonosobo, None)
    async with dispatcher(settings, db_dsn):
        async with pool.acquire() as conn:
            made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
            # an agency without a roster is not watched (unless presence_watch_all)
            other = await factory.incident(conn, police_agency_id=world.polsek_kertek)

        async def routed() -> bool:
            return await pool.fetchval("SELECT count(*) FROM incident_track") == 2

        await wait_for(routed, timeout=5)

        async def seen_present() -> bool:
            return await pool.fetchval(
                "SELECT present FROM agency_attendance WHERE agency_id = $1", world.polsek_wonosobo
            )

        # the loop has run with the console present; then beat, each time running the loop's
        # own pass in step with the test: a beating console leaves nothing to cover
        await wait_for(seen_present, timeout=5, what="the loop saw the console")
        for _ in range(5):
            async with pool.acquire() as conn:
                assert await presence.beat(conn, socket) == "ok"
                assert await presence.cover_unattended(conn, settings) == 0
        assert await _assignments(pool, made.incident_id) == {(world.polsek_wonosobo, "rule")}
        assert await _assignments(pool, other.incident_id) == {(world.polsek_kertek, "rule")}

        # the console stops beating (its web process was killed): after the staleness window
        # the incident goes to the command centre
        async def covered() -> bool:
            return (world.command_centre, "unattended") in await _assignments(pool, made.incident_id)

        await wait_for(covered, timeout=settings.presence_stale_s + 1.5, what="stale presence noticed")
        row = await pool.fetchrow("SELECT ended_at, end_reason FROM console_presence WHERE socket_id = $1", socket)
        assert row["end_reason"] == "stale"
        async with pool.acquire() as conn:
            assert await presence.beat(conn, socket) == "ended"


async def test_watch_all_covers_agencies_without_roster(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    settings = Settings(database_url=db_dsn, presence_watch_all=True, **FAST)
    async with dispatcher(settings, db_dsn):
        async with pool.acquire() as conn:
            made = await factory.incident(conn, police_agency_id=world.polsek_kertek)

        async def covered() -> bool:
            return (world.command_centre, "unattended") in await _assignments(pool, made.incident_id)

        await wait_for(covered, timeout=1.0, what="covered")


async def test_last_operator_leaving_with_open_incidents_alarms_once(
    db_dsn: str, pool: asyncpg.Pool, world: factory.World
) -> None:
    settings = Settings(database_url=db_dsn, **(FAST | {"presence_stale_s": 60.0}))  # clean closes only
    op = world.users["op-polsek"]
    async with pool.acquire() as conn:
        await _three_shifts(conn, world.polsek_wonosobo)
        first = await presence.connect(conn, op, world.polsek_wonosobo, None)
        second = await presence.connect(conn, op, world.polsek_wonosobo, None)
    async with dispatcher(settings, db_dsn), dispatcher(settings, db_dsn):
        async with pool.acquire() as conn:
            made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        await wait_for(lambda: _idle(pool), timeout=5)

        async def attendance() -> bool:
            return await pool.fetchval(
                "SELECT present FROM agency_attendance WHERE agency_id = $1", world.polsek_wonosobo
            )

        await wait_for(attendance, timeout=2, what="agency seen present")

        async def alarms() -> int:
            return await pool.fetchval("SELECT count(*) FROM event WHERE kind = 'agency.unattended'")

        await service.transition(pool, settings, op, made.incident_id, service.TransitionRequest("acknowledged"))
        async with pool.acquire() as conn:
            await presence.disconnect(conn, first)  # one console of two: still someone there
            # a pass after the close, serialised with both loops' by the attendance lock
            assert await presence.check_attendance(conn, settings) == 0
            assert await attendance()
            assert await alarms() == 0
            left = time.monotonic()
            await presence.disconnect(conn, second)

        await wait_for(alarms, timeout=1.0, interval=0.01, what="the command centre alarmed")
        took = time.monotonic() - left
        # more passes, the loops' and the test's own: no second alarm for the same transition
        async with pool.acquire() as conn:
            for _ in range(3):
                assert await presence.check_attendance(conn, settings) == 0
                assert await alarms() == 1
        # the acknowledged incident is not left with the empty agency either
        assert (world.command_centre, "unattended") in await _assignments(pool, made.incident_id)

        # back, and gone again: a new transition, a new alarm
        async with pool.acquire() as conn:
            again = await presence.connect(conn, op, world.polsek_wonosobo, None)
        await wait_for(attendance, timeout=2, what="present again")
        async with pool.acquire() as conn:
            await presence.disconnect(conn, again)

        async def two() -> bool:
            return await alarms() == 2

        await wait_for(two, timeout=2, what="second alarm")
    data = await pool.fetchval("SELECT data FROM event WHERE kind = 'agency.unattended' ORDER BY id LIMIT 1")
    assert data["agency_id"] == world.polsek_wonosobo
    assert data["open_incidents"] == [made.number]
    assert data["agencies"] == [world.command_centre]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'agency.unattended'") == 2
    print(f"\nlast console gone -> command centre alarmed in {took * 1000:.0f} ms")


async def test_no_alarm_without_open_incidents(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    settings = Settings(database_url=db_dsn, **FAST)
    async with pool.acquire() as conn:
        socket = await presence.connect(conn, world.users["op-dishub"], world.dishub, None)
        assert await presence.check_attendance(conn, settings) == 0
        await presence.disconnect(conn, socket)
        assert await presence.check_attendance(conn, settings) == 0
        assert await conn.fetchval("SELECT present FROM agency_attendance WHERE agency_id = $1", world.dishub) is False


async def test_signed_out_console_stops_counting(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> None:
    from core import auth

    settings = Settings(database_url=db_dsn, **FAST)
    async with pool.acquire() as conn:
        token, session = await auth.login(conn, settings, "op-polsek", factory.PASSWORD)
        socket = await presence.connect(conn, session.user, world.polsek_wonosobo, presence.session_key(token))
        names = {a["agency_id"]: a["operators"] for a in await presence.present(conn, settings.presence_stale_s)}
        assert names[world.polsek_wonosobo] == ["op-polsek"]
        await auth.logout(conn, token, session.user.actor())
        names = {a["agency_id"]: a["operators"] for a in await presence.present(conn, settings.presence_stale_s)}
        assert names[world.polsek_wonosobo] == []
        assert await presence.beat(conn, socket) == "signed_out"
        assert await presence.close_stale(conn, settings) == 1
        assert await conn.fetchval("SELECT end_reason FROM console_presence WHERE socket_id = $1", socket) == (
            "signed_out"
        )
