"""The API: every role x every action, agency isolation, sign-in, CSRF, OpenAPI."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from core import appkeys, auth, labels
from core.settings import Settings
from dispatch import service
from siaga.webapp import create_app
from tests.dispatch import factory
from tests.dispatch.conftest import Client
from tests.support import free_port

ROLES_USERS = ["op-polsek", "supervisor", "cc", "complaints", "opd", "leader", "admin"]
READERS = {"op-polsek", "supervisor", "cc", "leader", "admin"}
RESPONDERS = {"op-polsek", "supervisor", "cc", "admin"}
DESK = {"supervisor", "cc", "admin"}


async def _police_incident(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> factory.Made:
    async with pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    return made


async def test_every_dispatch_route_has_an_access_rule(settings: Settings, pool: asyncpg.Pool) -> None:
    assert auth.routes_without_rule(create_app(settings, pool, extras=False)) == []


async def test_every_route_of_the_whole_app_has_an_access_rule(settings: Settings, pool: asyncpg.Pool) -> None:
    app = create_app(settings, pool)
    assert auth.routes_without_rule(app) == []


async def test_role_matrix(pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client) -> None:
    """Each role against each API action, on an incident assigned to the operator's polsek."""
    rules = await (await (await client("admin")).get("/api/v1/routing-rules")).json()
    for username in ROLES_USERS:
        s = await client(username)
        made = await _police_incident(pool, settings, world)
        iid = made.incident_id
        actions = [
            ("GET", "/api/v1/me", None, True),
            ("GET", "/api/v1/agencies", None, True),
            ("GET", "/api/v1/incidents", None, username in READERS),
            ("GET", f"/api/v1/incidents/{iid}", None, username in READERS),
            ("POST", f"/api/v1/incidents/{iid}/notes", {"body": "catatan"}, username in RESPONDERS),
            ("POST", f"/api/v1/incidents/{iid}/transition", {"to": "acknowledged"}, username in RESPONDERS),
            (
                "POST",
                f"/api/v1/incidents/{iid}/transition",
                {"to": "dispatched", "unit": "Patroli 2"},
                username in RESPONDERS,
            ),
            ("POST", f"/api/v1/incidents/{iid}/transition", {"to": "on_scene"}, username in RESPONDERS),
            ("POST", f"/api/v1/incidents/{iid}/transition", {"to": "resolved"}, username in RESPONDERS),
            ("GET", "/api/v1/routing-rules", None, username in DESK),
            ("PUT", "/api/v1/routing-rules", None, username == "admin"),
        ]
        for method, path, body, allowed in actions:
            if method == "PUT":
                body = rules
            r = await s.request(method, path, json=body)
            expected = {200, 201} if allowed else {403}
            assert r.status in expected, (username, method, path, r.status, await r.text())
        # the false-alarm / handover moves straight from new belong to the desk
        fresh = await _police_incident(pool, settings, world)
        r = await s.post(f"/api/v1/incidents/{fresh.incident_id}/transition", json={"to": "false_alarm"})
        assert r.status == (200 if username in DESK else 403), (username, await r.text())
        fresh = await _police_incident(pool, settings, world)
        r = await s.post(f"/api/v1/incidents/{fresh.incident_id}/transition", json={"to": "handed_to_complaints"})
        assert r.status == (200 if username in DESK else 403), (username, await r.text())


async def test_the_stream_and_openapi_per_role(server: str, client: Client) -> None:
    for username in ROLES_USERS:
        s = await client(username)
        async with s.ws_connect("/api/v1/stream") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello"
        assert (await s.get("/api/v1/openapi.json")).status == 200
    async with aiohttp.ClientSession(base_url=server) as anon:
        for path in ("/api/v1/me", "/api/v1/incidents", "/api/v1/stream", "/api/v1/routing-rules"):
            assert (await anon.get(path)).status == 401, path
        assert (await anon.get("/api/v1/openapi.json")).status == 200


