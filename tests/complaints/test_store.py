"""Complaint rows against a real PostgreSQL: the pipeline, clocks, history, events, sweep, teguran."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date, datetime

import asyncpg
import pytest

from complaints import store
from complaints.clock import WIB, WorkingDayClock
from complaints.model import (
    Accept,
    Actor,
    Dispose,
    Dispute,
    FollowUp,
    Forbidden,
    Hold,
    InvalidAction,
    InvalidTransition,
    Resume,
    ReturnToVerification,
)
from core import events
from core.roles import Role
from tests.complaints.conftest import Opds
from tests.support import wait_for

STAFF = Actor(Role.COMPLAINT_STAFF, None, "sari")
LEADER = Actor(Role.LEADER, None, "bupati")
CITIZEN = Actor.citizen()


def wib(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WIB)


def officer(opd: int) -> Actor:
    return Actor(Role.OPD_OFFICER, None, f"petugas{opd}", agency_id=opd)


async def committed_events(
    conn: asyncpg.Connection, match: Callable[[events.Event], bool], count: int
) -> list[events.Event]:
    """The bus shows an event once every older transaction in the cluster has finished: wait."""

    async def found() -> list[events.Event]:
        evs = [e for e in await events.read_after(conn, events.Cursor()) if match(e)]
        return evs if len(evs) >= count else []

    return await wait_for(found, what=f"{count} events")


async def new(conn: asyncpg.Connection, clock: WorkingDayClock, now: datetime, **kw: object) -> asyncpg.Record:
    data = {"description": "Lampu jalan mati di depan pasar Kertek", **kw}
    return await store.create(conn, store.NewComplaint(**data), CITIZEN, clock=clock, now=now)  # type: ignore[arg-type]


async def test_full_pipeline(
    pool: asyncpg.Pool, opds: Opds, categories: dict[str, int], clock: WorkingDayClock
) -> None:
    async with pool.acquire() as conn:
        c = await new(conn, clock, wib(2026, 11, 30, 9), reporter_name="Budi", reporter_phone="0812")
        assert c["tracking_id"].startswith("WSB-") and c["status"] == "verifikasi"
        assert c["due_at"] == wib(2026, 12, 3, 9) and c["yellow_at"] == clock.add(wib(2026, 11, 30, 9), 1.8)
        cid = c["id"]

        await store.act(
            conn,
            cid,
            Dispose(opd_id=opds.dpupr, category_id=categories["jalan"], kecamatan_code="33.07.09"),
            STAFF,
            clock=clock,
            now=wib(2026, 12, 1, 10),
        )
        row = await store.get(conn, cid)
        assert row["status"] == "disposisi" and row["opd_name"].startswith("Dinas Pekerjaan")
        assert row["stage"] == "tindak_lanjut" and row["due_at"] == wib(2026, 12, 8, 10)
        assert row["category_code"] == "jalan-rusak" and row["kecamatan_code"] == "33.07.09"

        with pytest.raises(Forbidden):
            await store.act(conn, cid, FollowUp(text="x"), officer(opds.dlh), clock=clock, now=wib(2026, 12, 2))

        await store.act(
            conn,
            cid,
            FollowUp(text="Lampu sudah diganti"),
            officer(opds.dpupr),
            clock=clock,
            now=wib(2026, 12, 3, 10),
            photo=(b"\x89PNG fake", "image/png"),
        )
        row = await store.get(conn, cid)
        assert row["status"] == "tindak_lanjut" and row["stage"] == "tanggapan"
        await store.act(conn, cid, Accept(), CITIZEN, clock=clock, now=wib(2026, 12, 4, 10))
        row = await store.get(conn, cid)
        assert row["status"] == "selesai" and row["close_reason"] == "diterima"
        assert row["due_at"] is None and row["closed_at"] == wib(2026, 12, 4, 10)
        # 30 Nov 09:00 -> 3 Dec 10:00 counts; the day waiting for the citizen does not
        assert row["e2e_working_s"] == pytest.approx((3 * 24 + 1) * 3600)

        (d,) = await store.dispositions(conn, cid)
        assert d["outcome"] == "followed_up" and d["on_time"] and d["has_photo"]
        assert d["working_s"] == pytest.approx(2 * 86400)
        assert await store.followup_photo(conn, d["id"]) == (b"\x89PNG fake", "image/png")

        hist = await store.history(conn, cid)
        assert [h["action"] for h in hist] == ["create", "dispose", "follow_up", "accept"]
        assert hist[1]["before"]["status"] == "verifikasi" and hist[1]["after"]["status"] == "disposisi"
        assert hist[1]["actor_name"] == "sari" and hist[1]["actor_role"] == "complaint_staff"
        # each change is also in the hash-chained audit log, once, by the same actor
        audited = await conn.fetch(
            """SELECT action, username, role FROM audit_log
                WHERE object_type = 'complaint' AND object_id = $1 ORDER BY id""",
            str(cid),
        )
        assert [(a["action"], a["username"], a["role"]) for a in audited] == [
            (f"complaint.{h['action']}", h["actor_name"], h["actor_role"]) for h in hist
        ]

        evs = await committed_events(conn, lambda e: e.complaint_id == cid, 4)
        assert [e.kind for e in evs] == [
            "complaint.created",
            "complaint.dispose",
            "complaint.follow_up",
            "complaint.accept",
        ]


async def test_tunda_stops_the_verification_clock(pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock) -> None:
    async with pool.acquire() as conn:
        cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
        await store.act(
            conn, cid, Hold(reason="Lokasi persisnya di mana?"), STAFF, clock=clock, now=wib(2026, 12, 1, 9)
        )
        row = await store.get(conn, cid)
        assert row["status"] == "tunda" and row["paused_at"] == wib(2026, 12, 1, 9) and row["due_at"] is None
        # the citizen answers two working days later: the 2 days left run from then
        await store.act(conn, cid, Resume(note="Depan SD 2"), CITIZEN, clock=clock, now=wib(2026, 12, 3, 9))
        row = await store.get(conn, cid)
        assert row["status"] == "verifikasi" and row["paused_at"] is None
        assert row["due_at"] == wib(2026, 12, 7, 9)
        assert [(p["kind"], p["ended_at"]) for p in await store.pauses(conn, cid)] == [("tunda", wib(2026, 12, 3, 9))]


async def test_bounce_keeps_the_end_to_end_clock_and_each_opd_record(
    pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock
) -> None:
    async with pool.acquire() as conn:
        cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
        await store.act(conn, cid, Dispose(opd_id=opds.dlh), STAFF, clock=clock, now=wib(2026, 11, 30, 12))
        await store.act(
            conn,
            cid,
            ReturnToVerification(reason="Ini urusan jalan"),
            officer(opds.dlh),
            clock=clock,
            now=wib(2026, 12, 1, 12),
        )
        row = await store.get(conn, cid)
        assert row["status"] == "verifikasi" and row["bounce_count"] == 1 and row["opd_id"] is None
        assert row["due_at"] == wib(2026, 12, 4, 12)  # a new verification stage
        await store.act(conn, cid, Dispose(opd_id=opds.dpupr), STAFF, clock=clock, now=wib(2026, 12, 1, 13))
        await store.act(
            conn, cid, FollowUp(text="Ditambal"), officer(opds.dpupr), clock=clock, now=wib(2026, 12, 2, 13)
        )
        await store.act(conn, cid, Dispute(reason="Masih berlubang"), CITIZEN, clock=clock, now=wib(2026, 12, 3, 13))
        row = await store.get(conn, cid)
        assert row["status"] == "disposisi" and row["opd_id"] == opds.dpupr and row["rounds"] == 3
        ds = await store.dispositions(conn, cid)
        assert [(d["opd_id"], d["outcome"]) for d in ds] == [
            (opds.dlh, "returned"),
            (opds.dpupr, "followed_up"),
            (opds.dpupr, None),
        ]
        assert ds[0]["working_s"] == pytest.approx(86400)
        assert ds[2]["due_at"] == wib(2026, 12, 10, 13)


async def test_bad_input_is_refused(pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(InvalidAction):
            await new(conn, clock, wib(2026, 11, 30, 9), description="  ")
        with pytest.raises(InvalidAction):
            await new(conn, clock, wib(2026, 11, 30, 9), lat=-7.3)
        with pytest.raises(InvalidAction):
            await new(conn, clock, wib(2026, 11, 30, 9), category_id=999)
        cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
        not_opd = await conn.fetchval(
            "INSERT INTO agency (code, kind, name) VALUES ('POLRES', 'polres', 'Polres') RETURNING id"
        )
        with pytest.raises(InvalidAction):
            await store.act(conn, cid, Dispose(opd_id=not_opd), STAFF, clock=clock)
        with pytest.raises(InvalidTransition):
            await store.act(conn, cid, Accept(), CITIZEN, clock=clock)
        assert (await store.get(conn, cid))["status"] == "verifikasi"
        assert [h["action"] for h in await store.history(conn, cid)] == ["create"]


async def make_incident(conn: asyncpg.Connection) -> uuid.UUID:
    await conn.execute("INSERT INTO device (id, name) VALUES ('btn-pasar-1', 'Tombol Pasar Kertek')")
    alert = await conn.fetchval(
        """INSERT INTO alert (device_id, seq, type, received_at, payload)
           VALUES ('btn-pasar-1', 1, 'panic', now(), '{}') RETURNING id"""
    )
    return await conn.fetchval(
        """INSERT INTO incident (alert_id, device_id, type, lat, lon, location_source, desa_code, desa_name,
                                 kecamatan_code, kecamatan_name)
           VALUES ($1, 'btn-pasar-1', 'panic', -7.3605, 109.903, 'gps', '33.07.09.2001', 'Kertek',
                   '33.07.09', 'Kertek') RETURNING id""",
        alert,
    )


async def test_handover_from_an_incident_keeps_place_and_links_both_ways(
    pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock
) -> None:
    async with pool.acquire() as conn:
        inc = await make_incident(conn)
        await conn.execute(
            """INSERT INTO incident_note (incident_id, username, kind, body)
               VALUES ($1, 'operator1', 'note', 'Lampu jalan mati, bukan darurat')""",
            inc,
        )
        op = Actor(Role.OPERATOR, None, "operator1")
        c = await store.create_from_incident(conn, inc, op, clock=clock, now=wib(2026, 11, 30, 9))
        assert c["channel"] == "dispatch" and c["incident_id"] == inc
        assert c["description"].startswith("Lampu jalan mati, bukan darurat\n\nDialihkan dari insiden #")
        assert (c["lat"], c["lon"], c["desa_code"], c["kecamatan_name"]) == (
            -7.3605,
            109.903,
            "33.07.09.2001",
            "Kertek",
        )
        assert await conn.fetchval("SELECT complaint_id FROM incident WHERE id = $1", inc) == c["id"]
        with pytest.raises(InvalidAction):
            await store.create_from_incident(conn, inc, op, clock=clock)
        with pytest.raises(store.NotFound):
            await store.create_from_incident(conn, uuid.uuid4(), op, clock=clock)
        evs = await committed_events(conn, lambda e: e.kind == "complaint.created", 1)
        assert evs[0].incident_id == inc and evs[0].complaint_id == c["id"]


async def test_sweep_red_escalation_and_auto_close(pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock) -> None:
    async with pool.acquire() as conn:
        cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
        await store.act(conn, cid, Dispose(opd_id=opds.dpupr), STAFF, clock=clock, now=wib(2026, 12, 1, 10))
        late = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]  # never verified

    r = await store.sweep(pool, clock, wib(2026, 12, 3, 8, 59))
    assert not r
    r = await store.sweep(pool, clock, wib(2026, 12, 3, 9))  # verification of `late` is due
    assert (r.red, r.opd_head_notified) == (1, 0)
    r = await store.sweep(pool, clock, wib(2026, 12, 8, 10))  # the OPD's 5 days ran out
    assert (r.red, r.opd_head_notified, r.sekda_notified) == (1, 1, 0)
    assert not await store.sweep(pool, clock, wib(2026, 12, 10, 9, 59))
    r = await store.sweep(pool, clock, wib(2026, 12, 10, 10))  # two working days after red
    assert (r.red, r.sekda_notified) == (0, 1)
    assert not await store.sweep(pool, clock, wib(2026, 12, 31))

    async with pool.acquire() as conn:
        esc = await conn.fetch("SELECT level, at FROM complaint_escalation WHERE complaint_id = $1 ORDER BY id", cid)
        assert [(e["level"], e["at"]) for e in esc] == [
            ("opd_head", wib(2026, 12, 8, 10)),
            ("sekda", wib(2026, 12, 10, 10)),
        ]
        assert (await store.get(conn, late))["red_at"] == wib(2026, 12, 3, 9)

        # a leader reprimands the OPD for it
        with pytest.raises(Forbidden):
            await store.issue_teguran(conn, opds.dpupr, "Segera", STAFF, now=wib(2026, 12, 11))
        with pytest.raises(InvalidAction):
            await store.issue_teguran(conn, opds.dlh, "Segera", LEADER, now=wib(2026, 12, 11))
        tid = await store.issue_teguran(conn, opds.dpupr, "Segera tindak lanjuti", LEADER, now=wib(2026, 12, 11))
        (t,) = await store.list_teguran(conn, opds.dpupr)
        assert t["id"] == tid and t["complaint_ids"] == [cid] and t["read_at"] is None
        with pytest.raises(Forbidden):
            await store.mark_teguran_read(conn, tid, officer(opds.dlh))
        await store.mark_teguran_read(conn, tid, officer(opds.dpupr))
        await store.mark_teguran_read(conn, tid, officer(opds.dpupr))  # a second click changes nothing
        read = await conn.fetch("SELECT action, object_id FROM audit_log WHERE action = 'teguran.read'")
        assert [(r["action"], r["object_id"]) for r in read] == [("teguran.read", str(tid))]

        # followed up late (not on time), then the citizen never answers: closed after 10 working days
        await store.act(
            conn, cid, FollowUp(text="Sudah diperbaiki"), officer(opds.dpupr), clock=clock, now=wib(2026, 12, 11, 10)
        )
        (d,) = await store.dispositions(conn, cid)
        assert d["on_time"] is False
    assert not await store.sweep(pool, clock, wib(2026, 12, 29, 9, 59))
    r = await store.sweep(pool, clock, wib(2026, 12, 29, 10))  # 24 and 25 Dec do not count
    assert r.auto_closed == 1
    async with pool.acquire() as conn:
        row = await store.get(conn, cid)
        assert row["status"] == "selesai" and row["close_reason"] == "otomatis"
        assert [h["action"] for h in await store.history(conn, cid)][-1] == "auto_close"


async def test_concurrent_sweeps_never_act_twice(pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock) -> None:
    async with pool.acquire() as conn:
        for _ in range(60):
            cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
            await store.act(conn, cid, Dispose(opd_id=opds.dpupr), STAFF, clock=clock, now=wib(2026, 11, 30, 10))
    now = wib(2026, 12, 10, 12)  # past red and past the Sekda's turn
    results = await asyncio.gather(*(store.sweep(pool, clock, now, batch=7) for _ in range(4)))
    assert sum(r.red for r in results) == 60
    assert sum(r.opd_head_notified for r in results) == 60
    assert sum(r.sekda_notified for r in results) == 60
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM complaint_escalation") == 120
        assert await conn.fetchval("SELECT count(*) FROM event WHERE kind = 'complaint.red'") == 60


async def test_collective_leave_feeds_the_clock(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert (await store.load_clock(conn)).is_working_day(date(2026, 12, 24))
        await store.set_collective_leave(conn, [date(2026, 12, 24)], note="Natal", actor=Actor(Role.ADMIN, 1, "admin"))
        await store.set_collective_leave(
            conn, [date(2026, 12, 24)], note="Natal 2026", actor=Actor(Role.ADMIN, 1, "admin")
        )
        assert not (await store.load_clock(conn)).is_working_day(date(2026, 12, 24))
        assert [r["note"] for r in await store.list_collective_leave(conn, 2026)] == ["Natal 2026"]
        assert await store.remove_collective_leave(conn, date(2026, 12, 24))


async def test_recompute_due_after_new_cuti_bersama(pool: asyncpg.Pool, opds: Opds) -> None:
    bare = WorkingDayClock()
    async with pool.acquire() as conn:
        cid = (await new(conn, bare, wib(2026, 12, 22, 9)))["id"]
        assert (await store.get(conn, cid))["due_at"] == wib(2026, 12, 28, 9)
        await store.set_collective_leave(conn, [date(2026, 12, 24)], actor=Actor(Role.ADMIN, 1, "admin"))
    assert await store.recompute_due(pool, await store.load_clock(pool)) == 1
    async with pool.acquire() as conn:
        assert (await store.get(conn, cid))["due_at"] == wib(2026, 12, 29, 9)


async def test_reporter_identity_is_for_staff_and_audited(pool: asyncpg.Pool, clock: WorkingDayClock) -> None:
    async with pool.acquire() as conn:
        cid = (await new(conn, clock, wib(2026, 11, 30, 9), reporter_name="Budi", anonim=True))["id"]
        with pytest.raises(Forbidden):
            await store.reporter_identity(conn, cid, LEADER)
        who = await store.reporter_identity(conn, cid, Actor(Role.COMPLAINT_STAFF, None, "sari"), client_ip="10.0.0.5")
        assert who["reporter_name"] == "Budi"
        rows = await conn.fetch(
            "SELECT username, action, client_ip FROM audit_log WHERE object_type = 'complaint' AND object_id = $1",
            str(cid),
        )
        # the complaint's creation (by the citizen) and the view of who reported it
        assert [r["action"] for r in rows] == ["complaint.create", "complaint.view_reporter"]
        assert (rows[1]["username"], str(rows[1]["client_ip"])) == ("sari", "10.0.0.5")


async def test_categories(pool: asyncpg.Pool, categories: dict[str, int]) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(InvalidAction):
            await store.create_category(conn, "sampah", "lagi")
        with pytest.raises(InvalidAction):
            await store.create_category(conn, "bad code!", "x")
        await store.update_category(conn, categories["jalan"], active=False)
        assert [c["code"] for c in await store.list_categories(conn)] == ["sampah"]
        assert len(await store.list_categories(conn, active_only=False)) == 2


async def test_transitions_racing_the_sweep_neither_deadlock_nor_double_act(
    pool: asyncpg.Pool, opds: Opds, clock: WorkingDayClock
) -> None:
    ids = []
    async with pool.acquire() as conn:
        for _ in range(30):
            cid = (await new(conn, clock, wib(2026, 11, 30, 9)))["id"]
            await store.act(conn, cid, Dispose(opd_id=opds.dpupr), STAFF, clock=clock, now=wib(2026, 11, 30, 10))
            ids.append(cid)
    now = wib(2026, 12, 10, 12)

    async def follow_up(cid: int) -> None:
        async with pool.acquire() as conn:
            await store.act(conn, cid, FollowUp(text="sudah"), officer(opds.dpupr), clock=clock, now=now)

    results = await asyncio.gather(
        *(follow_up(c) for c in ids[::2]), *(store.sweep(pool, clock, now, batch=5) for _ in range(3))
    )
    sweeps = [r for r in results if isinstance(r, store.SweepResult)]
    async with pool.acquire() as conn:
        red = await conn.fetchval("SELECT count(*) FROM complaint_escalation WHERE level = 'opd_head'")
        assert sum(s.opd_head_notified for s in sweeps) == red
        # every complaint was either followed up or escalated (or both, if the sweep came first)
        rows = await conn.fetch("SELECT id, status, red_at FROM complaint WHERE id = ANY($1)", ids)
        assert all(r["status"] == "tindak_lanjut" or r["red_at"] is not None for r in rows)
        dup = await conn.fetchval(
            """SELECT count(*) FROM (SELECT disposition_id, level FROM complaint_escalation
                                      GROUP BY 1, 2 HAVING count(*) > 1) x"""
        )
        assert dup == 0
