"""The leader's dashboard in the one layout: the leader's and the admin's menus, headers in words
(the CSV keeps its column names), no code, English word or second date format, and refused
browser requests answered with a page, not JSON."""

from __future__ import annotations

import asyncpg
import pytest

from complaints import store
from core import audit, labels
from core.roles import Role
from dispatch import roster, roster_rules
from tests.dispatch import factory
from tests.dispatch.conftest import Client, client, settings, world  # noqa: F401  (fixtures)
from tests.visible import assert_in_layout, leaks, visible_text

HTML = {"Accept": "text/html"}


@pytest.fixture
async def complaints_and_shifts(pool: asyncpg.Pool, world: factory.World) -> None:  # noqa: F811
    """A complaint in Kertek and one without a place, and the polsek's shifts (the shift report
    and console presence fill their tables)."""
    async with pool.acquire() as conn:
        clock = await store.load_clock(conn)
        for kecamatan in (("33.07.09", "Kertek"), (None, None)):
            await store.create(
                conn,
                store.NewComplaint(
                    description="Jalan berlubang", kecamatan_code=kecamatan[0], kecamatan_name=kecamatan[1]
                ),
                store.Actor.citizen(),
                clock=clock,
            )
        for code, name, start in (("P", "Pagi", "06:00"), ("M", "Malam", "22:00")):
            shift = roster_rules.make_shift(code, name, start, 8)
            await roster.save_shift(conn, audit.SYSTEM, world.polsek_wonosobo, shift)


@pytest.mark.parametrize(("username", "role"), [("leader", Role.LEADER), ("admin", Role.ADMIN)])
async def test_the_dashboard_reads_in_words(
    client: Client,  # noqa: F811
    complaints_and_shifts: None,
    username: str,
    role: Role,
) -> None:
    s = await client(username)
    r = await s.get("/dasbor?hari=30", headers=HTML)
    assert r.status == 200 and r.content_type == "text/html"
    html = await r.text()
    assert_in_layout(html, role)
    assert leaks(html) == []
    text = visible_text(html)
    # every table's headers from the catalogue; none of the CSV's column names is read
    for name in ("status", "warna", "opd", "kecamatan", "tren", "tanggap", "kehadiran", "piket"):
        assert f'id="unduh-{name}"' in html, name
        csv = (await (await s.get(f"/dasbor/{name}.csv?hari=30")).text()).splitlines()[0].split(",")
        for column in csv:
            if "_" in column:
                assert column not in text, column
    for header in ("Jam tanpa operator", "Pengaduan terbuka", "Status", "Warna", "Kode wilayah"):
        assert header in text, (header, text)
    # codes stay in the CSV: the status code, the colour code
    assert "Menunggu verifikasi" in text and "Merah" in text
    assert "Unduh tabel ini (CSV)" in text and "Unduh CSV" not in text
    # the map's place and its legend, filled by the map script
    assert 'id="peta-kecamatan"' in html and 'id="peta-legenda"' in html
    assert "Jumlah pengaduan per kecamatan" in text
    # the CSV keeps its column names
    first = (await (await s.get("/dasbor/opd.csv")).text()).splitlines()[0]
    assert "persen_tepat" in first


async def test_times_read_in_the_one_format(client: Client, complaints_and_shifts: None) -> None:  # noqa: F811
    s = await client("leader")
    html = await (await s.get("/dasbor?hari=30", headers=HTML)).text()
    text = visible_text(html)
    # the shift report's days and starts: 03-12-2026 and 03-12-2026 06:00 WIB, never 2026-12-03
    assert " WIB" in text
    assert leaks(html) == []
    assert labels.wib(None) == "—"


@pytest.mark.parametrize(
    ("username", "target", "status", "signed_in"),
    [
        ("op-polsek", "/dasbor", 403, True),
        ("supervisor", "/dasbor/status.csv", 403, True),
        ("complaints", "/dasbor/kecamatan.json", 403, True),
        ("leader", "/dasbor/tidak-ada.csv", 404, True),
    ],
)
async def test_a_refused_browser_request_gets_a_page(
    client: Client,  # noqa: F811
    username: str,
    target: str,
    status: int,
    signed_in: bool,
) -> None:
    s = await client(username)
    for headers in (HTML, {"Sec-Fetch-Mode": "navigate"}):
        r = await s.get(target, headers=headers)
        assert r.status == status, await r.text()
        assert r.content_type == "text/html", await r.text()
        html = await r.text()
        assert ("Keluar" in html) is signed_in
        assert 'id="refusal-message"' in html and leaks(html) == []
    r = await s.get(target, headers={"Accept": "application/json"})
    assert r.status == status
