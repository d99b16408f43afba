"""The reporter's secret, over HTTP against the real app and database: the tracking id
alone shows the public status and changes nothing; the complaint's own secret acts, audited as the
reporter; staff act for a reporter under their own name; the citizen routes are rate-limited; an
OPD reads only what is disposed to it now (its own part once moved on, 404 when never)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest

from complaints import citizen, store
from core import ratelimit
from tests.complaints.conftest import Site


async def file_complaint(anon: aiohttp.ClientSession, **fields: str) -> tuple[str, str]:
    """A complaint through the public form: (tracking id, secret from the confirmation link)."""
    data = {"kind": "pengaduan", "title": "Lampu jalan mati", "description": "Lampu jalan mati di Jl. Kawedanan"}
    r = await anon.post("/lapor", data={**data, **fields}, allow_redirects=False)
    assert r.status == 303, await r.text()
    location = urlsplit(r.headers["Location"])
    return location.path.rsplit("/", 1)[1], parse_qs(location.query)["k"][0]


async def complaint_id(pool: asyncpg.Pool, tracking: str) -> int:
    return int(await pool.fetchval("SELECT id FROM complaint WHERE tracking_id = $1", tracking))


class Desk:
    """The verifier and the DPUPR officer, signed in once per test."""

    def __init__(self, staf: aiohttp.ClientSession, pu: aiohttp.ClientSession) -> None:
        self.staf, self.pu = staf, pu


@pytest.fixture
async def desk(site: Site) -> Desk:
    return Desk(await site.login("staf"), await site.login("pu"))


async def followed_up(site: Site, desk: Desk, cid: int, text: str = "Lampu sudah diganti") -> None:
    """Disposed to the DPUPR and followed up: waiting for the reporter's answer."""
    staf, pu = desk.staf, desk.pu
    r = await staf.post(
        f"/pengaduan/{cid}/aksi", data={"action": "dispose", "opd_id": str(site.opds.dpupr)}, allow_redirects=False
    )
    assert r.status == 303, await r.text()
    r = await pu.post(f"/pengaduan/{cid}/aksi", data={"action": "follow_up", "text": text}, allow_redirects=False)
    assert r.status == 303, await r.text()


async def state(pool: asyncpg.Pool) -> dict[str, Any]:
    """Everything a citizen action could change."""
    return {
        "complaint": [dict(r) for r in await pool.fetch("SELECT * FROM complaint ORDER BY id")],
        "history": await pool.fetchval("SELECT count(*) FROM complaint_history"),
        "disposition": [dict(r) for r in await pool.fetch("SELECT * FROM complaint_disposition ORDER BY id")],
        "pause": [dict(r) for r in await pool.fetch("SELECT * FROM complaint_pause ORDER BY id")],
        "audit": await pool.fetchval("SELECT count(*) FROM audit_log"),
        "event": await pool.fetchval("SELECT count(*) FROM event"),
    }


