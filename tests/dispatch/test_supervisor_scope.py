"""A supervisor bound to the Polres oversees the Polres and every Polsek under it, not Dishub's
road incidents; a supervisor bound to no agency still sees everything. The same answer on the
incident list, the detail, transitions and the stream, and escalation level 1 reaches it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest

from core.auth import User
from core.events import Cursor, Event
from core.roles import Role
from core.settings import Settings
from dispatch import service, visibility
from tests.dispatch import factory
from tests.dispatch.conftest import Client, dispatcher
from tests.support import wait_for

POLRES, POLSEK_A, POLSEK_B, DISHUB, CENTRE = 10, 11, 12, 20, 30
BOUND = User(1, "sup-polres", "", Role.SUPERVISOR, POLRES, frozenset({POLSEK_A, POLSEK_B}))
UNBOUND = User(2, "supervisor", "", Role.SUPERVISOR, None)


@pytest.mark.parametrize(
    ("user", "scope"),
    [
        (BOUND, {POLRES, POLSEK_A, POLSEK_B}),
        (User(3, "sup-polsek", "", Role.SUPERVISOR, POLSEK_A), {POLSEK_A}),
        (UNBOUND, None),
        (User(4, "op", "", Role.OPERATOR, POLSEK_A, frozenset({99})), {POLSEK_A}),
        (User(5, "op-none", "", Role.OPERATOR, None), set()),
        (User(6, "cc", "", Role.COMMAND_CENTRE, CENTRE), None),
        (User(7, "leader", "", Role.LEADER, None), None),
    ],
)
def test_incident_scope(user: User, scope: set[int] | None) -> None:
    assert visibility.incident_scope(user) == (None if scope is None else frozenset(scope))


def _event(kind: str, **data: Any) -> Event:
    return Event(Cursor(), datetime.now(UTC), kind, uuid.uuid4(), None, data)


@pytest.mark.parametrize(
    ("event", "bound_sees"),
    [
        (_event("incident.routed", agencies=[POLSEK_A], state="new"), True),
        (_event("incident.state", agencies=[POLRES], state="acknowledged"), True),
        (_event("incident.escalated", agencies=[POLSEK_B], level=1), True),
        (_event("incident.routed", agencies=[DISHUB], state="new"), False),
        (_event("incident.state", agencies=[DISHUB, POLSEK_A], state="new"), True),
        # the gateway's first word names no agency yet: the routed event follows
        (_event("incident.created", number=1), False),
        (_event("agency.unattended", agency_id=POLSEK_A, agencies=[CENTRE]), True),
        (_event("agency.unattended", agency_id=DISHUB, agencies=[CENTRE]), False),
    ],
)
def test_the_stream_rule_of_a_bound_supervisor(event: Event, bound_sees: bool) -> None:
    assert (visibility.visible(BOUND, event) is not None) is bound_sees
    assert visibility.visible(UNBOUND, event) is not None


# --- a real database, the API and the stream --------------------------------------------------


async def _bind_supervisor(pool: asyncpg.Pool, world: factory.World) -> None:
    await pool.execute(
        """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
           SELECT 'sup-polres', 'Supervisor Piket Polres', password_hash, 'supervisor', $1
             FROM app_user WHERE username = 'supervisor'""",
        world.polres,
    )


async def _incidents(pool: asyncpg.Pool, world: factory.World) -> dict[str, uuid.UUID]:
    # a road incident for Dishub alone: a rule of this test's own
    await pool.execute(
        "INSERT INTO routing_rule (alert_type, target, note) VALUES ('road', 'covering_dishub', 'uji: jalan -> Dishub')"
    )
    async with pool.acquire() as conn:
        made = {
            "polsek": await factory.incident(conn, police_agency_id=world.polsek_wonosobo),
            "polres": await factory.incident(conn, police_agency_id=world.polres),
            "dishub": await factory.incident(conn, type="road", dishub_unit_id=world.dishub_post),
        }
    return {k: m.incident_id for k, m in made.items()}


async def test_a_polres_supervisor_reads_and_moves_police_incidents_only(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    await _bind_supervisor(pool, world)
    ids = await _incidents(pool, world)
    await service.route_pending(pool, settings)
    assigned = await pool.fetch("SELECT incident_id, agency_id FROM incident_assignment")
    assert {(r["incident_id"], r["agency_id"]) for r in assigned} == {
        (ids["polsek"], world.polsek_wonosobo),
        (ids["polres"], world.polres),
        (ids["dishub"], world.dishub),
    }
    bound, unbound = await client("sup-polres"), await client("supervisor")

    async def listed(s: aiohttp.ClientSession) -> set[str]:
        r = await s.get("/api/v1/incidents?state=all")
        assert r.status == 200
        return {i["id"] for i in (await r.json())["incidents"]}

    assert await listed(bound) == {str(ids["polsek"]), str(ids["polres"])}
    assert await listed(unbound) == {str(i) for i in ids.values()}
    for key in ("polsek", "polres"):
        assert (await bound.get(f"/api/v1/incidents/{ids[key]}")).status == 200
    # Dishub's incident is not the Polres supervisor's: not read, noted or moved, and not said to exist
    for method, path, body in [
        ("GET", f"/api/v1/incidents/{ids['dishub']}", None),
        ("POST", f"/api/v1/incidents/{ids['dishub']}/notes", {"body": "x"}),
        ("POST", f"/api/v1/incidents/{ids['dishub']}/transition", {"to": "acknowledged"}),
    ]:
        r = await bound.request(method, path, json=body)
        assert r.status == 404, (path, r.status)
    assert await pool.fetchval("SELECT state FROM incident WHERE id = $1", ids["dishub"]) == "new"
    r = await bound.post(f"/api/v1/incidents/{ids['polsek']}/transition", json={"to": "acknowledged"})
    assert r.status == 200, await r.text()
    r = await unbound.post(f"/api/v1/incidents/{ids['dishub']}/transition", json={"to": "acknowledged"})
    assert r.status == 200, await r.text()
    by = await pool.fetchval(
        "SELECT username FROM audit_log WHERE action LIKE 'incident.%' AND object_id = $1 AND username <> 'system'",
        str(ids["polsek"]),
    )
    assert by == "sup-polres"


async def _replay(s: aiohttp.ClientSession) -> list[dict[str, Any]]:
    got = []
    async with s.ws_connect("/api/v1/stream?cursor=0.0") as ws, asyncio.timeout(20):
        assert (await ws.receive_json())["type"] == "hello"
        while (msg := await ws.receive_json())["type"] != "caught_up":
            got.append(msg)
    return got


async def test_escalation_reaches_the_polres_supervisor_and_its_stream_keeps_to_police(
    db_dsn: str, pool: asyncpg.Pool, world: factory.World, client: Client
) -> None:
    await _bind_supervisor(pool, world)
    fast = Settings(database_url=db_dsn, escalate_supervisor_s=0.3, escalate_command_centre_s=30, dispatch_poll_s=0.05)
    async with dispatcher(fast, db_dsn):
        ids = await _incidents(pool, world)

        async def escalated() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM event WHERE kind = 'incident.escalated' AND (data->>'level')::int = 1"
            )
            return n == len(ids)

        await wait_for(escalated, timeout=15, what="level 1 on every incident")
    bound, unbound = await client("sup-polres"), await client("supervisor")
    seen = await _replay(bound)
    everything = await _replay(unbound)

    def incidents_of(msgs: list[dict[str, Any]], kind: str) -> set[str]:
        return {m["incident_id"] for m in msgs if m["kind"] == kind}

    police = {str(ids["polsek"]), str(ids["polres"])}
    assert incidents_of(seen, "incident.escalated") == police
    assert incidents_of(seen, "incident.routed") == police
    assert str(ids["dishub"]) not in {m.get("incident_id") for m in seen}
    level_1 = next(m for m in seen if m["kind"] == "incident.escalated" and m["incident_id"] == str(ids["polsek"]))
    assert level_1["data"]["level"] == 1 and level_1["data"]["agencies"] == [world.polsek_wonosobo]
    assert incidents_of(everything, "incident.escalated") == {str(i) for i in ids.values()}
    assert incidents_of(everything, "incident.created") == {str(i) for i in ids.values()}