async def test_agencies_do_not_see_each_others_incidents(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    async with pool.acquire() as conn:
        police_only = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        road = await factory.incident(
            conn, type="accident", police_agency_id=world.polsek_kertek, dishub_unit_id=world.dishub_post
        )
    await service.route_pending(pool, settings)
    police, dishub, kertek = await client("op-polsek"), await client("op-dishub"), await client("op-kertek")

    async def ids(s: aiohttp.ClientSession) -> set[str]:
        return {i["id"] for i in (await (await s.get("/api/v1/incidents?state=all")).json())["incidents"]}

    assert await ids(police) == {str(police_only.incident_id)}
    assert await ids(dishub) == {str(road.incident_id)}
    assert await ids(kertek) == {str(road.incident_id)}
    # Dishub cannot read, note or move the police-only incident, and the answer does not say it exists
    for method, path, body in [
        ("GET", f"/api/v1/incidents/{police_only.incident_id}", None),
        ("POST", f"/api/v1/incidents/{police_only.incident_id}/notes", {"body": "x"}),
        ("POST", f"/api/v1/incidents/{police_only.incident_id}/transition", {"to": "acknowledged"}),
    ]:
        r = await dishub.request(method, path, json=body)
        assert r.status == 404, (path, r.status)
    # ... and the reverse: the Wonosobo polsek cannot touch Kertek's road accident
    r = await police.post(f"/api/v1/incidents/{road.incident_id}/transition", json={"to": "acknowledged"})
    assert r.status == 404
    assert await pool.fetchval("SELECT state FROM incident WHERE id = $1", road.incident_id) == "new"
    # but Dishub can act on the accident it shares with the police
    r = await dishub.post(f"/api/v1/incidents/{road.incident_id}/transition", json={"to": "acknowledged"})
    assert r.status == 200
    # the desk sees everything
    assert await ids(await client("supervisor")) == {str(police_only.incident_id), str(road.incident_id)}


async def test_sign_in_rate_limit_and_expiry(server: str, pool: asyncpg.Pool, world: factory.World) -> None:
    async with aiohttp.ClientSession(base_url=server) as s:
        for _ in range(5):
            r = await s.post("/api/v1/login", json={"username": "op-polsek", "password": "salah"})
            assert r.status == 401
        # the right password no longer helps within the window
        r = await s.post("/api/v1/login", json={"username": "op-polsek", "password": factory.PASSWORD})
        assert r.status == 429
        # another user from the same place is still fine
        r = await s.post("/api/v1/login", json={"username": "supervisor", "password": factory.PASSWORD})
        assert r.status == 200
        token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await s.get("/api/v1/me", headers=headers)).status == 200
        await pool.execute("UPDATE user_session SET expires_at = now() - interval '1 second'")
        assert (await s.get("/api/v1/me", headers=headers)).status == 401
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log WHERE action LIKE 'login%'")]
    assert actions.count("login.failed") == 5 and "login.rate_limited" in actions and "login" in actions


async def test_logout_revokes(server: str, client: Client) -> None:
    s = await client("cc")
    assert (await s.post("/api/v1/logout")).status == 200
    assert (await s.get("/api/v1/me")).status == 401


