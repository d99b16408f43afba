"""The roster page in the one layout: every role that reads it gets the layout and its own menu,
reads no internal code, English word or second date format, and a refused browser request gets
a page, not JSON."""

from __future__ import annotations

import aiohttp
import pytest

from core.roles import Role
from tests.dispatch import factory
from tests.dispatch.conftest import Client
from tests.visible import assert_in_layout, leaks

HTML = {"Accept": "text/html"}
MONTH = "2026-12"


@pytest.fixture
async def roster_month(client: Client, world: factory.World) -> str:
    """Three shifts and a month with a night shift over the year's end, for the polsek."""
    spv = await client("supervisor")
    for code, name, start in (("P", "Pagi", "06:00"), ("S", "Siang", "14:00"), ("M", "Malam", "22:00")):
        r = await spv.put(
            f"/api/v1/roster/{world.polsek_wonosobo}/shifts/{code}", json={"name": name, "starts": start, "hours": 8}
        )
        assert r.status == 200, await r.text()
    csv = "tanggal,shift,pengguna,siaga\n2026-12-01,P,op-polsek,\n2026-12-31,M,op-polsek,\n2026-12-31,M,supervisor,ya\n"
    r = await spv.put(
        f"/api/v1/roster/{world.polsek_wonosobo}/{MONTH}.csv", data=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert r.status == 200, await r.text()
    return f"/piket?instansi={world.polsek_wonosobo}&bulan={MONTH}"


@pytest.mark.parametrize(
    ("username", "role", "tables"),
    [
        ("supervisor", Role.SUPERVISOR, ("kehadiran", "pola-shift", "jadwal", "laporan-shift", "form-shift")),
        ("admin", Role.ADMIN, ("kehadiran", "pola-shift", "jadwal", "laporan-shift", "form-impor")),
        ("cc", Role.COMMAND_CENTRE, ("kehadiran", "pola-shift", "jadwal", "laporan-shift")),
        ("leader", Role.LEADER, ("kehadiran", "pola-shift", "jadwal", "laporan-shift")),
        ("op-polsek", Role.OPERATOR, ("pola-shift", "jadwal")),
    ],
)
async def test_each_reader_gets_the_layout_and_only_words(
    client: Client, roster_month: str, username: str, role: Role, tables: tuple[str, ...]
) -> None:
    s = await client(username)
    r = await s.get(roster_month, headers=HTML)
    assert r.status == 200 and r.content_type == "text/html"
    html = await r.text()
    assert_in_layout(html, role)
    for table_id in tables:
        assert f'id="{table_id}"' in html, table_id
    assert leaks(html) == []
    # the night shift of New Year's Eve in the one date format, start and end alike
    assert "31-12-2026 22:00 WIB – 01-01-2027 06:00 WIB" in html
    # the report's headers come from the catalogue, the CSV keeps its column names
    if "laporan-shift" in tables:
        assert "Jam tanpa operator" in html and "jam_tanpa_operator" not in html
    assert ("Hapus" in html) is (role in (Role.SUPERVISOR, Role.ADMIN))


async def test_a_failed_change_shows_the_page_with_why(client: Client, world: factory.World, roster_month: str) -> None:
    spv = await client("supervisor")
    r = await spv.post(
        "/piket/shift",
        data={"instansi": str(world.polsek_wonosobo), "bulan": MONTH, "kode": "X", "nama": "Lembur", "mulai": "12:00"},
        headers=HTML,
    )
    assert r.status == 200
    html = await r.text()
    assert 'id="galat"' in html and "Gagal, tidak ada yang diubah" in html
    assert_in_layout(html, Role.SUPERVISOR)
    assert leaks(html) == []


@pytest.mark.parametrize(
    ("username", "target", "status", "signed_in"),
    [
        ("complaints", "/piket", 403, True),  # the complaint desk has no roster
        ("opd", "/piket/jadwal.csv?bulan=2026-12", 403, True),
        ("op-polsek", "/piket/laporan.csv", 403, True),
        ("supervisor", "/piket?instansi=%00", 400, True),  # refused by the parameter rules
        ("supervisor", "/piket/jadwal.csv?instansi=tidak-ada&bulan=2026-12", 404, True),
        # no such address: refused before any route's sign-in rule runs, so the page has no user
        ("cc", "/piket/tidak-ada", 404, False),
    ],
)
async def test_a_refused_browser_request_gets_a_page(
    client: Client, username: str, target: str, status: int, signed_in: bool
) -> None:
    s = await client(username)
    for headers in (HTML, {"Sec-Fetch-Mode": "navigate"}):
        r = await s.get(target, headers=headers)
        assert r.status == status, await r.text()
        assert r.content_type == "text/html", await r.text()
        html = await r.text()
        assert ("Keluar" in html) is signed_in
        assert 'id="refusal-message"' in html or 'id="galat"' in html
        assert leaks(html) == []
    # a script still reads JSON (the API's refusals stay machine-readable)
    r = await s.get(target, headers={"Accept": "application/json"})
    assert r.status == status


async def test_signed_out_browser_gets_the_sign_in_way(server: str) -> None:
    async with aiohttp.ClientSession(base_url=server) as anon:
        r = await anon.get("/piket", headers=HTML, allow_redirects=False)
        assert r.status in (303, 401)
        if r.status == 401:
            html = await r.text()
            assert r.content_type == "text/html" and 'href="/login"' in html and leaks(html) == []
