"""Routing, transitions, downlinks, audit and visibility through the service layer."""

import asyncpg
import pytest

from core.auth import create_user
from core.refusal import Kind
from core.settings import Settings
from dispatch import service
from tests.dispatch import factory


async def assignments(pool: asyncpg.Pool, made: factory.Made) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        "SELECT agency_id, reason FROM incident_assignment WHERE incident_id = $1 ORDER BY agency_id",
        made.incident_id,
    )
    return [(r["agency_id"], r["reason"]) for r in rows]


async def test_routing_from_the_database(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    async with pool.acquire() as conn:
        panic = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        crash = await factory.incident(
            conn, type="accident", police_agency_id=world.polsek_kertek, dishub_unit_id=world.dishub_post
        )
        fire = await factory.incident(conn, type="fire", police_agency_id=world.polsek_wonosobo)
        medical = await factory.incident(conn, type="medical", police_agency_id=world.polsek_wonosobo)
        lost = await factory.incident(conn, lat=None, lon=None, location_source="unknown")
        away = await factory.incident(conn, outside_regency=True, police_agency_id=world.polsek_wonosobo)
        test = await factory.incident(conn, type="test", police_agency_id=world.polsek_wonosobo)
    assert await service.route_pending(pool, settings) == 7
    assert await service.route_pending(pool, settings) == 0
    assert await assignments(pool, panic) == [(world.polsek_wonosobo, "rule")]
    assert await assignments(pool, crash) == [(world.polsek_kertek, "rule"), (world.dishub, "rule")]
    assert await assignments(pool, fire) == [(world.damkar, "rule")]
    assert await assignments(pool, medical) == [(world.command_centre, "fallback")]  # no PSC 119 seeded
    assert await assignments(pool, lost) == [(world.command_centre, "fallback")]
    assert await assignments(pool, away) == [(world.command_centre, "fallback")]
    assert await assignments(pool, test) == []
    # a test press is logged, closed, and the device hears it went all the way through
    assert await pool.fetchval("SELECT state FROM incident WHERE id = $1", test.incident_id) == "resolved"
    payload = await pool.fetchval("SELECT payload FROM downlink WHERE device_id = $1", test.device_id)
    assert payload == {"seq": test.seq, "incident_id": str(test.incident_id), "state": "resolved"}
    timers = await pool.fetchval("SELECT count(*) FROM dispatch_timer WHERE incident_id = $1", test.incident_id)
    assert timers == 0


async def test_full_lifecycle_tells_the_device(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    op = world.users["op-polsek"]
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    steps = [
        service.TransitionRequest("acknowledged"),
        service.TransitionRequest("dispatched", note="segera", unit_id=world.patrol_unit),
        service.TransitionRequest("on_scene"),
        service.TransitionRequest("resolved", note="aman"),
    ]
    for step in steps:
        detail = await service.transition(pool, settings, op, made.incident_id, step, client_ip="10.0.0.1")
        assert detail["state"] == step.to
    rows = await pool.fetch("SELECT payload FROM downlink WHERE device_id = $1 ORDER BY id", made.device_id)
    assert [r["payload"]["state"] for r in rows] == ["acknowledged", "dispatched", "on_scene", "resolved"]
    assert all(r["payload"]["seq"] == made.seq for r in rows)
    audit = await pool.fetch(
        "SELECT username, action, before, after, client_ip FROM audit_log WHERE object_id = $1 ORDER BY id",
        str(made.incident_id),
    )
    assert [a["action"] for a in audit] == [
        "incident.route",
        "incident.acknowledged",
        "incident.dispatched",
        "incident.on_scene",
        "incident.resolved",
    ]
    assert audit[2]["before"] == {"state": "acknowledged"}
    assert audit[2]["after"] == {
        "state": "dispatched",
        "note": "segera",
        "unit_id": world.patrol_unit,
        "unit": "Patroli 1",
    }
    assert audit[1]["username"] == "op-polsek" and audit[1]["client_ip"] == "10.0.0.1"
    kinds = await pool.fetch("SELECT kind, data FROM event WHERE incident_id = $1 ORDER BY id", made.incident_id)
    assert [k["kind"] for k in kinds] == [
        "incident.created",
        "incident.routed",
        "incident.state",
        "incident.state",
        "incident.state",
        "incident.state",
    ]
    assert kinds[2]["data"]["agencies"] == [world.polsek_wonosobo]


async def test_second_acknowledge_conflicts(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    ack = service.TransitionRequest("acknowledged")
    # not routed yet: the transition routes it first
    await service.transition(pool, settings, world.users["op-polsek"], made.incident_id, ack)
    with pytest.raises(service.DispatchError) as e:
        await service.transition(pool, settings, world.users["supervisor"], made.incident_id, ack)
    assert e.value.kind is Kind.CONFLICT


async def test_dispatch_needs_a_unit_of_the_incident(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    op = world.users["op-polsek"]
    await service.transition(pool, settings, op, made.incident_id, service.TransitionRequest("acknowledged"))
    for bad, code in [
        (service.TransitionRequest("dispatched"), "unit_required"),
        (service.TransitionRequest("dispatched", unit_id=world.dishub_post), "bad_unit"),
    ]:
        with pytest.raises(service.DispatchError) as e:
            await service.transition(pool, settings, op, made.incident_id, bad)
        assert e.value.code == code


async def test_handover_to_complaints_emits_event(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> None:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    called = []

    async def hook(
        conn: asyncpg.Connection, incident_id: object, /, *, category_id: int | None, description: str | None
    ) -> None:
        called.append((incident_id, category_id, description))

    await service.transition(
        pool,
        settings,
        world.users["cc"],
        made.incident_id,
        service.TransitionRequest("handed_to_complaints", note="lampu jalan mati", description="  Lampu mati.  "),
        handover=hook,
    )
    # what the operator chose in the console reaches the complaint pipeline
    assert called == [(made.incident_id, None, "Lampu mati.")]
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM event WHERE incident_id = $1", made.incident_id)]
    assert "incident.handed_to_complaints" in kinds
    # the device is not told anything for a handover (not a wire-contract state)
    assert await pool.fetchval("SELECT count(*) FROM downlink WHERE device_id = $1", made.device_id) == 0


async def test_audit_log_is_append_only(pool: asyncpg.Pool, world: factory.World) -> None:
    async with pool.acquire() as conn:
        await create_user(conn, "baru", "kata-sandi-baru", "leader")
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.create'") == 1
        for sql in ("UPDATE audit_log SET username = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)


async def test_purge_forgets_old_sessions_not_the_audit(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    from core import auth

    async with pool.acquire() as conn:
        await auth.login(conn, settings, "cc", factory.PASSWORD)
        with pytest.raises(auth.AuthError):
            await auth.login(conn, settings, "cc", "salah")
        assert await auth.purge(conn) == 0
        await conn.execute("UPDATE user_session SET expires_at = now() - interval '8 days'")
        await conn.execute("UPDATE login_attempt SET at = now() - interval '8 days'")
        assert await auth.purge(conn) == 3
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'login%'") == 2


async def test_an_incident_routed_meanwhile_is_not_routed_twice(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    """The router's claim can hold an incident an operator's action routed after the claim's
    snapshot (a released row lock does not refresh NOT EXISTS): that one must be left alone,
    not fail the whole batch (it took the dispatch role down under the fault matrix)."""
    async with pool.acquire() as conn:
        first = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        second = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT * FROM incident_routing_input WHERE id = ANY($1::uuid[]) ORDER BY created_at",
            [first.incident_id, second.incident_id],
        )
        # the batch that claimed both before the first was routed elsewhere
        await conn.execute("DELETE FROM incident_track WHERE incident_id = $1", second.incident_id)
        await conn.execute("DELETE FROM dispatch_timer WHERE incident_id = $1", second.incident_id)
        routed = await service._route_batch(
            conn, settings, rows, await service.load_rules(conn), await service.load_directory(conn)
        )
    assert routed == 1  # the second only
    for made in (first, second):
        n = await pool.fetchval(
            "SELECT count(*) FROM event WHERE kind = 'incident.routed' AND incident_id = $1", made.incident_id
        )
        timers = await pool.fetchval("SELECT count(*) FROM dispatch_timer WHERE incident_id = $1", made.incident_id)
        assert (n, timers) == ((1, 2) if made is first else (2, 2)), made