async def test_cookie_session_needs_csrf(
    server: str, pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    made = await _police_incident(pool, settings, world)
    async with aiohttp.ClientSession(base_url=server, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        page = await (await s.get("/login")).text()
        csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
        r = await s.post(
            "/login",
            data={"username": "op-polsek", "password": factory.PASSWORD, "csrf_token": csrf},
            allow_redirects=False,
        )
        assert r.status == 303 and r.headers["Location"] == "/console"
        assert (await s.get("/console")).status == 200
        path = f"/api/v1/incidents/{made.incident_id}/transition"
        r = await s.post(path, json={"to": "acknowledged"})
        assert r.status == 403 and (await r.json())["error"] == "csrf"
        me = await (await s.get("/api/v1/me")).json()
        r = await s.post(path, json={"to": "acknowledged"}, headers={"X-CSRF-Token": me["csrf_token"]})
        assert r.status == 200
        # the console's sign-out form carries the token as a field
        assert (await s.post("/logout", allow_redirects=False)).status == 403
        r = await s.post("/logout", data={"csrf_token": me["csrf_token"]}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
        r = await s.get("/console", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/login"
    async with aiohttp.ClientSession(base_url=server, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        # a login form posted without its token (from another site) is refused
        r = await s.post("/login", data={"username": "op-polsek", "password": factory.PASSWORD}, allow_redirects=False)
        assert r.status == 403


async def test_bad_input(server: str, client: Client, world: factory.World) -> None:
    s = await client("admin")
    assert (await s.get("/api/v1/incidents/not-a-uuid")).status == 404
    assert (await s.get("/api/v1/incidents?state=weird")).status == 400
    r = await s.post("/api/v1/incidents/00000000-0000-0000-0000-000000000000/transition", json={"to": "boom"})
    assert r.status == 422


async def test_openapi_is_generated_from_the_routes(server: str) -> None:
    async with aiohttp.ClientSession(base_url=server) as s:
        doc = await (await s.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    op = doc["paths"]["/api/v1/incidents/{incident_id}/transition"]["post"]
    assert op["x-roles"] == ["admin", "command_centre", "operator", "supervisor"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/TransitionBody"
    assert "TransitionBody" in doc["components"]["schemas"]
    assert "security" not in doc["paths"]["/api/v1/login"]["post"]
    assert set(doc["paths"]) >= {"/api/v1/login", "/api/v1/incidents", "/api/v1/stream", "/api/v1/openapi.json"}


@pytest.mark.parametrize("role", ["operator", "opd_officer"])
async def test_create_user_needs_an_agency(pool: asyncpg.Pool, world: factory.World, role: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(auth.AuthError) as e:
            await auth.create_user(conn, "tanpa-instansi", "cukup-panjang", role)
        assert e.value.code == "agency_required"
        with pytest.raises(auth.AuthError):
            # an OPD officer in the police, an operator in an OPD: both refused
            await auth.create_user(
                conn,
                "salah-instansi",
                "cukup-panjang",
                role,
                world.polres if role == "opd_officer" else world.opd,
            )


async def test_handover_reaches_the_complaint_pipeline(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    """With the whole app assembled, a handover opens a complaint linked to the incident."""
    app = create_app(settings, pool)
    assert appkeys.HANDOVER_HOOK in app
    made = await _police_incident(pool, settings, world)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as s:
            r = await s.post("/api/v1/login", json={"username": "cc", "password": factory.PASSWORD})
            headers = {"Authorization": f"Bearer {(await r.json())['token']}"}
            r = await s.post(
                f"/api/v1/incidents/{made.incident_id}/transition",
                json={"to": "handed_to_complaints", "note": "lampu jalan mati, bukan darurat"},
                headers=headers,
            )
            assert r.status == 200, await r.text()
    finally:
        await runner.cleanup()
    row = await pool.fetchrow("SELECT state, complaint_id FROM incident WHERE id = $1", made.incident_id)
    assert row["state"] == "handed_to_complaints" and row["complaint_id"] is not None


async def test_a_note_retried_with_its_idempotency_key_is_stored_once(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    made = await _police_incident(pool, settings, world)
    other = await _police_incident(pool, settings, world)
    s = await client("op-polsek")
    path = f"/api/v1/incidents/{made.incident_id}/notes"
    key = {"Idempotency-Key": "7f1c0c2e-catatan-1"}
    first = await s.post(path, json={"body": "unit 2 menuju lokasi"}, headers=key)
    assert first.status == 201, await first.text()
    # the reply was lost; the console sends the same request again, twice at once
    again = await asyncio.gather(*(s.post(path, json={"body": "unit 2 menuju lokasi"}, headers=key) for _ in range(2)))
    assert [r.status for r in again] == [200, 200]
    assert {(await r.json())["id"] for r in again} == {(await first.json())["id"]}
    # the same key for something else is refused, not silently answered with the old note
    r = await s.post(f"/api/v1/incidents/{other.incident_id}/notes", json={"body": "lain"}, headers=key)
    assert r.status == 409 and (await r.json())["error"] == "idempotency_key_reused"
    r = await s.post(path, json={"body": "teks lain"}, headers=key)
    assert r.status == 409
    # another user's key space is their own; without a key every post is a new note
    r = await (await client("supervisor")).post(path, json={"body": "dari supervisor"}, headers=key)
    assert r.status == 201
    for _ in range(2):
        assert (await s.post(path, json={"body": "tanpa kunci"})).status == 201
    bodies = await pool.fetch(
        "SELECT body FROM incident_note WHERE incident_id = $1 AND kind = 'note' ORDER BY id", made.incident_id
    )
    assert [b["body"] for b in bodies] == ["unit 2 menuju lokasi", "dari supervisor", "tanpa kunci", "tanpa kunci"]
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'incident.note' AND object_id = $1", str(made.incident_id)
    )
    assert audited == 4
    r = await s.post(path, json={"body": "x"}, headers={"Idempotency-Key": "k" * 201})
    assert r.status == 422


async def test_routing_rules_replaced_by_several_admins_at_once(pool: asyncpg.Pool, client: Client) -> None:
    """Concurrent replacements each answer 200 and the last one stands whole; two at once used to
    deadlock in PostgreSQL (a 500, found by the probe suite)."""
    admin = await client("admin")
    rules = (await (await admin.get("/api/v1/routing-rules")).json())["rules"]

    async def replace(i: int) -> int:
        body = {"rules": [{**r, "note": f"versi {i}"} for r in rules]}
        async with admin.put("/api/v1/routing-rules", json=body) as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(replace(i) for i in range(8)))
    assert statuses == [200] * 8
    notes = {r["note"] for r in await pool.fetch("SELECT note FROM routing_rule")}
    assert len(notes) == 1 and notes.pop().startswith("versi "), "one replacement, whole, is left"
    assert await pool.fetchval("SELECT count(*) FROM routing_rule") == len(rules)


async def _category(pool: asyncpg.Pool, world: factory.World, code: str = "lampu-jalan", active: bool = True) -> int:
    return await pool.fetchval(
        """INSERT INTO complaint_category (code, name, group_name, default_opd_id, active)
           VALUES ($1, 'Lampu jalan mati', 'Prasarana', $2, $3) RETURNING id""",
        code,
        world.opd,
        active,
    )


async def test_complaint_categories_are_read_by_those_who_may_hand_over(
    pool: asyncpg.Pool, world: factory.World, client: Client
) -> None:
    wanted = await _category(pool, world)
    await _category(pool, world, "dihapus", active=False)
    for user in ROLES_USERS:
        r = await (await client(user)).get("/api/v1/complaint-categories")
        if user not in RESPONDERS:
            assert r.status == 403, user
            continue
        assert r.status == 200, (user, await r.text())
        got = (await r.json())["categories"]
        assert [c["id"] for c in got if c["code"] in ("lampu-jalan", "dihapus")] == [wanted]
        assert {"id", "code", "name", "group_name"} <= set(got[0])


async def test_a_hand_over_carries_its_category_and_description_to_the_complaint(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    category = await _category(pool, world)
    made = await _police_incident(pool, settings, world)
    other = await _police_incident(pool, settings, world)
    runner = web.AppRunner(create_app(settings, pool))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as s:
            r = await s.post("/api/v1/login", json={"username": "cc", "password": factory.PASSWORD})
            headers = {"Authorization": f"Bearer {(await r.json())['token']}"}
            # an unknown category is refused before anything changes
            r = await s.post(
                f"/api/v1/incidents/{other.incident_id}/transition",
                json={"to": "handed_to_complaints", "note": "bukan darurat", "category_id": 999999},
                headers=headers,
            )
            assert r.status == 422 and (await r.json())["error"] == "bad_category"
            assert await pool.fetchval("SELECT state FROM incident WHERE id = $1", other.incident_id) == "new"
            r = await s.post(
                f"/api/v1/incidents/{made.incident_id}/transition",
                json={
                    "to": "handed_to_complaints",
                    "note": "bukan darurat",
                    "category_id": category,
                    "description": "Lampu jalan di depan pasar mati.",
                },
                headers=headers,
            )
            assert r.status == 200, await r.text()
            detail = await r.json()
            r = await s.get(f"/api/v1/incidents/{made.incident_id}", headers=headers)
            assert (await r.json())["complaint_id"] == detail["complaint_id"]
    finally:
        await runner.cleanup()
    row = await pool.fetchrow("SELECT * FROM complaint WHERE incident_id = $1", made.incident_id)
    assert row["id"] == detail["complaint_id"] and row["category_id"] == category
    assert row["description"].startswith("Lampu jalan di depan pasar mati.")
    assert await pool.fetchval("SELECT complaint_id FROM incident WHERE id = $1", made.incident_id) == row["id"]


async def test_a_move_someone_made_first_is_refused_with_their_name_and_the_time(
    pool: asyncpg.Pool, settings: Settings, world: factory.World, client: Client
) -> None:
    made = await _police_incident(pool, settings, world)
    path = f"/api/v1/incidents/{made.incident_id}/transition"
    first = await client("op-polsek")
    assert (await first.post(path, json={"to": "acknowledged"})).status == 200
    r = await (await client("supervisor")).post(path, json={"to": "acknowledged"})
    assert r.status == 409
    message = (await r.json())["message"]
    assert re.fullmatch(r"Insiden ini sudah diterima oleh Op-Polsek pada \d\d:\d\d:\d\d WIB\.", message), message
    at = await pool.fetchval(
        "SELECT at FROM event WHERE incident_id = $1 AND kind = 'incident.state' ORDER BY id DESC LIMIT 1",
        made.incident_id,
    )
    assert message.endswith(f"{at.astimezone(labels.WIB):%H:%M:%S} WIB.")
