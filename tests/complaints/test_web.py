"""The complaint pages and Open311 over HTTP against a real database: round trips, role guards,
escaping, and bad input answered with 4xx only."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from complaints import store
from tests.complaints.conftest import Site

# --- Open311 ---------------------------------------------------------------------------------------

SERVICE_KEYS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


async def post_request(
    anon: aiohttp.ClientSession, key: str, fmt: str = "json", **fields: str
) -> aiohttp.ClientResponse:
    data = {
        "api_key": key,
        "service_code": "sampah",
        "lat": "-7.3605",
        "long": "109.9030",
        "description": "Sampah menumpuk di pinggir jalan",
        "attribute[volume]": "besar",
        **fields,
    }
    return await anon.post(f"/open311/v2/requests.{fmt}", data=data)


async def test_discovery_and_services(site: Site, anon: aiohttp.ClientSession) -> None:
    r = await anon.get("/open311/v2/discovery.json")
    d = await r.json()
    assert r.status == 200 and d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(d["endpoints"][0]["formats"]) == {"text/xml", "application/json"}

    services = await (await anon.get("/open311/v2/services.json")).json()
    assert [s["service_code"] for s in services] == ["jalan-rusak", "sampah"]
    assert all(set(s) == SERVICE_KEYS for s in services)
    assert [s["metadata"] for s in services] == [False, True]

    r = await anon.get("/open311/v2/services.xml")
    assert r.status == 200 and r.content_type == "text/xml"
    root = ET.fromstring(await r.read())
    assert root.tag == "services" and [s.findtext("service_code") for s in root] == ["jalan-rusak", "sampah"]

    d = await (await anon.get("/open311/v2/services/sampah.json")).json()
    assert d["service_code"] == "sampah"
    (a,) = d["attributes"]
    assert a["code"] == "volume" and a["datatype"] == "singlevaluelist" and a["variable"] is True
    assert [v["key"] for v in a["values"]] == ["kecil", "besar"]
    root = ET.fromstring(await (await anon.get("/open311/v2/services/sampah.xml")).read())
    assert root.tag == "service_definition"
    assert [v.findtext("key") for v in root.iter("value")] == ["kecil", "besar"]

    r = await anon.get("/open311/v2/services/nope.json")
    assert r.status == 404 and (await r.json())[0]["code"] == 404


async def test_post_token_fetch_filter_round_trip(site: Site, anon: aiohttp.ClientSession) -> None:
    r = await post_request(anon, "salah")
    # Open311's error document carries no code beyond the status; the description is for people
    assert r.status == 403 and [e["code"] for e in await r.json()] == [403]

    r = await post_request(anon, site.key, first_name="Budi", email="budi@example.id", phone="0812")
    assert r.status == 201, await r.text()
    (created,) = await r.json()
    rid, token = created["service_request_id"], created["token"]
    assert rid.startswith("WSB-")

    (t,) = await (await anon.get(f"/open311/v2/tokens/{token}.json")).json()
    assert t == {"service_request_id": rid, "token": token}

    (req,) = await (await anon.get(f"/open311/v2/requests/{rid}.json")).json()
    assert REQUEST_KEYS <= set(req)
    assert req["status"] == "open" and req["service_code"] == "sampah" and req["lat"] == -7.3605
    assert req["siaga_status"] == "verifikasi" and req["siaga_colour"] == "hijau"
    assert req["expected_datetime"] and req["requested_datetime"].endswith("+07:00")
    assert "Budi" not in str(req) and "budi@" not in str(req)
    async with site.pool.acquire() as conn:
        row = await store.get_by_tracking(conn, rid)
        # placed in its desa by the shipped boundaries
        assert row["kecamatan_code"] is not None and row["channel"] == "open311"
        assert row["attributes"]["open311"] == {"volume": "besar"}

    # XML: the same request
    root = ET.fromstring(await (await anon.get(f"/open311/v2/requests/{rid}.xml")).read())
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == rid

    # POST answered in XML too
    r = await post_request(anon, site.key, fmt="xml", description="Got <b>&</b> \x01 ok")
    assert r.status == 201
    rid2 = ET.fromstring(await r.read()).findtext("request/service_request_id")

    async def ids(query: str) -> list[str]:
        r = await anon.get(f"/open311/v2/requests.json{query}")
        assert r.status == 200, await r.text()
        return sorted(x["service_request_id"] for x in await r.json())

    assert await ids("") == sorted([rid, rid2])
    assert await ids(f"?service_request_id={rid},{rid2.lower()}") == sorted([rid, rid2])
    assert await ids("?service_code=sampah&status=open") == sorted([rid, rid2])
    assert await ids("?service_code=jalan-rusak") == []
    assert await ids("?status=closed") == []
    assert await ids("?start_date=2000-01-01T00:00:00Z&end_date=2001-01-01T00:00:00Z") == []

    r = await anon.get(f"/open311/v2/requests/{rid2}.xml")
    assert "<b>" not in await r.text() and ET.fromstring(await r.read()).findtext("request/description") == (
        "Got <b>&</b>  ok"
    )


async def test_rahasia_text_is_never_public(site: Site, anon: aiohttp.ClientSession) -> None:
    async with site.pool.acquire() as conn:
        c = await store.create(
            conn,
            store.NewComplaint(description="Pungli di kantor desa", rahasia=True, lat=-7.36, lon=109.9),
            store.Actor.citizen(),
            clock=await store.load_clock(conn),
        )
    (req,) = await (await anon.get(f"/open311/v2/requests/{c['tracking_id']}.json")).json()
    assert req["description"] == "(dirahasiakan)" and req["lat"] is None
    page = await (await anon.get(f"/status/{c['tracking_id']}")).text()
    assert "Pungli" not in page


BAD = [
    ("GET", "/open311/v2/services.html", None),
    ("GET", "/open311/v2/services", None),
    ("GET", "/open311/v2/requests.json?start_date=kemarin", None),
    ("GET", "/open311/v2/requests.json?start_date=2026-13-01", None),
    ("GET", "/open311/v2/requests.json?start_date=0001-01-01T00:00:00Z", None),
    ("GET", "/open311/v2/requests.json?end_date=2020-01-01&start_date=2021-01-01", None),
    ("GET", "/open311/v2/requests.json?status=maybe", None),
    ("GET", "/open311/v2/requests.json?service_request_id=" + ",".join(["x"] * 101), None),
    ("GET", "/open311/v2/requests.json?service_code=" + "x" * 100, None),
    ("GET", "/open311/v2/requests/%00.json", None),
    ("GET", "/open311/v2/requests/" + "A" * 60 + ".xml", None),
    ("GET", "/open311/v2/tokens/nope.json", None),
    ("POST", "/open311/v2/requests.json", {}),
    ("POST", "/open311/v2/requests.json", {"service_code": "sampah"}),
    ("POST", "/open311/v2/requests.json", {"service_code": "sampah", "lat": "nan", "long": "1", "description": "x"}),
    ("POST", "/open311/v2/requests.json", {"service_code": "sampah", "lat": "91", "long": "1", "description": "x"}),
    ("POST", "/open311/v2/requests.json", {"service_code": "sampah", "lat": "-7", "description": "x"}),
    ("POST", "/open311/v2/requests.json", {"service_code": "sampah", "address_string": "Jl. A"}),
    ("POST", "/open311/v2/requests.json", {"service_code": "tidak-ada", "address_string": "A", "description": "x"}),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x", "attribute[volume]": "raksasa"},
    ),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x", "attribute[warna]": "merah"},
    ),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x", "attribute]": "1"},
    ),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x", "email": "bukan email"},
    ),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x", "media_url": "javascript:alert(1)"},
    ),
    (
        "POST",
        "/open311/v2/requests.json",
        {"service_code": "sampah", "address_string": "A", "description": "x" * 10001},
    ),
]


@pytest.mark.parametrize(("method", "path", "form"), BAD)
async def test_bad_open311_input_is_4xx_in_the_spec_format(
    site: Site, anon: aiohttp.ClientSession, method: str, path: str, form: dict[str, str] | None
) -> None:
    if form is not None:
        form = {"api_key": site.key, **form}
    r = await anon.request(method, path, data=form)
    assert 400 <= r.status < 500, await r.text()
    if r.content_type == "application/json":
        (err,) = await r.json()
        assert err["code"] == r.status and err["description"]
    elif r.status != 404 or path.startswith("/open311/v2/"):
        root = ET.fromstring(await r.read())
        assert root.tag == "errors" and root.findtext("error/code") == str(r.status)


async def test_fuzzed_open311_input_never_500(site: Site, anon: aiohttp.ClientSession) -> None:
    rnd = random.Random(5)
    junk = [
        "",
        "x",
        "0",
        "-1",
        "1e999",
        "nan",
        "2026-11-27T10:00:00+07:00",
        "2026-02-30",
        "open,closed",
        "\x00",
        "%",
        "'; DROP TABLE complaint; --",
        "<script>",
        "A" * 3000,
        "ü",
        "\ud7ff",
        ",,,",
        "[]",
        "{}",
        "true",
    ]
    keys = [
        "service_code",
        "service_request_id",
        "status",
        "start_date",
        "end_date",
        "lat",
        "long",
        "description",
        "address_string",
        "email",
        "media_url",
        "attribute[volume]",
        "attribute[]",
        "attribute[volume][]",
        "jurisdiction_id",
        "first_name",
        "device_id",
    ]
    for _ in range(150):
        params = {rnd.choice(keys): rnd.choice(junk) for _ in range(rnd.randint(0, 6))}
        fmt = rnd.choice(["json", "xml", "JSON", "csv"])
        if rnd.random() < 0.5:
            r = await anon.get(f"/open311/v2/requests.{fmt}", params=params)
        else:
            r = await anon.post(f"/open311/v2/requests.{fmt}", data={"api_key": site.key, **params})
        assert r.status < 500, (params, fmt, await r.text())
    async with site.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM complaint_category") == 2


# --- the desk and the citizen's pages --------------------------------------------------------------------


async def test_role_guards(site: Site, anon: aiohttp.ClientSession) -> None:
    r = await anon.get("/pengaduan", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    cc = await site.login("cc")
    pu = await site.login("pu")
    staf = await site.login("staf")
    bupati = await site.login("bupati")
    assert (await cc.get("/pengaduan")).status == 403
    assert (await pu.get("/pengaduan")).status == 403
    assert (await staf.get("/pengaduan")).status == 200
    assert (await staf.get("/pengaduan/opd")).status == 403
    assert (await pu.get("/pengaduan/opd")).status == 200
    assert (await staf.get("/dasbor")).status == 403
    assert (await bupati.get("/dasbor")).status == 200
    assert (await bupati.get("/pengaduan/admin")).status == 403
    assert (await staf.post("/pengaduan/teguran", data={"opd_id": "1", "text": "x"})).status == 403


async def test_desk_round_trip_with_escaping(site: Site, anon: aiohttp.ClientSession) -> None:
    xss = "<script>alert('x')</script><img src=x onerror=alert(1)> '; DROP TABLE complaint; --"
    r = await anon.post(
        "/lapor",
        data={
            "kind": "pengaduan",
            "title": xss,
            "description": xss,
            "lat": "-7.3605",
            "lon": "109.903",
            "reporter_name": "Budi <b>",
            "reporter_phone": "0812",
            "anonim": "1",
        },
        allow_redirects=False,
    )
    assert r.status == 303, await r.text()
    status_url = r.headers["Location"].split("?")[0]
    tracking = status_url.rsplit("/", 1)[1]
    secret = parse_qs(urlsplit(r.headers["Location"]).query)["k"][0]
    page = await (await anon.get(r.headers["Location"])).text()
    assert tracking in page and "<script>alert" not in page and "&lt;script&gt;" in page
    assert secret in page  # shown on the confirmation, the once it is shown unasked

    staf, pu, dlh = await site.login("staf"), await site.login("pu"), await site.login("dlh")
    queue = await (await staf.get("/pengaduan")).text()
    assert tracking in queue and "<script>alert" not in queue and "Hijau" in queue
    async with site.pool.acquire() as conn:
        cid = (await store.get_by_tracking(conn, tracking))["id"]
    detail = await (await staf.get(f"/pengaduan/{cid}")).text()
    assert "Budi &lt;b&gt;" in detail and "0812" in detail and "<img src=x" not in detail
    async with site.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'complaint.view_reporter' AND object_id = $1", str(cid)
            )
            == 1
        )

    r = await staf.post(
        f"/pengaduan/{cid}/aksi",
        data={"action": "dispose", "opd_id": str(site.opds.dpupr), "category_id": str(site.categories["jalan"])},
        allow_redirects=False,
    )
    assert r.status == 303
    assert (await dlh.get(f"/pengaduan/{cid}")).status == 404  # another OPD's: as if missing
    inbox = await (await pu.get("/pengaduan/opd")).text()
    assert tracking in inbox
    detail = await (await pu.get(f"/pengaduan/{cid}")).text()
    assert "Budi" not in detail and "0812" not in detail  # anonim: hidden from the OPD
    r = await dlh.post(f"/pengaduan/{cid}/aksi", data={"action": "follow_up", "text": "x"})
    assert r.status == 404

    form = aiohttp.FormData()
    form.add_field("action", "follow_up")
    form.add_field("text", "Sudah dibersihkan <b>")
    form.add_field("photo", b"\x89PNG\r\n\x1a\nfake", filename="a.png", content_type="image/png")
    r = await pu.post(f"/pengaduan/{cid}/aksi", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()
    async with site.pool.acquire() as conn:
        (d,) = await store.dispositions(conn, cid)
    photo = await pu.get(f"/pengaduan/foto/{d['id']}")
    assert photo.status == 200 and photo.content_type == "image/png"
    assert (await dlh.get(f"/pengaduan/foto/{d['id']}")).status == 404

    # the tracking number alone: the public status, no follow-up text, no way to act
    page = await (await anon.get(status_url)).text()
    assert "Sudah dibersihkan" not in page and "Saya menerima" not in page
    page = await (await anon.get(status_url, params={"k": secret})).text()
    assert "Sudah dibersihkan &lt;b&gt;" in page and "Saya menerima" in page
    r = await anon.post(status_url, data={"action": "dispose", "opd_id": "1", "k": secret})
    assert r.status == 400
    r = await anon.post(status_url, data={"action": "accept", "k": secret}, allow_redirects=False)
    assert r.status == 303
    async with site.pool.acquire() as conn:
        assert (await store.get(conn, cid))["status"] == "selesai"
    r = await anon.post(status_url, data={"action": "accept", "k": secret})
    assert r.status == 409
    assert (await anon.get("/status/WSB-0000-0000")).status == 404
    r = await anon.get("/status", params={"nomor": "wsb-abcd-efgh/../x"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/status/WSB-ABCD-EFGH%2F")


async def test_dashboard_and_csv(site: Site) -> None:
    bupati = await site.login("bupati")
    page = await (await bupati.get("/dasbor")).text()
    assert "Kepatuhan SLA per OPD" in page
    r = await bupati.get("/dasbor/status.csv")
    assert r.status == 200 and r.content_type == "text/csv"
    assert (await r.text()).splitlines()[0] == "status,keterangan,jumlah"
    assert (await bupati.get("/dasbor/nope.csv")).status == 404
    assert "peta-kecamatan" in page
    r = await bupati.get("/dasbor/kecamatan.json?hari=30")
    assert r.status == 200 and isinstance(await r.json(), dict)
    assert (await bupati.get("/static/complaints/lapor.js")).status == 200
    assert (await bupati.get("/static/dashboard/dasbor.js")).status == 200
    assert (await bupati.get("/static/complaints/..%2Fweb.py")).status == 404


async def test_admin_manages_categories_and_cuti_bersama(site: Site) -> None:
    admin = await site.login("admin")
    r = await admin.post("/pengaduan/admin/kategori", data={"code": "banjir", "name": "Banjir"}, allow_redirects=False)
    assert r.status == 303
    r = await admin.post("/pengaduan/admin/kategori", data={"code": "banjir", "name": "Lagi"})
    assert r.status == 400
    r = await admin.post("/pengaduan/admin/cuti", data={"day": "2026-12-24", "note": "Natal"}, allow_redirects=False)
    assert r.status == 303
    assert (await admin.post("/pengaduan/admin/cuti", data={"day": "besok"})).status == 400
    # the old address leads to the admin's category page (complaints/admin_web.py)
    page = await (await admin.get("/pengaduan/admin")).text()
    assert "banjir" in page and 'id="category-add"' in page
    async with site.pool.acquire() as conn:
        assert not (await store.load_clock(conn)).is_working_day(__import__("datetime").date(2026, 12, 24))