async def test_the_secret_is_stored_only_as_its_hash_and_sent_to_the_phone(
    site: Site, anon: aiohttp.ClientSession
) -> None:
    tracking, secret = await file_complaint(anon, reporter_phone="0812 3456 7890")
    assert len(secret) >= 22  # 128 bits, URL-safe base64
    row = await site.pool.fetchrow("SELECT * FROM complaint WHERE tracking_id = $1", tracking)
    assert bytes(row["citizen_secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    # nowhere in plain text: not in the complaint, its history, the audit log or the event stream
    for table in ("complaint", "complaint_history", "audit_log", "event"):
        query = f"SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0"
        assert await site.pool.fetchval(query, secret) == 0, table
    # the reporter gets it on the phone they left (the code, as no public address is set)
    ((phone, text),) = site.texts.sent
    assert phone == "0812 3456 7890" and tracking in text and secret in text and "rahasia" in text
    # Open311 clients get it once in the answer to their POST, and it works like the web form's
    r = await anon.post(
        "/open311/v2/requests.json",
        data={"api_key": site.key, "service_code": "sampah", "address_string": "Pasar", "description": "Sampah"},
    )
    assert r.status == 201, await r.text()
    (created,) = await r.json()
    o_secret, rid = created["siaga_secret"], created["service_request_id"]
    assert created["siaga_status_path"] == citizen.status_path(rid, o_secret)
    row = await site.pool.fetchrow("SELECT citizen_secret_hash FROM complaint WHERE tracking_id = $1", rid)
    assert bytes(row["citizen_secret_hash"]) == hashlib.sha256(o_secret.encode()).digest()
    assert (await anon.get(f"/status/{rid}", params={"k": o_secret})).status == 200
    assert (await anon.get(f"/status/{rid}", params={"k": secret})).status == 403


async def test_without_the_right_secret_nothing_changes(site: Site, anon: aiohttp.ClientSession, desk: Desk) -> None:
    tracking, secret = await file_complaint(anon)
    other_tracking, other_secret = await file_complaint(anon)
    cid = await complaint_id(site.pool, tracking)
    await followed_up(site, desk, cid)
    await followed_up(site, desk, await complaint_id(site.pool, other_tracking))
    before = await state(site.pool)
    url = f"/status/{tracking}"
    attempts: list[dict[str, str]] = []
    for action in ({"action": "accept"}, {"action": "dispute", "reason": "Lampu masih mati"}):
        attempts += [
            action,
            {**action, "k": ""},
            {**action, "k": secrets.token_urlsafe(16)},
            {**action, "k": other_secret},  # another complaint's secret
            {**action, "k": secret[:-1]},
            {**action, "k": secret + "x"},
            {**action, "k": "x" * 5000},
        ]
    for i, data in enumerate(attempts):
        # each from its own address, to stay under the per-address limit (proved below)
        async with _from(f"127.0.5.{i + 1}") as c:
            r = await c.post(site.url + url, data=data, allow_redirects=False)
            assert r.status == 403, (data, r.status)
            text = await r.text()
            assert "Tidak ada yang diubah" in text and r.headers["Referrer-Policy"] == "no-referrer"
    # a wrong secret in the status link is refused too, and the bare number shows no way to act
    assert (await anon.get(url, params={"k": other_secret})).status == 403
    page = await (await anon.get(url)).text()
    assert "Saya menerima" not in page and "Lampu sudah diganti" not in page
    assert await state(site.pool) == before

    # with the secret: the action happens, audited as the reporter proven by the link
    page = await (await anon.get(url, params={"k": secret})).text()
    assert "Saya menerima" in page and "Lampu sudah diganti" in page
    r = await anon.post(
        url, data={"action": "dispute", "reason": "Lampu masih mati", "k": secret}, allow_redirects=False
    )
    assert r.status == 303, await r.text()
    assert await site.pool.fetchval("SELECT status FROM complaint WHERE id = $1", cid) == "disposisi"
    audit = await site.pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'complaint.dispute' AND object_id = $1", str(cid)
    )
    assert audit["username"] == "pelapor (tautan rahasia)" and audit["role"] == "citizen" and audit["user_id"] is None
    assert audit["client_ip"] == "127.0.0.1"
    hist = await site.pool.fetchrow(
        "SELECT * FROM complaint_history WHERE complaint_id = $1 AND action = 'dispute'", cid
    )
    assert hist["actor_name"] == "pelapor (tautan rahasia)" and hist["note"] == "Lampu masih mati"
    # the other complaint was never touched
    other = await site.pool.fetchval("SELECT status FROM complaint WHERE tracking_id = $1", other_tracking)
    assert other == "tindak_lanjut"


async def test_resume_from_tunda_needs_the_secret(site: Site, anon: aiohttp.ClientSession, desk: Desk) -> None:
    tracking, secret = await file_complaint(anon)
    cid = await complaint_id(site.pool, tracking)
    staf = desk.staf
    r = await staf.post(
        f"/pengaduan/{cid}/aksi", data={"action": "hold", "reason": "Mohon sebutkan tiang nomor berapa"}
    )
    assert r.status == 200  # followed to the detail page
    before = await state(site.pool)
    url = f"/status/{tracking}"
    r = await anon.post(url, data={"action": "resume", "note": "Tiang nomor 12"})
    assert r.status == 403 and await state(site.pool) == before
    # the verifier's question is for the reporter's eyes only
    assert "tiang nomor berapa" not in await (await anon.get(url)).text()
    assert "tiang nomor berapa" in await (await anon.get(url, params={"k": secret})).text()
    r = await anon.post(url, data={"action": "resume", "note": "Tiang nomor 12", "k": secret}, allow_redirects=False)
    assert r.status == 303
    assert await site.pool.fetchval("SELECT status FROM complaint WHERE id = $1", cid) == "verifikasi"
    assert (
        await site.pool.fetchval(
            "SELECT username FROM audit_log WHERE action = 'complaint.resume' AND object_id = $1", str(cid)
        )
        == "pelapor (tautan rahasia)"
    )
    # the secret acts only as the reporter: a staff action through the citizen route is refused
    r = await anon.post(url, data={"action": "dispose", "opd_id": str(site.opds.dpupr), "k": secret})
    assert r.status == 400
    assert await site.pool.fetchval("SELECT status FROM complaint WHERE id = $1", cid) == "verifikasi"


async def test_the_tracking_number_alone_shows_only_the_public_status(
    site: Site, anon: aiohttp.ClientSession, desk: Desk
) -> None:
    fields = {"reporter_name": "Siti Aminah", "reporter_phone": "081299990000", "reporter_email": "siti@example.id"}
    cases = {
        "biasa": await file_complaint(anon, description="Got ringan di Jl. Dieng", **fields),
        "anonim": await file_complaint(anon, description="Pungli di loket kecamatan", anonim="1", **fields),
        "rahasia": await file_complaint(anon, description="Bocoran proyek desa", rahasia="1", **fields),
    }
    for name, (tracking, secret) in cases.items():
        cid = await complaint_id(site.pool, tracking)
        await followed_up(site, desk, cid, text=f"Catatan OPD {name}")
        description = await site.pool.fetchval("SELECT description FROM complaint WHERE id = $1", cid)
        public = await (await anon.get(f"/status/{tracking}")).text()
        for private in ("Siti", "0812", "siti@", f"Catatan OPD {name}", secret):
            assert private not in public, (name, private)
        assert (description in public) is (name == "biasa"), name
        assert "Sudah ditindaklanjuti" in public  # the state is public
        mine = await (await anon.get(f"/status/{tracking}", params={"k": secret})).text()
        assert description in mine and f"Catatan OPD {name}" in mine
        # Open311 lists the id publicly; the text only where the status page shows it too
        (req,) = await (await anon.get(f"/open311/v2/requests/{tracking}.json")).json()
        listed = str(req)
        for private in ("Siti", "0812", "siti@", f"Catatan OPD {name}", secret):
            assert private not in listed, (name, private)
        assert (description in listed) is (name == "biasa"), name
    listing = await (await anon.get("/open311/v2/requests.json")).json()
    assert sorted(r["service_request_id"] for r in listing) == sorted(t for t, _ in cases.values())
    assert all("secret" not in k and "token" not in k for r in listing for k in r)


async def test_staff_act_for_the_reporter_under_their_own_name(
    site: Site, anon: aiohttp.ClientSession, desk: Desk
) -> None:
    # filed before the secret existed (or by the desk): no secret, so no link can act on it
    async with site.pool.acquire() as conn:
        row = await store.create(
            conn,
            store.NewComplaint(description="Jembatan retak"),
            store.Actor.citizen(),
            clock=await store.load_clock(conn),
        )
    cid, tracking = row["id"], row["tracking_id"]
    assert row["citizen_secret_hash"] is None
    await followed_up(site, desk, cid)
    before = await state(site.pool)
    for k in ("", secrets.token_urlsafe(16)):
        assert (await anon.post(f"/status/{tracking}", data={"action": "accept", "k": k})).status == 403
    # the OPD that followed up cannot answer for the reporter
    assert (await desk.pu.post(f"/pengaduan/{cid}/aksi", data={"action": "accept"})).status == 403
    assert await state(site.pool) == before
    # the reporter phoned the desk: the verifier records it, under their own name
    staf = desk.staf
    r = await staf.post(
        f"/pengaduan/{cid}/aksi", data={"action": "accept", "note": "lewat telepon"}, allow_redirects=False
    )
    assert r.status == 303
    audit = await site.pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'complaint.accept' AND object_id = $1", str(cid)
    )
    assert audit["username"] == "staf" and audit["role"] == "complaint_staff" and audit["user_id"] is not None
    assert audit["after"]["atas_nama"] == "pelapor" and audit["after"]["status"] == "selesai"
    note = await site.pool.fetchval(
        "SELECT note FROM complaint_history WHERE complaint_id = $1 AND action = 'accept'", cid
    )
    assert note == "atas nama pelapor: lewat telepon"


