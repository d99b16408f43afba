"""The units registry: storage (audited), the CSV import with a bad row, the admin's pages and
``siaga units`` as an admin runs it; a unit added here is what the dispatch form offers."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from core import audit
from core.settings import Settings
from dispatch import service, units
from tests.dispatch import factory
from tests.dispatch.conftest import Client
from tests.support import run_siaga

ADMIN = audit.Actor(username="admin-test", role="admin")


async def _audit_actions(conn: asyncpg.Connection, object_type: str, object_id: int) -> list[str]:
    return [r["action"] for r in await audit.for_object(conn, object_type, str(object_id))]


async def test_add_rename_kind_deactivate_each_audited(pool: asyncpg.Pool, world: factory.World) -> None:
    async with pool.acquire() as conn:
        unit_id = await units.add_unit(conn, ADMIN, world.polres, "Patroli 1", "mobil")
        assert await units.rename_unit(conn, ADMIN, unit_id, "Patroli Satu")
        assert not await units.rename_unit(conn, ADMIN, unit_id, "Patroli Satu")  # no change, no audit row
        assert await units.set_kind(conn, ADMIN, unit_id, "motor")
        assert await units.set_active(conn, ADMIN, unit_id, False)
        assert await units.set_active(conn, ADMIN, unit_id, True)
        row = await units.get_unit(conn, unit_id)
        assert (row["name"], row["kind"], row["active"]) == ("Patroli Satu", "motor", True)
        assert await _audit_actions(conn, "agency_unit", unit_id) == [
            "unit.add",
            "unit.rename",
            "unit.kind",
            "unit.disable",
            "unit.enable",
        ]
        [entry] = [e for e in await audit.for_object(conn, "agency_unit", str(unit_id)) if e["action"] == "unit.kind"]
        assert entry["before"]["kind"] == "mobil" and entry["after"]["kind"] == "motor"
        assert entry["username"] == "admin-test"
        assert [u["name"] for u in await units.list_units(conn, world.polres)] == ["Patroli Satu"]


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("", "mobil", "wajib diisi"),
        ("x" * 101, "mobil", "terlalu panjang"),
        ("Patroli\x00", "mobil", "tidak diizinkan"),
        ("Patroli 9", "tank", "tidak dikenal"),
    ],
)
async def test_bad_unit_refused_in_indonesian(
    pool: asyncpg.Pool, world: factory.World, name: str, kind: str, words: str
) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(units.UnitError) as caught:
            await units.add_unit(conn, ADMIN, world.polres, name, kind)
    assert words in caught.value.message


async def test_same_name_twice_is_a_conflict(pool: asyncpg.Pool, world: factory.World) -> None:
    async with pool.acquire() as conn:
        first = await units.add_unit(conn, ADMIN, world.polres, "Patroli 1")
        second = await units.add_unit(conn, ADMIN, world.polres, "Patroli 2")
        with pytest.raises(units.UnitError) as caught:
            await units.add_unit(conn, ADMIN, world.polres, "Patroli 1")
        assert caught.value.kind == units.Kind.CONFLICT
        with pytest.raises(units.UnitError):
            await units.rename_unit(conn, ADMIN, second, "Patroli 1")
        assert (await units.get_unit(conn, first))["name"] == "Patroli 1"


def test_csv_bad_row_is_named() -> None:
    text = "agency_code,name,kind\nt-polres,Patroli 1,mobil\nt-polres,,motor\n"
    with pytest.raises(units.UnitError) as caught:
        units.parse_units_csv(text)
    assert caught.value.message.startswith("baris 3: nama unit wajib diisi")
    with pytest.raises(units.UnitError, match="baris 2: jenis unit 'perahu' tidak dikenal"):
        units.parse_units_csv("agency_code,name,kind\nt-polres,Perahu,perahu\n")
    with pytest.raises(units.UnitError, match="baris 1"):
        units.parse_units_csv("kode,nama\n")
    with pytest.raises(units.UnitError, match="baris 3: unit 'A' sudah ada di baris 2"):
        units.parse_units_csv("agency_code,name,kind\nx,A,\nx,A,motor\n")
    assert units.parse_units_csv("\ufeffagency_code,name,kind\nx,A,\n") == [units.UnitRow(2, "x", "A", "unit")]


async def test_csv_import_upserts_and_an_unknown_agency_refuses_the_whole_file(
    pool: asyncpg.Pool, world: factory.World
) -> None:
    async with pool.acquire() as conn:
        old = await units.add_unit(conn, ADMIN, world.polres, "Patroli 1", "mobil")
        await units.set_active(conn, ADMIN, old, False)
        bad = units.parse_units_csv("agency_code,name,kind\nt-polres,Patroli 2,mobil\ntidak-ada,Motor 1,motor\n")
        with pytest.raises(units.UnitError, match="baris 3: instansi dengan kode 'tidak-ada' tidak ada"):
            await units.import_units(conn, ADMIN, bad)
        assert [u["name"] for u in await units.list_units(conn, world.polres)] == ["Patroli 1"]
        good = units.parse_units_csv(
            "agency_code,name,kind\nt-polres,Patroli 1,motor\nt-polres,Patroli 2,mobil\n"
            "t-polsek-ktk,Pos Kalikajar,pos\n"
        )
        summary = await units.import_units(conn, ADMIN, good)
        assert (summary.added, summary.updated, summary.unchanged) == (2, 1, 0)
        again = await units.import_units(conn, ADMIN, good)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
        row = await units.get_unit(conn, old)
        assert (row["kind"], row["active"]) == ("motor", True)
        assert await _audit_actions(conn, "agency_unit", old) == ["unit.add", "unit.disable", "unit.import"]


async def test_a_new_unit_is_offered_by_the_dispatch_form(
    pool: asyncpg.Pool, settings: Settings, world: factory.World
) -> None:
    async with pool.acquire() as conn:
        await units.add_unit(conn, ADMIN, world.polsek_kertek, "Patroli Kertek", "mobil")
        made = await factory.incident(conn, police_agency_id=world.polsek_kertek)
    await service.route_pending(pool, settings)
    async with pool.acquire() as conn:
        detail = await service.get_incident(conn, world.users["op-kertek"], made.incident_id)
    assert [u["name"] for u in detail["units"]] == ["Patroli Kertek"]


async def test_agency_update_audited(pool: asyncpg.Pool, world: factory.World) -> None:
    async with pool.acquire() as conn:
        assert await units.update_agency(
            conn, ADMIN, world.damkar, name="Damkar Wonosobo", short_name="Damkar", active=True
        )
        assert not await units.update_agency(
            conn, ADMIN, world.damkar, name="Damkar Wonosobo", short_name="Damkar", active=True
        )
        with pytest.raises(units.UnitError, match="nama instansi wajib diisi"):
            await units.update_agency(conn, ADMIN, world.damkar, name=" ", short_name="", active=True)
        [entry] = await audit.for_object(conn, "agency", str(world.damkar))
        assert entry["action"] == "agency.update"
        assert entry["before"]["short_name"] is None and entry["after"]["short_name"] == "Damkar"


async def _page(s: aiohttp.ClientSession, path: str) -> str:
    r = await s.get(path)
    assert r.status == 200, await r.text()
    return await r.text()


async def test_admin_pages_add_deactivate_import_and_edit_an_agency(
    pool: asyncpg.Pool, world: factory.World, client: Client
) -> None:
    admin = await client("admin")
    r = await admin.post(
        "/admin/unit",
        data={"agency_id": str(world.polres), "name": "Patroli <b>1</b>", "kind": "mobil"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"].startswith("/admin/unit?")
    page = await _page(admin, r.headers["Location"])
    assert "Patroli &lt;b&gt;1&lt;/b&gt;" in page and "Mobil" in page and "Unit ditambahkan." in page
    async with pool.acquire() as conn:
        [unit] = await units.list_units(conn, world.polres)
    assert 'data-confirm="Nonaktifkan unit' in page and f"/admin/unit/{unit['id']}/nonaktif" in page

    # the same name again: a 409 page in Indonesian, not JSON
    r = await admin.post(
        "/admin/unit",
        data={"agency_id": str(world.polres), "name": "Patroli <b>1</b>"},
        headers={"Accept": "text/html"},
    )
    assert r.status == 409 and r.content_type == "text/html"
    assert "sudah punya unit bernama" in await r.text()

    assert (await admin.post(f"/admin/unit/{unit['id']}/nonaktif", allow_redirects=False)).status == 303
    r = await admin.post(
        f"/admin/unit/{unit['id']}", data={"name": "Patroli 1", "kind": "motor"}, allow_redirects=False
    )
    assert r.status == 303
    async with pool.acquire() as conn:
        row = await units.get_unit(conn, unit["id"])
    assert (row["name"], row["kind"], row["active"]) == ("Patroli 1", "motor", False)

    form = aiohttp.FormData()
    form.add_field(
        "berkas",
        b"agency_code,name,kind\nt-polres,Patroli 2,mobil\nt-polres,Patroli 3,kapal\n",
        filename="unit.csv",
        content_type="text/csv",
    )
    r = await admin.post("/admin/unit/impor", data=form, headers={"Accept": "text/html"})
    assert r.status == 400 and "baris 3: jenis unit" in await r.text()
    form = aiohttp.FormData()
    form.add_field("berkas", b"agency_code,name,kind\nt-polres,Patroli 2,mobil\n", filename="unit.csv")
    r = await admin.post("/admin/unit/impor", data=form)
    assert r.status == 200 and "1 ditambah, 0 diubah, 0 tetap" in await r.text()

    page = await _page(admin, "/admin/instansi")
    assert "Polres Wonosobo" in page and "Polsek" in page and f"/admin/instansi/{world.damkar}" in page
    assert "Pemadam kebakaran" in page  # the agency kind's label, never its code
    assert "Ubah instansi" in await _page(admin, f"/admin/instansi/{world.damkar}")
    r = await admin.post(
        f"/admin/instansi/{world.damkar}",
        data={"name": "Damkar Kab. Wonosobo", "short_name": "Damkar"},
        allow_redirects=False,
    )
    assert r.status == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT active FROM agency WHERE id = $1", world.damkar) is False
        assert [e["action"] for e in await audit.for_object(conn, "agency", str(world.damkar))] == ["agency.update"]
    r = await admin.get("/admin/instansi/99999999", headers={"Accept": "text/html"})
    assert r.status == 404 and "tidak ada" in await r.text()


async def test_units_pages_are_the_admins_only(client: Client) -> None:
    supervisor = await client("supervisor")
    r = await supervisor.get("/admin/unit", headers={"Accept": "text/html"})
    assert r.status == 403 and r.content_type == "text/html"
    assert (await supervisor.get("/admin/instansi")).status == 403


async def _siaga(dsn: str, *args: str) -> tuple[int, str]:
    return await run_siaga("units", *args, env={**os.environ, "SIAGA_DATABASE_URL": dsn})


async def test_cli_list_add_disable_import(
    db_dsn: str, pool: asyncpg.Pool, world: factory.World, tmp_path: Path
) -> None:
    code, out = await _siaga(db_dsn, "add", "t-polres", "Patroli 1", "--kind", "mobil")
    assert code == 0, out
    assert "ditambahkan ke Polres Wonosobo" in out
    code, out = await _siaga(db_dsn, "add", "t-polres", "Patroli 1")
    assert code == 2 and "sudah punya unit bernama 'Patroli 1'" in out and "Traceback" not in out
    code, out = await _siaga(db_dsn, "add", "tidak-ada", "Patroli 1")
    assert code == 2 and "tidak ada instansi dengan kode 'tidak-ada'" in out
    code, out = await _siaga(db_dsn, "list", "--agency", "t-polres")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "instansi", "nama", "jenis", "aktif"]
    assert "Patroli 1" in out and "Mobil" in out and "Pos Kertek" not in out
    unit_id = int(lines[2].split()[0])
    code, out = await _siaga(db_dsn, "disable", str(unit_id))
    assert code == 0 and "dinonaktifkan" in out, out
    bad = tmp_path / "bad.csv"
    bad.write_text("agency_code,name,kind\nt-polres,Motor 1,motor\nt-polres,Motor 2,sepeda\n")
    code, out = await _siaga(db_dsn, "import", str(bad))
    assert code == 2 and "baris 3" in out, out
    good = tmp_path / "good.csv"
    good.write_text("agency_code,name,kind\nt-polres,Motor 1,motor\nt-polres,Patroli 1,mobil\n")
    code, out = await _siaga(db_dsn, "import", str(good))
    assert code == 0 and "1 ditambah, 1 diubah, 0 tetap" in out, out
    async with pool.acquire() as conn:
        assert (await units.get_unit(conn, unit_id))["active"] is True  # the import made it active again
        entries = await audit.for_object(conn, "agency_unit", str(unit_id))
    assert [e["action"] for e in entries] == ["unit.add", "unit.disable", "unit.import"]
    assert all(e["username"].startswith("cli:") for e in entries)
