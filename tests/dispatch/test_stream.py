"""The console's WebSocket: live events, filtered per agency, resumed by cursor after a drop."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg

from core.settings import Settings
from dispatch import service
from tests.dispatch import factory
from tests.dispatch.conftest import Client


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Messages up to and including the first of ``kind`` (an event kind or a message type)."""
    seen = []
    while True:
        msg = await ws.receive_json(timeout=timeout)
        seen.append(msg)
        if msg.get("kind") == kind or msg["type"] == kind:
            return seen


async def _events(ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``n`` events (other messages skipped)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            msg = await ws.receive_json()
            if msg["type"] == "event":
                got.append(msg)
    return got


async def test_reconnect_gets_what_it_missed(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    op = await client("op-polsek")
    async with op.ws_connect("/api/v1/stream") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        await _until(ws, "caught_up")
        async with pool.acquire() as conn:
            first = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        await service.route_pending(pool, settings)
        got = await _until(ws, "incident.routed")
        assert got[-1]["incident_id"] == str(first.incident_id)
        # the operator never receives the raw 'created' event of the gateway (no agency yet)
        assert [m["kind"] for m in got] == ["incident.routed"]
        cursor = got[-1]["cursor"]

    # while the console is away: a second incident, a change and a note on the first, and an
    # incident of another polsek the operator must not see
    user = world.users["op-polsek"]
    async with pool.acquire() as conn:
        second = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        await factory.incident(conn, police_agency_id=world.polsek_kertek)
    await service.route_pending(pool, settings)
    await service.transition(pool, settings, user, first.incident_id, service.TransitionRequest("acknowledged"))
    await service.add_note(pool, settings, user, first.incident_id, "menuju lokasi")

    async with op.ws_connect(f"/api/v1/stream?cursor={cursor}") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello == {"type": "hello", "cursor": cursor, "resumed": True}
        # caught_up comes once the database has shown everything committed so far; an event held
        # back by a slow transaction elsewhere in the cluster follows on the live feed
        missed = await _events(ws, 3)
        events = [(m["kind"], m["incident_id"]) for m in missed]
        assert events == [
            ("incident.routed", str(second.incident_id)),
            ("incident.state", str(first.incident_id)),
            ("incident.note", str(first.incident_id)),
        ]
        # and live again afterwards, without repeating anything
        await service.transition(pool, settings, user, second.incident_id, service.TransitionRequest("acknowledged"))
        live = await _events(ws, 1)
        assert [(m["kind"], m["incident_id"]) for m in live] == [("incident.state", str(second.incident_id))]
        cursors = [m["cursor"] for m in missed + live]
        assert len(cursors) == len(set(cursors))


async def test_desk_sees_created_events_and_others_are_filtered(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    cc, dishub = await client("cc"), await client("op-dishub")
    async with cc.ws_connect("/api/v1/stream") as cc_ws, dishub.ws_connect("/api/v1/stream") as dh_ws:
        await _until(cc_ws, "caught_up")
        hello = await _until(dh_ws, "caught_up")
        async with pool.acquire() as conn:
            made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
            crash = await factory.incident(
                conn, type="accident", police_agency_id=world.polsek_wonosobo, dishub_unit_id=world.dishub_post
            )
        await service.route_pending(pool, settings)
        seen = await _until(cc_ws, "incident.routed")
        assert seen[0]["kind"] == "incident.created" and seen[0]["incident_id"] == str(made.incident_id)
        got = await _until(dh_ws, "incident.routed")
        # Dishub hears only of the accident
        assert [m["incident_id"] for m in got] == [str(crash.incident_id)]
        assert hello[-1]["type"] == "caught_up"


async def test_cross_site_websocket_is_refused(server: str, client: Client) -> None:
    s = await client("cc")
    try:
        await s.ws_connect("/api/v1/stream", headers={"Origin": "http://evil.example"})
    except aiohttp.WSServerHandshakeError as e:
        assert e.status == 403
    else:
        raise AssertionError("cross-site WebSocket accepted")


async def test_a_cursor_out_of_range_is_refused_before_the_upgrade(client: Client) -> None:
    s = await client("cc")
    for bad in ("99999999999999999999.1", "1.99999999999999999999", "-1.5", "1.-5", "1.2.3", "x", "१.२"):
        try:
            await s.ws_connect("/api/v1/stream", params={"cursor": bad})
        except aiohttp.WSServerHandshakeError as e:
            assert e.status == 400, bad
        else:
            raise AssertionError(f"cursor {bad!r} accepted")
