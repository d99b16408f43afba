"""Object-level access over HTTP: a role that may call a route still reaches only its own agency's
objects (an OPD officer another OPD's complaint, photo and reprimand; an operator another agency's
roster). Incident isolation between agencies is in tests/dispatch/test_api.py."""

from __future__ import annotations

import aiohttp

from core.auth import hash_password
from tests.dispatch import factory
from tests.security.conftest import Site, bearer, sign_in_form

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_opd_officers_and_operators_reach_only_their_own_agencys_objects(site: Site) -> None:
    w = site.world
    async with site.pool.acquire() as conn:
        other_opd = await conn.fetchval(
            "INSERT INTO agency (code, kind, name) VALUES ('t-dlh', 'opd', 'Dinas Lingkungan Hidup') RETURNING id"
        )
        await conn.execute(
            """INSERT INTO app_user (username, full_name, password_hash, role, agency_id)
               VALUES ('opd-lain', 'Petugas DLH', $1, 'opd_officer', $2)""",
            await hash_password(factory.PASSWORD),
            other_opd,
        )
    async with aiohttp.ClientSession(base_url=site.url) as anon:
        r = await anon.post("/lapor", data={"description": "Jalan berlubang di depan pasar"}, allow_redirects=False)
        assert r.status == 303
    cid = await site.pool.fetchval("SELECT max(id) FROM complaint")
    for role, data in (
        ("complaint_staff", {"action": "dispose", "opd_id": str(w.opd)}),
        ("opd_officer", {"action": "follow_up", "text": "Sudah ditambal"}),
    ):
        s, csrf = await site.cookie_client(role)
        async with s:
            form = aiohttp.FormData({**data, "csrf_token": csrf})
            form.add_field("photo", PNG, filename="bukti.png", content_type="image/png")
            r = await s.post(f"/pengaduan/{cid}/aksi", data=form, allow_redirects=False)
            assert r.status == 303, (role, await r.text())
    photo = await site.pool.fetchval("SELECT id FROM complaint_disposition WHERE complaint_id = $1", cid)
    teguran = await site.pool.fetchval(
        """INSERT INTO teguran (opd_id, issued_by_name, issued_at, text) VALUES ($1, 'bupati', now(), 'Segera')
           RETURNING id""",
        w.opd,
    )
    before = await site.pool.fetchrow("SELECT status, bounce_count FROM complaint WHERE id = $1", cid)

    async with aiohttp.ClientSession(base_url=site.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        assert (await sign_in_form(other, "opd-lain")).status == 303
        csrf = (await (await other.get("/api/v1/me")).json())["csrf_token"]
        for method, path, data in (
            ("GET", f"/pengaduan/{cid}", None),
            ("GET", f"/pengaduan/foto/{photo}", None),
            ("POST", f"/pengaduan/{cid}/aksi", {"action": "return", "reason": "bukan kami"}),
            ("POST", f"/pengaduan/teguran/{teguran}/dibaca", {}),
        ):
            r = await other.request(method, path, data={**(data or {}), "csrf_token": csrf}, allow_redirects=False)
            assert r.status in (403, 404), (path, r.status)
            assert b"PNG" not in await r.read()
        assert "Jalan berlubang" not in await (await other.get("/pengaduan/opd")).text()
    # and the OPD it belongs to does see it
    s, _ = await site.cookie_client("opd_officer")
    async with s:
        assert (await s.get(f"/pengaduan/foto/{photo}")).status == 200
    assert await site.pool.fetchrow("SELECT status, bounce_count FROM complaint WHERE id = $1", cid) == before
    assert await site.pool.fetchval("SELECT read_at FROM teguran WHERE id = $1", teguran) is None
    await _operator_reads_only_their_own_agencys_roster(site)


async def _operator_reads_only_their_own_agencys_roster(site: Site) -> None:
    w = site.world
    token, _ = await site.mint("operator")  # op-polsek, of Polsek Wonosobo
    async with aiohttp.ClientSession(base_url=site.url, headers=bearer(token)) as op:
        own = await op.get(f"/api/v1/roster/{w.polsek_wonosobo}/2026-11")
        assert own.status == 200, await own.text()
        for path in (
            f"/api/v1/roster/{w.polsek_kertek}/2026-11",
            f"/api/v1/roster/{w.polsek_kertek}/2026-11.csv",
            f"/api/v1/roster/{w.dishub}/shifts",
        ):
            r = await op.get(path)
            assert r.status in (403, 404), (path, r.status)
