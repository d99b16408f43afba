"""The admin's pages on the whole web role (real app, real database): the home's figures, users,
devices with the broker files, and the audit chain check as a browser uses them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest

from core.settings import Settings
from gateway.devices import add_device, check_mosquitto_hash, check_secret
from tests.security import conftest as security
from tests.security.conftest import USER_OF_ROLE, Site, sign_in_form

HTML = {"Accept": "text/html"}

# the whole web role with one seeded user per role, as the security suite serves it
site = security.site
world = security.world


@pytest.fixture
def settings(db_dsn: str) -> Settings:
    # a gateway password: the broker files are written with it (nothing connects to this broker)
    return Settings(
        database_url=db_dsn,
        complaint_sweep_s=0,
        dispatch_poll_s=0.2,
        mqtt_url="mqtt://siaga.gateway:gwpass@127.0.0.1:1",
    )


@pytest.fixture
def broker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "broker"
    monkeypatch.setenv("SIAGA_BROKER_AUTH_DIR", str(directory))
    return directory


async def _client(site: Site, role: str) -> tuple[aiohttp.ClientSession, str]:
    """A browser-like client holding a fresh session cookie of the role's seeded user: (client, csrf)."""
    token, csrf = await site.mint(role, kind="web")
    s = aiohttp.ClientSession(base_url=site.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    s.cookie_jar.update_cookies({"siaga_session": token})
    return s, csrf


@pytest.fixture
async def admin(site: Site) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    s, csrf = await _client(site, "admin")
    try:
        yield s, csrf
    finally:
        await s.close()


def _card(page: str, card_id: str) -> str:
    m = re.search(
        rf'<a class="card" id="{card_id}" href="([^"]+)">\s*<h2>[^<]+</h2>\s*<p class="figure">([^<]*)</p>', page
    )
    assert m, f"no card {card_id} in the page"
    return f"{m.group(1)} {m.group(2)}"


async def test_admin_home_shows_every_card_with_its_figure(
    site: Site, admin: tuple[aiohttp.ClientSession, str]
) -> None:
    s, _ = admin
    async with site.pool.acquire() as conn:
        await add_device(conn, "btn-quiet", "Tombol pasar")  # never heard from
        await add_device(conn, "btn-live", "Tombol sekolah")
        await conn.execute("UPDATE device SET online = true, last_seen_at = now() WHERE id = 'btn-live'")
        await add_device(conn, "btn-old", "Tombol terminal")
        await conn.execute(
            "UPDATE device SET online = true, last_seen_at = now() - interval '25 hours' WHERE id = 'btn-old'"
        )
        await add_device(conn, "btn-off", "Tombol lama")
        await conn.execute("UPDATE device SET active = false WHERE id = 'btn-off'")
        agencies = await conn.fetchval("SELECT count(*) FROM agency WHERE active")
        await conn.execute("UPDATE app_user SET active = false WHERE username = 'leader'")
        await conn.execute("INSERT INTO collective_leave (day, note) VALUES (current_date + 3, 'uji')")
    resp = await s.get("/admin", headers=HTML)
    page = await resp.text()
    assert resp.status == 200, page
    assert "<h1>Beranda admin</h1>" in page
    assert _card(page, "card-pengguna") == f"/admin/pengguna {len(USER_OF_ROLE) + 3 - 1} aktif"
    assert _card(page, "card-perangkat") == "/admin/perangkat 3 aktif, 2 luring atau tak terdengar 24 jam"
    assert _card(page, "card-unit") == "/admin/unit 2 unit"
    assert _card(page, "card-instansi") == f"/admin/instansi {agencies} instansi"
    assert _card(page, "card-kategori").startswith("/admin/kategori ")
    assert _card(page, "card-cuti") == "/admin/cuti 1 hari mendatang"
    assert _card(page, "card-open311") == "/admin/open311 0 klien aktif"
    assert _card(page, "card-audit").startswith("/admin/audit ")
    assert _card(page, "card-piket") == "/piket 0 pola giliran"


@pytest.mark.parametrize("role", sorted(set(USER_OF_ROLE) - {"admin"}))
async def test_other_roles_are_refused_with_a_page(site: Site, role: str) -> None:
    s, csrf = await _client(site, role)
    try:
        for path in ("/admin", "/admin/pengguna", "/admin/perangkat", "/admin/audit"):
            resp = await s.get(path, headers=HTML, allow_redirects=False)
            assert resp.status == 403 and resp.content_type == "text/html", path
            assert 'id="refusal-message"' in await resp.text()
        resp = await s.post("/admin/audit/periksa", data={"csrf_token": csrf}, headers=HTML)
        assert resp.status == 403 and resp.content_type == "text/html"
    finally:
        await s.close()


async def _audited(pool: asyncpg.Pool, action: str, object_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT username, role, after FROM audit_log WHERE action = $1 AND object_id = $2", action, object_id
    )


async def _can_sign_in(site: Site, username: str, password: str) -> bool:
    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        resp = await sign_in_form(s, username, password)
        return resp.status == 303 and "siaga_session" in {c.key for c in s.cookie_jar}


async def test_admin_adds_deactivates_reactivates_and_resets_a_user(
    site: Site, admin: tuple[aiohttp.ClientSession, str]
) -> None:
    s, csrf = admin
    form = {
        "csrf_token": csrf,
        "username": "Op-Baru",
        "full_name": "Operator Baru",
        "role": "operator",
        "agency_id": str(site.world.polsek_wonosobo),
        "password": "sandi-rahasia-1",
    }
    resp = await s.post("/admin/pengguna", data=form, headers=HTML)
    page = await resp.text()
    assert resp.status == 200 and "Pengguna op-baru dibuat." in page, page
    row = await site.pool.fetchrow("SELECT id, role, agency_id, active FROM app_user WHERE username = 'op-baru'")
    assert row["role"] == "operator" and row["agency_id"] == site.world.polsek_wonosobo and row["active"]
    assert 'id="user-op-baru"' in page and "Polsek Wonosobo" in page
    created = await _audited(site.pool, "user.create", str(row["id"]))
    assert [(r["username"], r["role"]) for r in created] == [("admin", "admin")]
    assert await _can_sign_in(site, "op-baru", "sandi-rahasia-1")
    listing = await (await s.get("/admin/pengguna", headers=HTML)).text()
    assert re.search(r'id="user-op-baru">.*?WIB</td>', listing, re.DOTALL), "last sign-in shown in WIB"

    # refusals: in Indonesian, above the form, what was typed kept (never the password)
    resp = await s.post("/admin/pengguna", data=form, headers=HTML)
    page = await resp.text()
    assert resp.status == 409 and 'id="form-error"' in page and "sudah dipakai" in page
    assert page.index('id="form-error"') < page.index('id="user-add"')
    assert "sandi-rahasia-1" not in page and 'value="Operator Baru"' in page
    resp = await s.post("/admin/pengguna", data={**form, "username": "lemah", "password": "pendek"}, headers=HTML)
    assert resp.status == 400 and "Kata sandi minimal 8 karakter." in await resp.text()
    resp = await s.post("/admin/pengguna", data={**form, "username": "tanpa-peran", "role": ""}, headers=HTML)
    page = await resp.text()
    assert resp.status == 400 and '<p class="error" role="alert" id="form-error">Pilih peran pengguna.</p>' in page
    resp = await s.post("/admin/pengguna", data={**form, "username": "tanpa", "agency_id": ""}, headers=HTML)
    assert resp.status == 400 and "harus terdaftar pada sebuah instansi" in await resp.text()

    resp = await s.post(f"/admin/pengguna/{row['id']}/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    page = await resp.text()
    assert resp.status == 200 and "Pengguna dinonaktifkan." in page
    assert 'data-confirm="Aktifkan kembali op-baru?"' in page
    assert await _audited(site.pool, "user.deactivate", str(row["id"]))
    assert not await _can_sign_in(site, "op-baru", "sandi-rahasia-1")
    resp = await s.post(f"/admin/pengguna/{row['id']}/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 409 and "sudah nonaktif" in await resp.text()

    resp = await s.post(f"/admin/pengguna/{row['id']}/aktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 200 and await _audited(site.pool, "user.reactivate", str(row["id"]))
    resp = await s.post(
        f"/admin/pengguna/{row['id']}/sandi", data={"csrf_token": csrf, "password": "sandi-baru-22"}, headers=HTML
    )
    assert resp.status == 200 and await _audited(site.pool, "user.password_reset", str(row["id"]))
    assert not await _can_sign_in(site, "op-baru", "sandi-rahasia-1")
    assert await _can_sign_in(site, "op-baru", "sandi-baru-22")

    own = site.world.users["admin"].id
    resp = await s.post(f"/admin/pengguna/{own}/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 409 and "akun Anda sendiri" in await resp.text()
    resp = await s.post("/admin/pengguna/999999/aktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 404


async def test_device_registration_shows_the_secret_once_and_writes_the_broker_files(
    site: Site, admin: tuple[aiohttp.ClientSession, str], broker_dir: Path
) -> None:
    s, csrf = admin
    form = {
        "csrf_token": csrf,
        "device_id": "TOKO-007",
        "name": "Toko Sumber Rejeki",
        "kind": "button",
        "description": "Pasar Induk",
        "fixed": "1",
        "lat": "-7,3605",
        "lon": "109.9030",
    }
    resp = await s.post("/admin/perangkat", data=form, headers=HTML)
    page = await resp.text()
    assert resp.status == 200, page
    secret = re.search(r'<code id="device-secret">([^<]+)</code>', page).group(1)
    row = await site.pool.fetchrow("SELECT * FROM device WHERE id = 'TOKO-007'")
    assert row["fixed"] and row["install_lat"] == -7.3605 and row["kind"] == "button"
    assert check_secret(secret, row["secret_hash"]) and check_mosquitto_hash(secret, row["broker_hash"])
    passwd = (broker_dir / "passwd").read_text()
    assert "TOKO-007:$7$" in passwd and "siaga.gateway:$7$" in passwd
    assert "pattern write" in (broker_dir / "acl").read_text()
    assert [(r["username"], r["role"]) for r in await _audited(site.pool, "device.create", "TOKO-007")] == [
        ("admin", "admin")
    ]

    listing = await (await s.get("/admin/perangkat", headers=HTML)).text()
    assert 'id="device-TOKO-007"' in listing and "Tombol panik" in listing and "Luring" in listing
    assert secret not in listing  # never shown again

    resp = await s.post("/admin/perangkat", data=form, headers=HTML)
    page = await resp.text()
    assert resp.status == 409 and "sudah terdaftar" in page and secret not in page
    resp = await s.post("/admin/perangkat", data={**form, "device_id": "x"}, headers=HTML)
    assert resp.status == 400 and "harus 3 sampai 64" in await resp.text()
    resp = await s.post("/admin/perangkat", data={**form, "device_id": "TOKO-008", "lat": "utara"}, headers=HTML)
    assert resp.status == 400 and "Lintang harus berupa angka" in await resp.text()

    resp = await s.post("/admin/perangkat/TOKO-007/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 200 and "Perangkat TOKO-007 dinonaktifkan." in await resp.text()
    assert "TOKO-007" not in (broker_dir / "passwd").read_text()  # the broker refuses it after a reload
    assert await _audited(site.pool, "device.disable", "TOKO-007")
    resp = await s.post("/admin/perangkat/TOKO-007/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 409 and "sudah nonaktif" in await resp.text()
    resp = await s.post("/admin/perangkat/tidak-ada/nonaktifkan", data={"csrf_token": csrf}, headers=HTML)
    assert resp.status == 404


async def test_audit_check_reports_intact_then_names_the_edited_entry(
    site: Site, admin: tuple[aiohttp.ClientSession, str]
) -> None:
    s, csrf = admin
    async with site.pool.acquire() as conn:
        for i in range(4):
            await add_device(conn, f"audit-{i}", f"Tombol {i}")
    resp = await s.post("/admin/audit/periksa", data={"csrf_token": csrf}, headers=HTML)
    page = await resp.text()
    assert resp.status == 200 and "Rantai audit utuh." in page, page
    checked = int(re.search(r'id="audit-checked">(\d+)<', page).group(1))
    assert checked >= 4
    assert re.search(r"waktu: \d+,\d\d detik", page)
    assert "Perangkat didaftarkan" in page and "Perangkat audit-3" in page  # the latest entries, readable
    assert "device.create" not in page and "<td>Sistem</td>" in page  # the CLI's registrations: the system

    async with site.pool.acquire() as conn:
        victim = await conn.fetchval("SELECT id FROM audit_log WHERE object_id = 'audit-1'")
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        await conn.execute(
            "UPDATE audit_log SET after = $2::jsonb WHERE id = $1", victim, orjson.dumps({"name": "palsu"}).decode()
        )
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    resp = await s.post("/admin/audit/periksa", data={"csrf_token": csrf}, headers=HTML)
    page = await resp.text()
    assert resp.status == 200 and "Rantai audit rusak" in page
    assert re.search(r'id="audit-broken">(\d+)<', page).group(1) == str(victim)


async def test_old_settings_address_still_served(site: Site, admin: tuple[aiohttp.ClientSession, str]) -> None:
    """The complaint settings page moved under /admin: its old address leads there, and the home
    links the new pages."""
    s, _ = admin
    resp = await s.get("/pengaduan/admin", headers=HTML, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/kategori"
    page = await (await s.get("/admin", headers=HTML)).text()
    assert 'href="/admin/kategori"' in page and 'href="/admin/cuti"' in page
