"""The roster API and page rules, CSV import/export, audited swaps, the console WebSocket's
presence, and the handover of open incidents between shifts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from core import audit
from core.db import open_pool
from core.settings import Settings
from dispatch import presence, roster, roster_rules, service
from siaga.webapp import create_app
from tests.dispatch import factory
from tests.dispatch.conftest import Client
from tests.support import free_port, wait_for

SHIFTS = [("P", "Pagi", "06:00", 8), ("S", "Siang", "14:00", 8), ("M", "Malam", "22:00", 8)]


async def _shifts(client: Client, agency: int) -> None:
    s = await client("supervisor")
    for code, name, start, hours in SHIFTS:
        r = await s.put(f"/api/v1/roster/{agency}/shifts/{code}", json={"name": name, "starts": start, "hours": hours})
        assert r.status == 200, await r.text()


async def test_shift_patterns_api(client: Client, world: factory.World, pool: asyncpg.Pool) -> None:
    await _shifts(client, world.polsek_wonosobo)
    spv = await client("supervisor")
    got = await (await spv.get(f"/api/v1/roster/{world.polsek_wonosobo}/shifts")).json()
    assert [(x["code"], x["starts"], x["hours"]) for x in got] == [
        ("P", "06:00", 8),
        ("S", "14:00", 8),
        ("M", "22:00", 8),
    ]
    # overlapping: refused, nothing changed
    r = await spv.put(
        f"/api/v1/roster/{world.polsek_wonosobo}/shifts/X", json={"name": "Lembur", "starts": "12:00", "hours": 4}
    )
    assert r.status == 422
    assert (await r.json())["error"] == "shift_overlap"
    # the operator reads their own agency, not another's, and changes nothing
    op = await client("op-polsek")
    assert (await op.get(f"/api/v1/roster/{world.polsek_wonosobo}/shifts")).status == 200
    assert (await op.get(f"/api/v1/roster/{world.dishub}/shifts")).status == 404
    r = await op.put(
        f"/api/v1/roster/{world.polsek_wonosobo}/shifts/X", json={"name": "X", "starts": "01:00", "hours": 1}
    )
    assert r.status == 403
    for who in ("complaints", "opd", "cc", "leader"):
        r = await (await client(who)).put(
            f"/api/v1/roster/{world.polsek_wonosobo}/shifts/X", json={"name": "X", "starts": "01:00", "hours": 1}
        )
        assert r.status == 403, who
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'roster.shift_save'") == 3


async def test_csv_import_export_and_swap(client: Client, world: factory.World, pool: asyncpg.Pool) -> None:
    await _shifts(client, world.polsek_wonosobo)
    spv = await client("supervisor")
    base = "/api/v1/roster/t-polsek-wsb/2026-12"
    good = (
        "tanggal,shift,pengguna,siaga\n2026-12-01,P,op-polsek,\n2026-12-31,M,op-polsek,\n2026-12-31,M,supervisor,ya\n"
    )
    r = await spv.put(f"{base}.csv", data=good.encode(), headers={"Content-Type": "text/csv"})
    assert r.status == 200, await r.text()
    assert (await r.json())["imported"] == 3
    bad = good + "2026-12-32,P,op-polsek,\n2026-12-02,P,op-kertek,\n"
    r = await spv.put(f"{base}.csv", data=bad.encode(), headers={"Content-Type": "text/csv"})
    assert r.status == 422
    body = await r.json()
    assert body["errors"] == [
        "baris 5: tanggal '2026-12-32' tidak sah (YYYY-MM-DD)",
        "baris 6: pengguna 'op-kertek' bukan petugas instansi ini",
    ]
    # all or nothing: the good import stands
    text = await (await spv.get(f"{base}.csv")).text()
    assert text == good.replace(",\n", ",\n")
    month = await (await spv.get(base)).json()
    night = [x for x in month["entries"] if x["day"] == "2026-12-31"]
    # the night shift of 31 December ends at 06:00 WIB on 1 January
    assert {x["ends_at"] for x in night} == {"2026-12-31T23:00:00+00:00"}

    # swap: the operator's night shift goes to the supervisor's morning... and an entry to someone else
    first = next(x for x in month["entries"] if x["day"] == "2026-12-01")
    r = await spv.post(
        f"/api/v1/roster/{world.polsek_wonosobo}/swap", json={"entry_id": first["id"], "username": "admin"}
    )
    assert r.status == 200, await r.text()
    assert [x["username"] for x in (await r.json())["entries"]] == ["admin"]
    op_night = next(x for x in night if x["username"] == "op-polsek")
    spv_night = next(x for x in night if x["username"] == "supervisor")
    r = await spv.post(
        f"/api/v1/roster/{world.polsek_wonosobo}/swap",
        json={"entry_id": first["id"], "other_entry_id": op_night["id"]},
    )
    assert r.status == 200, await r.text()
    r = await spv.post(
        f"/api/v1/roster/{world.polsek_wonosobo}/swap",
        json={"entry_id": op_night["id"], "other_entry_id": spv_night["id"]},
    )
    assert r.status == 422  # both on the same shift already
    swaps = await pool.fetch("SELECT before, after FROM audit_log WHERE action = 'roster.swap' ORDER BY id")
    assert len(swaps) == 2
    assert [x["username"] for x in swaps[1]["before"]["entries"]] == ["admin", "op-polsek"]
    assert [x["username"] for x in swaps[1]["after"]["entries"]] == ["op-polsek", "admin"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'roster.import'") == 1
    # the operator may not import
    op = await client("op-polsek")
    r = await op.put(f"{base}.csv", data=good.encode(), headers={"Content-Type": "text/csv"})
    assert r.status == 403


async def test_cli_roster_import_export(db_dsn: str, world: factory.World, tmp_path, monkeypatch, capsys) -> None:
    import asyncio

    from siaga import cli

    async with open_pool(db_dsn, min_size=1, max_size=1) as p, p.acquire() as conn:
        for code, name, start, hours in SHIFTS:
            await roster.save_shift(conn, audit.SYSTEM, world.dishub, roster_rules.make_shift(code, name, start, hours))
    monkeypatch.setenv("SIAGA_DATABASE_URL", db_dsn)
    src = tmp_path / "piket.csv"
    src.write_text("tanggal,shift,pengguna,siaga\n2027-02-28,M,op-dishub,\n2027-02-29,P,op-dishub,\n")
    with pytest.raises(SystemExit) as e:
        await asyncio.to_thread(cli.main, ["roster", "import", str(src), "--agency", "t-dishub", "--month", "2027-02"])
    assert "baris 3: tanggal '2027-02-29' tidak sah (YYYY-MM-DD)" in str(e.value)
    src.write_text("tanggal,shift,pengguna,siaga\n2027-02-28,M,op-dishub,\n")
    await asyncio.to_thread(cli.main, ["roster", "import", str(src), "--agency", "t-dishub", "--month", "2027-02"])
    out = tmp_path / "keluar.csv"
    await asyncio.to_thread(cli.main, ["roster", "export", str(out), "--agency", "t-dishub", "--month", "2027-02"])
    assert out.read_text() == "tanggal,shift,pengguna,siaga\n2027-02-28,M,op-dishub,\n"
    assert "1 jadwal piket diimpor" in capsys.readouterr().out


@pytest.fixture
async def fast_server(db_dsn: str, pool: asyncpg.Pool, world: factory.World) -> AsyncIterator[tuple[str, Settings]]:
    settings = Settings(database_url=db_dsn, presence_beat_s=0.2, presence_stale_s=1.0)
    app = create_app(settings, pool, extras=False)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        await runner.cleanup()


async def _login(server: str, username: str) -> str:
    async with aiohttp.ClientSession() as anon:
        r = await anon.post(f"{server}/api/v1/login", json={"username": username, "password": factory.PASSWORD})
        return (await r.json())["token"]


async def test_console_socket_is_presence(
    fast_server: tuple[str, Settings], pool: asyncpg.Pool, world: factory.World
) -> None:
    server, settings = fast_server
    token = await _login(server, "op-polsek")
    headers = {"Authorization": f"Bearer {token}"}

    async def operators() -> list[str]:
        async with pool.acquire() as conn:
            rows = await presence.present(conn, settings.presence_stale_s)
        return next(a["operators"] for a in rows if a["agency_id"] == world.polsek_wonosobo)

    async with aiohttp.ClientSession(base_url=server, headers=headers) as s:
        async with s.ws_connect("/api/v1/stream") as ws:
            await wait_for(operators, timeout=2, what="present")
            beat0 = await pool.fetchval("SELECT last_beat FROM console_presence")

            async def beaten() -> bool:
                return await pool.fetchval("SELECT last_beat FROM console_presence") > beat0

            await wait_for(beaten, timeout=2, what="a heartbeat")
            await ws.close()

        async def closed() -> bool:
            return await pool.fetchval("SELECT end_reason FROM console_presence") == "closed"

        await wait_for(closed, timeout=2, what="clean close ends presence")
        assert await operators() == []

        # signing out ends the console's presence and closes its socket
        async with s.ws_connect("/api/v1/stream") as ws:
            await wait_for(operators, timeout=2, what="present again")
            assert (await s.post("/api/v1/logout")).status == 200
            assert await operators() == []
            msg = await ws.receive(timeout=3)
            while msg.type == aiohttp.WSMsgType.TEXT:
                msg = await ws.receive(timeout=3)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 4001

    async def reasons() -> list[str]:
        rows = await pool.fetch("SELECT end_reason FROM console_presence ORDER BY connected_at")
        return [r["end_reason"] for r in rows]

    await wait_for(lambda: _equal(reasons(), ["closed", "signed_out"]), timeout=2, what="both ended")


async def _equal(got: Awaitable[list[str]], want: list[str]) -> bool:
    return await got == want


async def test_presence_api_and_page_rules(client: Client, world: factory.World) -> None:
    for who, status in [
        ("cc", 200),
        ("supervisor", 200),
        ("leader", 200),
        ("admin", 200),
        ("op-polsek", 403),
        ("complaints", 403),
        ("opd", 403),
    ]:
        r = await (await client(who)).get("/api/v1/presence")
        assert r.status == status, who
    cc = await client("cc")
    agencies = (await (await cc.get("/api/v1/presence")).json())["agencies"]
    assert agencies[0]["kind"] == "command_centre"
    page = await cc.get("/piket", headers={"Accept": "text/html"})
    assert page.status == 200
    text = await page.text()
    assert "Kehadiran di konsol sekarang" in text and "KOSONG" in text
    assert "Tambah/ubah shift" not in text  # the command centre reads; supervisors edit
    r = await (await client("complaints")).get("/piket")
    assert r.status == 403


async def test_handover_keeps_open_incidents_with_the_incoming_shift(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    """An incident belongs to the agency, never to the operator who acknowledged it: the next
    shift's operator sees it, its notes and history, and carries on."""
    async with pool.acquire() as conn:
        outgoing = world.users["op-polsek"]
        incoming = await _user(conn, "op-polsek-malam", world.polsek_wonosobo)
        made = await factory.incident(conn, police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, settings)
    await service.transition(pool, settings, outgoing, made.incident_id, service.TransitionRequest("acknowledged"))
    await service.add_note(pool, settings, outgoing, made.incident_id, "serah terima: pelapor di warung")
    # the outgoing operator has gone home: account disabled even
    await pool.execute("UPDATE app_user SET active = false WHERE id = $1", outgoing.id)
    async with pool.acquire() as conn:
        listed = await service.list_incidents(conn, incoming)
        assert [r["id"] for r in listed] == [made.incident_id]
        detail = await service.get_incident(conn, incoming, made.incident_id)
    assert detail["state"] == "acknowledged"
    assert [n["body"] for n in detail["notes"]] == ["serah terima: pelapor di warung"]
    assert [h["kind"] for h in detail["history"]][:3] == ["incident.created", "incident.routed", "incident.state"]
    out = await service.transition(
        pool, settings, incoming, made.incident_id, service.TransitionRequest("dispatched", unit="Patroli 2")
    )
    assert out["state"] == "dispatched"


async def _user(conn: asyncpg.Connection, name: str, agency: int) -> factory.User:
    from core.auth import User
    from core.roles import Role

    uid = await conn.fetchval(
        "INSERT INTO app_user (username, password_hash, role, agency_id) VALUES ($1, 'x', 'operator', $2) RETURNING id",
        name,
        agency,
    )
    return User(uid, name, "", Role.OPERATOR, agency)
