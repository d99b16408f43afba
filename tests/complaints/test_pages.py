"""The complaint pages as people read them: each rendered from its template in the one layout, for
its role, with no internal code or English word in the visible text; refusals are pages with a
way back, and a conflict names who changed the complaint first."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from complaints import store
from core import labels
from tests.complaints.conftest import Site
from tests.complaints.test_store import make_incident

# what a person must never read: every internal code of the catalogue that is visibly one (a
# snake_case key), and the English words an untranslated page or refusal would show
CODES = sorted({code for table in labels.GROUPS.values() for code in table if "_" in code})
ENGLISH = ("error", "forbidden", "not found", "submit", "none", "null", "true", "false", "undefined")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
HTML = {"Accept": "text/html"}


def visible_text(page: str) -> str:
    """What a browser shows of ``page``: no tags, no scripts or styles, entities decoded."""
    return " ".join(html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", page))).split())


def untranslated(page: str) -> list[str]:
    text = visible_text(page)
    found = [c for c in CODES if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)]
    found += [w for w in ENGLISH if re.search(rf"\b{w}\b", text, re.IGNORECASE)]
    return found


def test_the_check_finds_codes_and_english() -> None:
    assert untranslated("<p>Status: tindak_lanjut</p>") == ["tindak_lanjut"]
    assert untranslated("<p>oleh staf (complaint_staff)</p>") == ["complaint_staff"]
    assert untranslated("<button>Submit</button><p>None</p>") == ["submit", "none"]
    assert untranslated("<script>var x = null;</script><p>Sudah ditindaklanjuti</p>") == []


async def page_of(session: aiohttp.ClientSession, url: str, *, status: int = 200) -> str:
    r = await session.get(url, headers=HTML)
    text = await r.text()
    assert r.status == status, (url, r.status, text[:500])
    assert r.content_type == "text/html", url
    # every page is the one layout: its stylesheet, its script and the heading
    assert '<link rel="stylesheet" href="/static/siaga/siaga.css">' in text, url
    assert '<script src="/static/siaga/siaga.js"></script>' in text, url
    assert "<h1>" in text and "<style>" not in text, url
    assert untranslated(text) == [], (url, untranslated(text))
    return text


async def submit(anon: aiohttp.ClientSession, **fields: str) -> tuple[str, str]:
    """A citizen's complaint through /lapor: its tracking number and its secret."""
    data = {"kind": "pengaduan", "description": "Jalan berlubang di depan pasar", "lat": "-7.3605", "lon": "109.903"}
    r = await anon.post("/lapor", data=data | fields, allow_redirects=False)
    assert r.status == 303, await r.text()
    location = r.headers["Location"]
    return urlsplit(location).path.rsplit("/", 1)[1], parse_qs(urlsplit(location).query)["k"][0]


async def complaint_id(site: Site, tracking: str) -> int:
    async with site.pool.acquire() as conn:
        return (await store.get_by_tracking(conn, tracking))["id"]


async def test_every_page_renders_for_its_role_in_indonesian(site: Site, anon: aiohttp.ClientSession) -> None:
    form = await page_of(anon, "/lapor")
    assert 'id="peta"' in form and "/static/complaints/lapor.js" in form and 'name="description"' in form
    await page_of(anon, "/status")

    tracking, secret = await submit(anon, title="Lubang di Jalan Pasar", reporter_name="Sri")
    cid = await complaint_id(site, tracking)
    staf, pu, dlh, bupati = [await site.login(n) for n in ("staf", "pu", "dlh", "bupati")]

    queue = await page_of(staf, "/pengaduan")
    assert tracking in queue and "Menunggu verifikasi" in queue and "Hijau" in queue
    detail = await page_of(staf, f"/pengaduan/{cid}")
    assert "Formulir web" in detail and "Laporan masuk" in detail and "Pelapor" in detail
    for form_id in ("aksi-dispose", "aksi-hold", "aksi-not_authority", "aksi-archive"):
        assert f'id="{form_id}"' in detail
    # what cannot be undone asks first
    assert re.search(r'id="aksi-archive" data-confirm="[^"]+"', detail)
    assert re.search(r'id="aksi-not_authority" data-confirm="[^"]+"', detail)

    r = await staf.post(
        f"/pengaduan/{cid}/aksi",
        data={"action": "dispose", "opd_id": str(site.opds.dpupr), "category_id": str(site.categories["jalan"])},
        allow_redirects=False,
    )
    assert r.status == 303
    # overdue, so the leader may reprimand the OPD and the inbox shows it
    async with site.pool.acquire() as conn:
        await conn.execute("UPDATE complaint SET due_at = now() - interval '1 day' WHERE id = $1", cid)
    r = await bupati.post("/pengaduan/teguran", data={"opd_id": str(site.opds.dpupr), "text": "Segera perbaiki"})
    assert r.status == 200, await r.text()
    inbox = await page_of(pu, "/pengaduan/opd")
    assert tracking in inbox and "Segera perbaiki" in inbox and "Tandai dibaca" in inbox
    detail = await page_of(pu, f"/pengaduan/{cid}")
    assert 'id="aksi-follow_up"' in detail and "Berjalan" in detail and "staf (Verifikator pengaduan)" in detail

    # the OPD gives it back; once it is another OPD's, the first sees only its own part
    r = await pu.post(f"/pengaduan/{cid}/aksi", data={"action": "return", "reason": "Jalan provinsi"})
    assert r.status == 200
    r = await staf.post(f"/pengaduan/{cid}/aksi", data={"action": "dispose", "opd_id": str(site.opds.dlh)})
    assert r.status == 200
    own = await page_of(pu, f"/pengaduan/{cid}")
    assert "hanya bagian OPD Anda" in own and "Dikembalikan (bukan kewenangan OPD)" in own
    assert "Jalan provinsi" in own and "Dinas Lingkungan Hidup" not in own

    r = await dlh.post(f"/pengaduan/{cid}/aksi", data={"action": "follow_up", "text": "Sudah ditambal"})
    assert r.status == 200
    public = await page_of(anon, f"/status/{tracking}")
    assert "Sudah ditindaklanjuti" in public and 'name="k"' in public and "Sudah ditambal" not in public
    mine = await page_of(anon, f"/status/{tracking}?k={secret}")
    assert "Sudah ditambal" in mine and "Saya menerima" in mine and "Sanggah" in mine
    assert re.search(r'id="form-accept" data-confirm="[^"]+"', mine)
    first = await page_of(anon, f"/status/{tracking}?k={secret}&baru=1")
    assert 'id="kode"' in first and secret in first