def _from(address: str) -> aiohttp.ClientSession:
    """A client whose requests come from another loopback address (the limits count the peer)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_citizen_actions_are_rate_limited_per_address_and_per_complaint(
    site: Site, anon: aiohttp.ClientSession, desk: Desk
) -> None:
    tracking, secret = await file_complaint(anon)
    other, _ = await file_complaint(anon)
    cid = await complaint_id(site.pool, tracking)
    await followed_up(site, desk, cid)
    before = await state(site.pool)
    # one address: 10 a minute, wrong secrets included (that is what guessing looks like)
    async with _from("127.0.0.2") as c:
        for _ in range(10):
            r = await c.post(f"{site.url}/status/{other}", data={"action": "accept", "k": "salah"})
            assert r.status == 403
        r = await c.post(f"{site.url}/status/{tracking}", data={"action": "accept", "k": secret})
        assert r.status == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "Terlalu banyak percobaan" in await r.text()
    assert await state(site.pool) == before
    # one complaint: 20 an hour from anywhere
    for i in range(20):
        async with _from(f"127.0.1.{i + 1}") as c:
            r = await c.post(f"{site.url}/status/{tracking}", data={"action": "accept", "k": "salah"})
            assert r.status == 403
    async with _from("127.0.2.1") as c:
        r = await c.post(f"{site.url}/status/{tracking}", data={"action": "accept", "k": secret})
        assert r.status == 429 and int(r.headers["Retry-After"]) > 60
        # another complaint from a fresh address is not held up
        assert (await c.post(f"{site.url}/status/{other}", data={"action": "accept", "k": "salah"})).status == 403
    assert await state(site.pool) == before


async def test_lapor_is_rate_limited_per_address_and_per_contact(site: Site) -> None:
    form = {"kind": "pengaduan", "description": "Jalan berlubang"}
    async with _from("127.0.3.1") as c:
        for _ in range(20):
            r = await c.post(f"{site.url}/lapor", data=form, allow_redirects=False)
            assert r.status == 303
        r = await c.post(f"{site.url}/lapor", data=form, allow_redirects=False)
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert "Terlalu banyak laporan" in await r.text()
    assert await site.pool.fetchval("SELECT count(*) FROM complaint") == 20
    # one contact, however it is written, from as many addresses as it likes: 5 an hour
    spellings = ["081234567890", "0812-3456-7890", "+62 812 3456 7890", "62812 34567890", "0812 3456 7890"]
    for i, phone in enumerate(spellings):
        async with _from(f"127.0.4.{i + 1}") as c:
            r = await c.post(f"{site.url}/lapor", data={**form, "reporter_phone": phone}, allow_redirects=False)
            assert r.status == 303
    async with _from("127.0.4.99") as c:
        r = await c.post(f"{site.url}/lapor", data={**form, "reporter_phone": "+6281234567890"}, allow_redirects=False)
        assert r.status == 429 and "Retry-After" in r.headers
        r = await c.post(f"{site.url}/lapor", data={**form, "reporter_email": "lain@example.id"}, allow_redirects=False)
        assert r.status == 303
    assert await site.pool.fetchval("SELECT count(*) FROM complaint") == 26


@pytest.mark.parametrize("route", ["detail", "photo", "action"])
async def test_another_opds_complaint_answers_404_like_a_missing_one(
    site: Site, anon: aiohttp.ClientSession, route: str
) -> None:
    tracking, _ = await file_complaint(anon)
    cid = await complaint_id(site.pool, tracking)
    staf, dlh, pu = await site.login("staf"), await site.login("dlh"), await site.login("pu")
    r = await staf.post(f"/pengaduan/{cid}/aksi", data={"action": "dispose", "opd_id": str(site.opds.dlh)})
    assert r.status == 200
    form = aiohttp.FormData()
    form.add_field("action", "follow_up")
    form.add_field("text", "Sudah")
    form.add_field("photo", b"\x89PNG\r\n\x1a\nfake", filename="a.png", content_type="image/png")
    assert (await dlh.post(f"/pengaduan/{cid}/aksi", data=form)).status == 200
    did = await site.pool.fetchval("SELECT id FROM complaint_disposition WHERE complaint_id = $1", cid)
    before = await state(site.pool)

    async def call(n: int) -> aiohttp.ClientResponse:
        if route == "detail":
            return await pu.get(f"/pengaduan/{n}")
        if route == "photo":
            return await pu.get(f"/pengaduan/foto/{n}")
        return await pu.post(f"/pengaduan/{n}/aksi", data={"action": "follow_up", "text": "x"})

    theirs = await call(did if route == "photo" else cid)
    missing = await call(10**9)
    assert theirs.status == missing.status == 404
    assert await theirs.text() == await missing.text()
    assert await state(site.pool) == before


async def test_an_opd_moved_off_a_complaint_sees_only_its_own_part(site: Site, anon: aiohttp.ClientSession) -> None:
    tracking, _ = await file_complaint(anon, reporter_name="Budi Santoso", description="Saluran air tersumbat")
    cid = await complaint_id(site.pool, tracking)
    staf, pu, dlh = await site.login("staf"), await site.login("pu"), await site.login("dlh")

    async def desk(session: aiohttp.ClientSession, **data: str) -> None:
        r = await session.post(f"/pengaduan/{cid}/aksi", data=data, allow_redirects=False)
        assert r.status == 303, await r.text()

    await desk(staf, action="dispose", opd_id=str(site.opds.dpupr), note="Untuk DPUPR")
    page = await (await pu.get(f"/pengaduan/{cid}")).text()
    assert "Saluran air tersumbat" in page and "Budi Santoso" in page  # while it is theirs: all of it
    await desk(pu, action="return", reason="Saluran lingkungan, urusan DLH")
    await desk(staf, action="dispose", opd_id=str(site.opds.dlh), note="Untuk DLH, bukan PU")
    await desk(dlh, action="follow_up", text="DLH sudah mengeruk saluran")

    r = await pu.get(f"/pengaduan/{cid}")
    assert r.status == 200
    page = await r.text()
    # its own disposition and what it wrote
    assert "Saluran lingkungan, urusan DLH" in page and "Untuk DPUPR" in page
    # nothing of what came after, of the other OPD, or of the reporter
    for later in ("DLH sudah mengeruk", "Untuk DLH", "Dinas Lingkungan Hidup", "Budi Santoso", "Sudah ditindaklanjuti"):
        assert later not in page, later
    # and it can no longer act on it
    before = await state(site.pool)
    assert (await pu.post(f"/pengaduan/{cid}/aksi", data={"action": "follow_up", "text": "x"})).status == 403
    assert await state(site.pool) == before
    # the OPD it is disposed to now reads all of it
    page = await (await dlh.get(f"/pengaduan/{cid}")).text()
    assert "DLH sudah mengeruk" in page and "Saluran air tersumbat" in page


async def test_rate_limit_keys_a_client_chooses_are_stored_safely(site: Site) -> None:
    # a contact or tracking id with NUL, a lone surrogate or a megabyte must count, not fail the insert
    odd = ["a\x00b", "x\ud800y", "z" * 1_000_000, "WSB-AAAA-AAAA"]
    async with site.pool.acquire() as conn:
        for key in odd:
            limit = [ratelimit.Limit("test", key, 2, 60.0)]
            assert await ratelimit.take(conn, limit) is None
            assert await ratelimit.take(conn, limit) is None
            wait = await ratelimit.take(conn, limit)
            assert wait is not None and 1 <= wait <= 60
        keys = [r["key"] for r in await conn.fetch("SELECT DISTINCT key FROM rate_limit_hit WHERE scope = 'test'")]
    assert len(keys) == 4 and "WSB-AAAA-AAAA" in keys and max(map(len, keys)) <= 200
