"""The reporter's secret on the whole web role: ``POST /status/{tracking}`` without the complaint's
secret changes nothing in the database, whoever sends it (a signed-in session adds no authority);
with the secret the action happens and is audited as the reporter."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.security.conftest import Site, bearer
from tests.security.routes import database_digest


async def _file(http: aiohttp.ClientSession) -> tuple[str, str]:
    r = await http.post(
        "/lapor", data={"kind": "pengaduan", "description": "Jalan amblas di Kalianget"}, allow_redirects=False
    )
    assert r.status == 303, await r.text()
    loc = urlsplit(r.headers["Location"])
    return loc.path.rsplit("/", 1)[1], parse_qs(loc.query)["k"][0]


async def test_status_actions_without_the_secret_change_nothing(site: Site) -> None:
    async with aiohttp.ClientSession(base_url=site.url) as http:
        tracking, secret = await _file(http)
        _, other_secret = await _file(http)
        cid = await site.pool.fetchval("SELECT id FROM complaint WHERE tracking_id = $1", tracking)
        for role, data in (
            ("complaint_staff", {"action": "dispose", "opd_id": str(site.world.opd)}),
            ("opd_officer", {"action": "follow_up", "text": "Sudah ditimbun"}),
        ):
            token, _ = await site.mint(role)
            r = await http.post(f"/pengaduan/{cid}/aksi", data=data, headers=bearer(token), allow_redirects=False)
            assert r.status == 303, (role, await r.text())
        staff, _ = await site.mint("complaint_staff")
        before = await database_digest(site.pool)
        # none, empty, a random one, another complaint's, the right one mis-cased, NUL, huge
        keys = [None, "", secrets.token_urlsafe(16), other_secret, secret.upper(), "\u0000", "k" * 9000]
        for action in ({"action": "accept"}, {"action": "dispute", "reason": "Masih amblas"}):
            for k in keys:
                data = action if k is None else {**action, "k": k}
                for headers in ({}, bearer(staff)):
                    r = await http.post(f"/status/{tracking}", data=data, headers=headers, allow_redirects=False)
                    if k == "\u0000":  # refused at the door (core.params), before the secret is looked at
                        assert r.status == 400 and "tidak diizinkan" in await r.text(), (data, headers, r.status)
                    else:
                        assert r.status == 403, (data, headers, r.status)
                        assert "Tidak ada yang diubah" in await r.text()
        assert await database_digest(site.pool) == before

        r = await http.post(f"/status/{tracking}", data={"action": "accept", "k": secret}, allow_redirects=False)
        assert r.status == 303, await r.text()
    row = await site.pool.fetchrow(
        "SELECT username, role, user_id FROM audit_log WHERE action = 'complaint.accept' AND object_id = $1", str(cid)
    )
    assert dict(row) == {"username": "pelapor (tautan rahasia)", "role": "citizen", "user_id": None}
    assert await site.pool.fetchval("SELECT status FROM complaint WHERE id = $1", cid) == "selesai"
