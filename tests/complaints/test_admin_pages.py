"""The admin's complaint pages in the whole web app: categories and their Open311 attributes, the
category CSV, cuti bersama, Open311 clients (the key shown once, and accepted by Open311), and
the refusals a browser is shown (Indonesian pages, never JSON)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web

from complaints import store
from core import audit, auth
from core.settings import Settings
from siaga.webapp import create_app
from tests.complaints.conftest import PASSWORD, Opds
from tests.support import free_port

HTML = {"Accept": "text/html"}
Login = Callable[[str], Awaitable[aiohttp.ClientSession]]
VOLUME = {
    "code": "volume",
    "datatype": "singlevaluelist",
    "required": True,
    "order": 1,
    "description": "Perkiraan volume",
    "values": [{"key": "kecil", "name": "Kecil"}, {"key": "besar", "name": "Besar"}],
}


@pytest.fixture
async def whole_app(db_dsn: str, pool: asyncpg.Pool, opds: Opds) -> AsyncIterator[tuple[str, Login]]:
    """The web role as served (its refusal pages included), and a sign-in per role."""
    settings = Settings(database_url=db_dsn)
    runner = web.AppRunner(create_app(settings, pool), shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    sessions: list[aiohttp.ClientSession] = []

    async def login(role: str) -> aiohttp.ClientSession:
        async with pool.acquire() as conn:
            await auth.create_user(conn, role, PASSWORD, role, opds.dpupr if role == "opd_officer" else None)
            token, _ = await auth.login(conn, settings, role, PASSWORD, kind="api")
        s = aiohttp.ClientSession(base_url=url, headers={"Authorization": f"Bearer {token}"})
        sessions.append(s)
        return s

    try:
        yield url, login
    finally:
        for s in sessions:
            await s.close()
        await runner.cleanup()


async def _text(r: aiohttp.ClientResponse, status: int = 200) -> str:
    body = await r.text()
    assert r.status == status, body
    return body


def _refusal(body: str) -> str:
    found = re.search(r'id="refusal-message">([^<]*)<', body)
    assert found, body
    return found.group(1)


async def test_admin_adds_and_edits_a_category_and_its_attributes(
    whole_app: tuple[str, Login], pool: asyncpg.Pool, opds: Opds
) -> None:
    url, login = whole_app
    admin = await login("admin")
    r = await admin.post(
        "/admin/kategori",
        data={"code": "banjir", "name": "Banjir", "group_name": "Bencana", "default_opd_id": str(opds.dpupr)},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/admin/kategori?ok=tambah"
    page = await _text(await admin.get(r.headers["Location"]))
    assert "Kategori ditambahkan." in page and "banjir" in page and "Dinas Pekerjaan Umum" in page
    async with pool.acquire() as conn:
        cat = await store.category_by_code(conn, "banjir")
    assert cat is not None and cat["default_opd_id"] == opds.dpupr

    page = await _text(await admin.get(f"/admin/kategori/{cat['id']}"))
    assert 'id="category-attributes"' in page and "[]" in page
    r = await admin.post(
        f"/admin/kategori/{cat['id']}",
        data={"name": "Banjir dan genangan", "group_name": "Bencana", "description": "Air naik", "default_opd_id": ""},
        allow_redirects=False,
    )
    assert r.status == 303
    attributes = orjson.dumps([VOLUME]).decode()
    r = await admin.post(f"/admin/kategori/{cat['id']}/atribut", data={"attributes": attributes}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("?ok=atribut")
    page = await _text(await admin.get(r.headers["Location"]))
    assert "Atribut Open311 disimpan." in page and "Perkiraan volume" in page

    async with pool.acquire() as conn:
        cat = await store.category_by_code(conn, "banjir")
        assert cat is not None
        assert (cat["name"], cat["description"], cat["default_opd_id"]) == ("Banjir dan genangan", "Air naik", None)
        assert cat["attributes"][0]["code"] == "volume"
        actions = [e["action"] for e in await audit.for_object(conn, "complaint_category", "banjir")]
    assert actions == ["category.create", "category.update", "category.attributes"]

    # Open311 describes the service with the attribute the admin wrote
    async with aiohttp.ClientSession(base_url=url) as anon:
        definition = await (await anon.get("/open311/v2/services/banjir.json")).json()
    assert [a["code"] for a in definition["attributes"]] == ["volume"]

    # deactivated: no longer offered to reporters, and audited
    r = await admin.post(f"/admin/kategori/{cat['id']}/nonaktif", allow_redirects=False)
    assert r.status == 303
    page = await _text(await admin.get("/admin/kategori"))
    assert "Nonaktif" in page and f"/admin/kategori/{cat['id']}/aktif" in page
    async with pool.acquire() as conn:
        assert [c["code"] for c in await store.list_categories(conn)].count("banjir") == 0


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ("bukan json", "bukan JSON yang sah"),
        ('{"code": "x"}', "daftar"),
        ('[{"code": "x", "datatype": "warna"}]', "datatype"),
    ],
)
async def test_invalid_attribute_list_refused_in_indonesian(
    whole_app: tuple[str, Login], pool: asyncpg.Pool, categories: dict[str, int], attributes: str, words: str
) -> None:
    _, login = whole_app
    admin = await login("admin")
    r = await admin.post(
        f"/admin/kategori/{categories['sampah']}/atribut", data={"attributes": attributes}, headers=HTML
    )
    body = await _text(r, 400)
    assert r.content_type == "text/html"
    message = _refusal(body)
    assert words in message and not message.startswith("attributes:"), message
    async with pool.acquire() as conn:
        row = await store.get_category(conn, categories["sampah"])
    assert row is not None and row["attributes"][0]["code"] == "volume"  # nothing changed


async def test_category_csv_download_and_upload(
    whole_app: tuple[str, Login], pool: asyncpg.Pool, categories: dict[str, int]
) -> None:
    _, login = whole_app
    admin = await login("admin")
    r = await admin.get("/admin/kategori.csv")
    text = await _text(r)
    assert r.content_type == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    assert text.startswith("code,name,group_name") and "jalan-rusak" in text and "sampah" in text

    form = aiohttp.FormData()
    form.add_field("berkas", (text + "lampu,Lampu jalan mati,Infrastruktur,,,,\n").encode(), filename="k.csv")
    page = await _text(await admin.post("/admin/kategori/impor", data=form))
    assert "1 baru" in page
    form = aiohttp.FormData()
    form.add_field(
        "berkas", b"code,name,group_name,description,keywords,default_opd_code\n,Tanpa kode,,,,\n", filename="k.csv"
    )
    body = await _text(await admin.post("/admin/kategori/impor", data=form, headers=HTML), 400)
    assert "baris 2: kolom code kosong" in _refusal(body)
    async with pool.acquire() as conn:
        assert await store.category_by_code(conn, "lampu") is not None
        assert [e["action"] for e in await audit.for_object(conn, "complaint_category", "lampu")] == ["category.create"]


async def test_cuti_bersama_add_and_remove(whole_app: tuple[str, Login], pool: asyncpg.Pool) -> None:
    _, login = whole_app
    admin = await login("admin")
    day = date(date.today().year, 12, 26)
    r = await admin.post("/admin/cuti", data={"day": day.isoformat(), "note": "Cuti Natal"}, allow_redirects=False)
    assert r.status == 303
    page = await _text(await admin.get(r.headers["Location"]))
    assert day.strftime("%d-%m-%Y") in page and "Cuti Natal" in page and 'data-confirm="Hapus cuti bersama' in page
    async with pool.acquire() as conn:
        assert not (await store.load_clock(conn)).is_working_day(day)
    body = await _text(await admin.post("/admin/cuti", data={"day": "besok"}, headers=HTML), 400)
    assert "tanggal" in _refusal(body)
    assert (await admin.post("/admin/cuti/hapus", data={"day": day.isoformat()}, allow_redirects=False)).status == 303
    body = await _text(await admin.post("/admin/cuti/hapus", data={"day": day.isoformat()}, headers=HTML), 404)
    assert "tidak ditemukan" in _refusal(body)
    async with pool.acquire() as conn:
        assert (await store.load_clock(conn)).is_working_day(day) == (day.weekday() < 5)
        actions = [e["action"] for e in await audit.for_object(conn, "collective_leave", day.isoformat())]
    assert actions == ["collective_leave.add", "collective_leave.remove"]


async def test_open311_key_shown_once_and_usable_then_deactivated(
    whole_app: tuple[str, Login], pool: asyncpg.Pool, categories: dict[str, int]
) -> None:
    url, login = whole_app
    admin = await login("admin")
    page = await _text(await admin.post("/admin/open311", data={"name": "Aplikasi Desa"}))
    found = re.search(r'<code id="new-key">([^<]+)</code>', page)
    assert found and "ditampilkan sekali ini saja" in page
    key = found.group(1)
    listing = await _text(await admin.get("/admin/open311"))
    assert "Aplikasi Desa" in listing and key not in listing  # never again

    async with aiohttp.ClientSession(base_url=url) as anon:
        r = await anon.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": "jalan-rusak", "address_string": "Pasar", "description": "Lubang"},
        )
        body = await r.json()
        assert r.status == 201, body
        assert body[0]["service_request_id"]

        async with pool.acquire() as conn:
            client_id = await conn.fetchval("SELECT id FROM open311_client WHERE name = 'Aplikasi Desa'")
        r = await admin.post(f"/admin/open311/{client_id}/nonaktif", allow_redirects=False)
        assert r.status == 303
        r = await anon.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": "jalan-rusak", "address_string": "Pasar", "description": "Lagi"},
        )
        assert r.status in (400, 401, 403)
    async with pool.acquire() as conn:
        actions = [e["action"] for e in await audit.for_object(conn, "open311_client", str(client_id))]
    assert actions == ["open311_client.add", "open311_client.disable"]


async def test_old_address_leads_to_the_new_page(whole_app: tuple[str, Login]) -> None:
    _, login = whole_app
    admin = await login("admin")
    r = await admin.get("/pengaduan/admin", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin/kategori"


@pytest.mark.parametrize("path", ["/admin/kategori", "/admin/cuti", "/admin/open311", "/pengaduan/admin"])
async def test_non_admin_gets_a_403_page(whole_app: tuple[str, Login], path: str) -> None:
    _, login = whole_app
    staff = await login("complaint_staff")
    r = await staff.get(path, headers=HTML)
    body = await _text(r, 403)
    assert r.content_type == "text/html" and "Tidak diizinkan" in body
    r = await staff.post("/admin/open311", data={"name": "Nakal"}, headers=HTML)
    assert r.status == 403 and r.content_type == "text/html"
