"""The event stream as each role sees it, replayed from the beginning and live, over a mixed history:
incidents of two agencies, complaints of two OPDs (one re-disposed from A to B), an unattended
agency, red complaints, a teguran. What each role should get is stated here from the history
itself (who the incidents are assigned to, where each complaint is now), not from the rules."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from complaints import store
from complaints.model import Actor, Dispose, FollowUp, Hold, ReturnToVerification
from core import events
from core.auth import User
from core.roles import Role
from core.settings import Settings
from dispatch import presence, service
from tests.dispatch import factory

STAFF = Actor(Role.COMPLAINT_STAFF, None, "sari")
LEADER = Actor(Role.LEADER, None, "bupati")
INCIDENT_ONLY_FIELDS = {"device_id", "by", "unit", "reason", "on_call"}


def officer(opd: int) -> Actor:
    return Actor(Role.OPD_OFFICER, None, f"petugas{opd}", agency_id=opd)


@dataclass
class History:
    world: factory.World
    opd_b: int
    users: dict[str, User]
    polsek_incidents: set[uuid.UUID]
    assigned: dict[uuid.UUID, set[int]]  # incident -> agencies, from incident_assignment
    at_a: set[int]  # complaints disposed to OPD A now
    at_b: set[int]
    moved: int  # the complaint re-disposed from A to B
    never_disposed: int


@pytest.fixture
async def sessions(server: str, pool: asyncpg.Pool, world: factory.World) -> AsyncIterator[Any]:
    """``await open_ws(username, cursor)``: the stream as that user, with a session minted directly
    (argon2 sign-ins for eleven users would only slow the test)."""
    clients: list[aiohttp.ClientSession] = []

    async def open_ws(username: str, cursor: str | None = "0.0") -> aiohttp.ClientWebSocketResponse:
        uid = await pool.fetchval("SELECT id FROM app_user WHERE username = $1", username)
        token = secrets.token_urlsafe(32)
        await pool.execute(
            """INSERT INTO user_session (token_hash, user_id, kind, csrf_token, expires_at)
               VALUES ($1, $2, 'api', $3, now() + interval '1 hour')""",
            hashlib.sha256(token.encode()).digest(),
            uid,
            secrets.token_urlsafe(24),
        )
        s = aiohttp.ClientSession(base_url=server, headers={"Authorization": f"Bearer {token}"})
        clients.append(s)
        return await s.ws_connect("/api/v1/stream" + (f"?cursor={cursor}" if cursor else ""))

    yield open_ws
    for s in clients:
        await s.close()


async def _second_opd(conn: asyncpg.Connection) -> tuple[int, User]:
    opd_b = await conn.fetchval(
        "INSERT INTO agency (code, kind, name) VALUES ('t-dlh', 'opd', 'Dinas Lingkungan Hidup') RETURNING id"
    )
    uid = await conn.fetchval(
        """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
           VALUES ('opd-b', 'Petugas DLH', 'x', 'opd_officer', $1) RETURNING id""",
        opd_b,
    )
    return opd_b, User(uid, "opd-b", "Petugas DLH", Role.OPD_OFFICER, opd_b)  # type: ignore[arg-type]


async def _complaint(conn: asyncpg.Connection, clock: Any, at: datetime, text: str) -> int:
    row = await store.create(
        conn, store.NewComplaint(description=text, reporter_phone="0812"), Actor.citizen(), clock=clock, now=at
    )
    return int(row["id"])


@pytest.fixture
async def history(pool: asyncpg.Pool, settings: Settings, world: factory.World) -> History:
    async with pool.acquire() as conn:
        opd_b, user_b = await _second_opd(conn)
        a = world.opd
        # incidents: two of Polsek Wonosobo, one accident of Polsek Kertek and Dishub
        i1 = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
        i2 = await factory.incident(
            conn, type="accident", police_agency_id=world.polsek_kertek, dishub_unit_id=world.dishub_post
        )
        i3 = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    op_polsek, op_dishub = world.users["op-polsek"], world.users["op-dishub"]
    await service.transition(pool, settings, op_polsek, i1.incident_id, service.TransitionRequest("acknowledged"))
    await service.add_note(pool, settings, op_polsek, i1.incident_id, "menuju lokasi, pelapor Budi 0812")
    await service.transition(pool, settings, op_dishub, i2.incident_id, service.TransitionRequest("acknowledged"))
    async with pool.acquire() as conn:
        # Polsek Wonosobo's last console closes while it has open incidents: the centre is alarmed
        socket = await presence.connect(conn, op_polsek, world.polsek_wonosobo, None)
        await presence.check_attendance(conn, settings)
        await presence.disconnect(conn, socket)
        assert await presence.check_attendance(conn, settings) == 1

        clock = await store.load_clock(conn)
        t0 = datetime.now(UTC) - timedelta(days=40)
        day = timedelta(days=1)
        followed = await _complaint(conn, clock, t0, "Lampu jalan mati")
        at_b = await _complaint(conn, clock, t0, "Sampah menumpuk di pasar")
        moved = await _complaint(conn, clock, t0, "Saluran air tersumbat")
        red_a = await _complaint(conn, clock, t0, "Jalan berlubang")
        waiting = await _complaint(conn, clock, t0, "Informasi jadwal posyandu")
        handed = (await store.create_from_incident(conn, i3.incident_id, now=t0))["id"]
        for cid, opd in ((followed, a), (at_b, opd_b), (moved, a), (red_a, a), (handed, a)):
            await store.act(conn, cid, Dispose(opd_id=opd), STAFF, clock=clock, now=t0 + day)
        await store.act(conn, followed, FollowUp(text="Sudah diganti"), officer(a), clock=clock, now=t0 + 2 * day)
        await store.act(
            conn, moved, ReturnToVerification(reason="Bukan kewenangan"), officer(a), clock=clock, now=t0 + 2 * day
        )
        await store.act(conn, moved, Dispose(opd_id=opd_b), STAFF, clock=clock, now=t0 + 3 * day)
        await store.act(conn, waiting, Hold(reason="Mohon alamat lengkap"), STAFF, clock=clock, now=t0 + day)
    # red for every OPD past its 5 days (to the OPD head, then the Sekda); the follow-up auto-closes
    result = await store.sweep(pool, clock)
    assert result.red >= 4 and result.sekda_notified >= 4 and result.auto_closed == 1
    async with pool.acquire() as conn:
        await store.issue_teguran(conn, a, "Segera tindak lanjuti", LEADER)
        rows = await conn.fetch("SELECT incident_id, agency_id FROM incident_assignment")
    assigned: dict[uuid.UUID, set[int]] = {}
    for r in rows:
        assigned.setdefault(r["incident_id"], set()).add(r["agency_id"])
    users = {**world.users, "opd-b": user_b}
    return History(
        world,
        opd_b,
        users,
        {i1.incident_id, i3.incident_id},
        assigned,
        {followed, red_a, handed},
        {at_b, moved},
        moved,
        waiting,
    )


async def _replay(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """The events a socket opened with ``cursor=0.0`` receives up to ``caught_up``."""
    got = []
    async with asyncio.timeout(20):
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and hello["resumed"] is True
        while (msg := await ws.receive_json())["type"] != "caught_up":
            assert msg["type"] == "event"
            got.append(msg)
    return got


async def _all_events(pool: asyncpg.Pool) -> list[events.Event]:
    out: list[events.Event] = []
    async with pool.acquire() as conn:
        while batch := await events.read_after(conn, out[-1].cursor if out else events.Cursor(), 500):
            out += batch
    return out


def _spec(h: History, who: str, ev: events.Event) -> bool:
    """Whether ``who`` should receive ``ev`` at all, stated from the history."""
    user = h.users[who]
    incident = ev.kind.startswith("incident.")
    complaint = ev.kind.startswith("complaint.")
    alarm = ev.kind == "agency.unattended"
    named = ev.data.get("opd_id")
    match user.role:
        case Role.OPERATOR:
            mine = ev.incident_id is not None and user.agency_id in h.assigned.get(ev.incident_id, set())
            return (incident and ev.kind != "incident.created" and mine) or (
                alarm and ev.data["agencies"] == [h.world.command_centre] and user.agency_id == h.world.command_centre
            )
        case Role.SUPERVISOR:
            return incident or alarm
        case Role.COMMAND_CENTRE | Role.ADMIN:
            return True
        case Role.LEADER:
            return ev.kind != "incident.note"
        case Role.COMPLAINT_STAFF:
            return complaint
        case Role.OPD_OFFICER:
            if ev.kind == "complaint.teguran":
                return named == user.agency_id
            own = h.at_a if user.agency_id == h.world.opd else h.at_b
            return complaint and ev.complaint_id in own and named in (None, user.agency_id)
    raise AssertionError(user.role)


ROLES = [
    "op-polsek",
    "op-kertek",
    "op-dishub",
    "op-cc",
    "supervisor",
    "cc",
    "complaints",
    "opd",
    "opd-b",
    "leader",
    "admin",
]


async def test_each_role_replays_only_what_it_may_see(pool: asyncpg.Pool, history: History, sessions: Any) -> None:
    everything = await _all_events(pool)
    kinds = {e.kind for e in everything}
    assert kinds >= {
        "incident.created", "incident.routed", "incident.state", "incident.note", "agency.unattended",
        "complaint.created", "complaint.dispose", "complaint.return", "complaint.follow_up", "complaint.hold",
        "complaint.red", "complaint.escalated", "complaint.auto_close", "complaint.teguran",
    }  # fmt: skip
    sockets = {who: await sessions(who) for who in ROLES}
    got = {who: await _replay(ws) for who, ws in sockets.items()}
    wrong = {}
    for who in ROLES:
        want = [(e.cursor.encode(), e.kind) for e in everything if _spec(history, who, e)]
        sent = [(m["cursor"], m["kind"]) for m in got[who]]
        if sent != want:
            wrong[who] = {"leaked": sorted(set(sent) - set(want)), "missing": sorted(set(want) - set(sent))}
        assert want, f"{who} should see something of this history"
    assert not wrong, wrong

    # operators: all of each event of their incidents; Polsek Wonosobo's never sees the accident
    accident = next(i for i, a in history.assigned.items() if history.world.dishub in a)
    assert {m["incident_id"] for m in got["op-polsek"]} == {str(i) for i in history.polsek_incidents}
    assert (
        {m["incident_id"] for m in got["op-dishub"]} == {m["incident_id"] for m in got["op-kertek"]} == {str(accident)}
    )
    assert [m["kind"] for m in got["op-cc"]] == ["agency.unattended"]
    full = {e.cursor.encode(): e for e in everything}
    for who in ("op-polsek", "supervisor", "cc", "admin", "complaints"):
        assert all(m["data"] == full[m["cursor"]].data for m in got[who]), who

    # the leader: no notes, and nothing of who did what or the devices
    assert all(not (INCIDENT_ONLY_FIELDS | {"channel"}) & set(m["data"]) for m in got["leader"])
    assert any(m["kind"] == "incident.state" and m["data"]["state"] == "acknowledged" for m in got["leader"])

    # OPD officers: only complaints at their OPD now, never a reporter field or the source incident
    a, b = got["opd"], got["opd-b"]
    assert {m["complaint_id"] for m in a if m["complaint_id"]} == history.at_a
    assert {m["complaint_id"] for m in b if m["complaint_id"]} == history.at_b
    assert not [m for m in a if m["complaint_id"] == history.moved]  # moved to B: A hears none of it
    assert not [m for m in b if m["data"].get("opd_id") == history.world.opd]  # B never learns A's part
    assert [m["data"]["opd_id"] for m in a if m["kind"] == "complaint.teguran"] == [history.world.opd]
    assert not [m for m in b if m["kind"] == "complaint.teguran"]
    for m in a + b:
        assert m["kind"].startswith("complaint.") and m["incident_id"] is None
        assert set(m["data"]) <= {"tracking_id", "kind", "status", "opd_id", "stage", "notify", "teguran_id"}
    assert history.never_disposed not in {m["complaint_id"] for m in a + b}
    for ws in sockets.values():
        await ws.close()


async def test_the_live_feed_follows_where_a_complaint_is_now(
    pool: asyncpg.Pool, history: History, sessions: Any
) -> None:
    a_id, b_id = history.world.opd, history.opd_b
    ws_a, ws_b, ws_staff = [await sessions(who, None) for who in ("opd", "opd-b", "complaints")]
    for ws in (ws_a, ws_b, ws_staff):
        async with asyncio.timeout(10):
            while (await ws.receive_json())["type"] != "caught_up":
                pass

    async def step(do: Any, kind: str) -> None:
        """One change, then wait until the complaint desk has it: the hub has judged it for all."""
        async with pool.acquire() as conn:
            clock = await store.load_clock(conn)
            cid = await do(conn, clock)
        async with asyncio.timeout(10):
            while True:
                m = await ws_staff.receive_json()
                if m.get("kind") == kind and m["complaint_id"] == cid:
                    return

    cid: int = 0

    async def create(conn: asyncpg.Connection, clock: Any) -> int:
        nonlocal cid
        cid = await _complaint(conn, clock, datetime.now(UTC), "Pohon tumbang menutup jalan")
        return cid

    def act(action: Any, actor: Actor) -> Any:
        async def do(conn: asyncpg.Connection, clock: Any) -> int:
            await store.act(conn, cid, action, actor, clock=clock)
            return cid

        return do

    await step(create, "complaint.created")
    await step(act(Dispose(opd_id=a_id), STAFF), "complaint.dispose")
    await step(act(ReturnToVerification(reason="Bukan kami"), officer(a_id)), "complaint.return")
    await step(act(Dispose(opd_id=b_id), STAFF), "complaint.dispose")
    await step(act(FollowUp(text="Sudah dipotong"), officer(b_id)), "complaint.follow_up")
    # a last complaint for A: once A has it, A has been sent everything before it
    await step(create, "complaint.created")
    await step(act(Dispose(opd_id=a_id), STAFF), "complaint.dispose")
    last = cid

    async def until(
        ws: aiohttp.ClientWebSocketResponse, done: Callable[[dict[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        seen = []
        async with asyncio.timeout(10):
            while not seen or not done(seen[-1]):
                m = await ws.receive_json()
                if m["type"] == "event":
                    seen.append(m)
        return seen

    got_a = await until(ws_a, lambda m: m["complaint_id"] == last)
    got_b = await until(ws_b, lambda m: m["kind"] == "complaint.follow_up")
    first = got_a[0]["complaint_id"]
    # A: the complaint while it was A's (its disposition), then nothing of it once it went back and
    # on to B; B: only from its own disposition on
    assert [(m["kind"], m["data"]["opd_id"]) for m in got_a] == [
        ("complaint.dispose", a_id),
        ("complaint.dispose", a_id),
    ]
    assert got_a[1]["complaint_id"] == last != first
    assert [(m["kind"], m["complaint_id"], m["data"]["opd_id"]) for m in got_b] == [
        ("complaint.dispose", first, b_id),
        ("complaint.follow_up", first, b_id),
    ]
    for ws in (ws_a, ws_b, ws_staff):
        await ws.close()
