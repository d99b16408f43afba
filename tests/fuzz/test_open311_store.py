"""Open311 over real HTTP against the test's own database: a few hundred hostile POSTs and
queries are each answered with the spec's error document (a 4xx with a description) or served;
never a 500, and a good report still goes through afterwards."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from urllib.parse import quote

import aiohttp
import pytest

from complaints import open311
from tests.complaints.conftest import Site, anon, areas, categories, opds, site  # noqa: F401  (fixtures)
from tests.fuzz.support import EXAMPLES, NASTY_STRINGS, corpus

pytestmark = pytest.mark.fuzz

N = 300 if EXAMPLES >= 10_000 else 60
GOOD = {
    "service_code": "sampah",
    "lat": "-7.3605",
    "long": "109.9030",
    "description": "Sampah menumpuk di pinggir jalan",
    "attribute[volume]": "besar",
}
KEYS = [*GOOD, "address_string", "address_id", "email", "phone", "media_url", "first_name", "attribute[x]",
        "attribute[volume][]", "attribute[", "api_key"]  # fmt: skip
VALUES = [*NASTY_STRINGS[:34], "sampah", "jalan-rusak", "besar", "kecil", "-7.36", "109.9"]


async def _answer(r: aiohttp.ClientResponse, fmt: str) -> int:
    assert r.content_type == open311.FORMATS[fmt] or r.status == 404, (r.status, r.content_type, fmt)
    body = await r.read()
    assert r.status in (200, 201, 400, 403, 404), (r.status, body[:300])
    if r.status >= 400:
        # a path no route matches is answered in XML, the spec's default: go by the content type
        if r.content_type == "application/json":
            (err,) = orjson_loads(body)
            assert err["code"] == r.status and err["description"]
        else:
            assert ET.fromstring(body).find("error/description").text  # type: ignore[union-attr]
    return r.status


def orjson_loads(body: bytes) -> list[dict[str, object]]:
    import orjson

    return orjson.loads(body)  # type: ignore[no-any-return]


async def test_open311_answers_every_bad_request(site: Site, anon: aiohttp.ClientSession) -> None:  # noqa: F811
    rng = random.Random(311)
    statuses: dict[int, int] = {}
    forms: list[list[tuple[str, str]]] = []
    for i in range(N):
        form = [("api_key", site.key), *GOOD.items()] if i % 4 else [("api_key", site.key)]
        for _ in range(rng.randint(1, 4)):
            form.append((rng.choice(KEYS), rng.choice(VALUES)))
        if i % 5 == 0:  # a field replaced rather than repeated
            k = rng.choice(list(GOOD))
            form = [(key, rng.choice(VALUES) if key == k else v) for key, v in form]
        forms.append(form)
    forms += [[("api_key", site.key), *((k, v) for k, v in _pairs(raw))] for _, raw in corpus("open311")]
    for i, form in enumerate(forms):
        fmt = "xml" if i % 3 == 0 else "json"
        data = "&".join(f"{quote(k, safe='[]')}={quote(v, errors='surrogatepass')}" for k, v in form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status = await _answer(await anon.post(f"/open311/v2/requests.{fmt}", data=data, headers=headers), fmt)
        statuses[status] = statuses.get(status, 0) + 1
    for _ in range(N // 2):
        # under aiohttp's 8190-byte request line: longer ones get aiohttp's own plain-text 400
        value = quote(rng.choice(VALUES)[:2000], errors="surrogatepass")
        param = rng.choice(["service_request_id", "status", "start_date", "end_date", "service_code"])
        await _answer(await anon.get(f"/open311/v2/requests.json?{param}={value}"), "json")
        await _answer(await anon.get(f"/open311/v2/requests/{value or 'x'}.json"), "json")
        await _answer(await anon.get(f"/open311/v2/services/{value or 'x'}.xml"), "xml")
    r = await anon.post("/open311/v2/requests.json", data={"api_key": site.key, **GOOD})
    assert r.status == 201, await r.text()  # still serving
    assert statuses.get(400, 0) > N // 4, statuses


def _pairs(raw: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