async def test_a_handed_over_incident_reads_as_what_happened_where(site: Site) -> None:
    async with site.pool.acquire() as conn:
        incident = await make_incident(conn)
        number = await conn.fetchval("SELECT number FROM incident WHERE id = $1", incident)
        row = await store.create_from_incident(conn, incident, category_id=site.categories["jalan"])
    assert row["title"] == "Darurat (tombol panik) di Desa Kertek" and row["category_id"] == site.categories["jalan"]
    assert "(panic)" not in row["description"]
    staf = await site.login("staf")
    detail = await page_of(staf, f"/pengaduan/{row['id']}")
    assert f"Dari insiden #{number}" in detail and 'href="/console"' in detail and "Dari insiden" in detail
    assert "Pusat kendali" in detail  # the hand-over's actor, by its role's label


async def test_a_conflict_names_who_changed_it_first(site: Site, anon: aiohttp.ClientSession) -> None:
    tracking, secret = await submit(anon)
    cid = await complaint_id(site, tracking)
    staf = await site.login("staf")
    r = await staf.post(f"/pengaduan/{cid}/aksi", data={"action": "hold", "reason": "Di mana tepatnya?"})
    assert r.status == 200
    async with site.pool.acquire() as conn:
        last = await store.latest_history(conn, cid)
    r = await staf.post(
        f"/pengaduan/{cid}/aksi", data={"action": "dispose", "opd_id": str(site.opds.dpupr)}, headers=HTML
    )
    text = await r.text()
    assert r.status == 409 and r.content_type == "text/html"
    assert f"Laporan ini sudah diubah oleh staf (Verifikator pengaduan) pada {labels.wib(last['at'])}" in text
    assert "muat ulang halaman" in text and untranslated(text) == []
    # and for the reporter, who acts by the secret
    r = await anon.post(f"/status/{tracking}", data={"action": "accept", "k": secret}, headers=HTML)
    assert r.status == 409 and "sudah diubah oleh staf (Verifikator pengaduan)" in await r.text()


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"description": ""}, 400, "Isi laporan wajib diisi."),
        ({"title": "x" * 300}, 400, "Judul paling panjang 200 karakter."),
        ({"lat": "utara"}, 400, "Koordinat tidak sah."),
        ({"kind": "keluhan"}, 400, "Jenis tidak dikenal."),
    ],
)
async def test_a_refused_citizen_form_is_a_page_with_a_way_back(
    site: Site, anon: aiohttp.ClientSession, fields: dict[str, str], status: int, words: str
) -> None:
    data = {"kind": "pengaduan", "description": "Jalan berlubang"} | fields
    r = await anon.post("/lapor", data=data, headers=HTML)
    text = await r.text()
    assert r.status == status and r.content_type == "text/html", text[:300]
    assert f'id="refusal-message">{words}</p>' in text
    assert re.search(r'<a href="[^"]+" id="way-back">Kembali</a>', text)
    assert untranslated(text) == [] and "description" not in visible_text(text)


async def test_desk_refusals_are_pages_with_a_way_back(site: Site) -> None:
    staf, pu = await site.login("staf"), await site.login("pu")
    for session, url, status in (
        (staf, "/pengaduan/999999", 404),
        (staf, "/pengaduan/abc", 404),
        (staf, "/status/WSB-0000-0000", 404),
        (staf, "/pengaduan/opd", 403),
    ):
        text = await page_of(session, url, status=status)
        assert 'id="way-back">Kembali</a>' in text, url
    text = await page_of(pu, "/pengaduan", status=403)
    assert 'id="way-back">Kembali</a>' in text
    r = await staf.post("/pengaduan/1/aksi", data={"action": "dispose"}, headers=HTML)
    assert r.status in (400, 404) and r.content_type == "text/html"
