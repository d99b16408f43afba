"""The citizen app API over real HTTP, a real pipeline and PostgreSQL, plus its pure parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core import appkeys
from core.settings import Settings
from gateway import app_api
from gateway.app_api import TokenBuckets, normalize_phone, seq_from_key
from gateway.store import AlertPipeline
from tests.ingress.conftest import dead_letters, ingress_settings, place_by_gps

ALERT = {"seq": 1, "type": "panic", "loc": {"lat": -7.3605, "lon": 109.903, "acc": 10.0}, "batt": 80}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0062 81234567890", "+6281234567890"),
        ("(0286) 321234", "+62286321234"),
        ("+31 6 12345678", "+31612345678"),
        ("0812", None),
        ("abc", None),
        ("", None),
        ("+0812345678", None),
        ("08123456789012345", None),
    ],
)
def test_normalize_phone(text: str, expect: str | None) -> None:
    assert normalize_phone(text) == expect


def test_token_buckets() -> None:
    b = TokenBuckets(per_s=1.0, burst=2, max_keys=2)
    assert [b.take("a", 0.0), b.take("a", 0.0)] == [0.0, 0.0]
    assert b.take("a", 0.0) == pytest.approx(1.0)
    assert b.take("a", 0.5) == pytest.approx(0.5)
    assert b.take("a", 1.5) == 0.0  # refilled
    b.take("b", 2.0)
    b.take("c", 2.0)  # "a" is forgotten: bounded memory
    assert "a" not in b._buckets and len(b._buckets) == 2


def test_seq_from_key_is_stable_and_in_range() -> None:
    assert seq_from_key("k1") == seq_from_key("k1") != seq_from_key("k2")
    assert 0 <= seq_from_key("x" * 200) < 2**62


class Codes:
    def __init__(self) -> None:
        self.sent: dict[str, str] = {}

    async def send_code(self, phone: str, code: str) -> None:
        self.sent[phone] = code


@pytest.fixture
def codes() -> Codes:
    return Codes()


async def _client(pipeline: AlertPipeline, codes: Codes) -> TestClient:
    app = web.Application()
    app_api.setup(app)
    app[appkeys.ALERT_PIPELINE] = pipeline
    app[app_api.CODE_SENDER] = codes
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(pipeline: AlertPipeline, codes: Codes) -> AsyncIterator[TestClient]:
    c = await _client(pipeline, codes)
    try:
        yield c
    finally:
        await c.close()


async def _install(client: TestClient, codes: Codes, phone: str = "0812 3456 7890") -> dict[str, str]:
    r = await client.post("/api/v1/apps/register", json={"phone": phone})
    assert r.status == 202, await r.text()
    reg = await r.json()
    code = codes.sent[normalize_phone(phone) or ""]
    r = await client.post(
        "/api/v1/apps/verify", json={"registration_id": reg["registration_id"], "code": code, "platform": "android"}
    )
    assert r.status == 201, await r.text()
    return await r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_verify_alert_follow(pool: asyncpg.Pool, client: TestClient, codes: Codes) -> None:
    r = await client.post("/api/v1/apps/register", json={"phone": "0812 3456 7890"})
    reg = await r.json()
    r = await client.post("/api/v1/apps/verify", json={"registration_id": reg["registration_id"], "code": "x"})
    assert r.status == 400 and (await r.json())["attempts_left"] == 4
    code = codes.sent["+6281234567890"]
    r = await client.post("/api/v1/apps/verify", json={"registration_id": reg["registration_id"], "code": code})
    assert r.status == 201
    install = await r.json()
    r = await client.post("/api/v1/apps/verify", json={"registration_id": reg["registration_id"], "code": code})
    assert r.status == 409  # one code, one install
    device = await pool.fetchrow("SELECT * FROM device WHERE id = $1", install["device_id"])
    assert device["kind"] == "app" and device["active"]
    stored = await pool.fetchrow("SELECT * FROM app_install WHERE device_id = $1", install["device_id"])
    assert install["token"].encode() not in bytes(stored["token_hash"]) and stored["phone"] == "+6281234567890"

    token = install["token"]
    body = {**ALERT, "note": "Ada perampokan di toko", "phone": "0812 3456 7890"}
    r = await client.post("/api/v1/alerts", json=body, headers=bearer(token))
    assert r.status == 201, await r.text()
    first = await r.json()
    assert first["state"] == "received" and not first["duplicate"]
    r = await client.post("/api/v1/alerts", json=body, headers=bearer(token))  # the app retries
    again = await r.json()
    assert r.status == 200 and again["incident_id"] == first["incident_id"] and again["duplicate"]
    incident = await pool.fetchrow("SELECT * FROM incident WHERE id = $1::uuid", first["incident_id"])
    assert incident["device_id"] == install["device_id"] and incident["location_source"] == "gps"
    payload = await pool.fetchval("SELECT payload FROM alert WHERE device_id = $1", install["device_id"])
    assert "Ada perampokan di toko" in str(payload)  # the note is kept with the alert
    assert await pool.fetchval("SELECT channel FROM alert") == "app"

    # follow it: an immediate answer, then a long poll woken by the operator's acknowledgement
    r = await client.get(first["state_url"], headers=bearer(token))
    assert (await r.json())["state"] == "received"
    poll = asyncio.create_task(client.get(first["state_url"] + "?wait=10&since=received", headers=bearer(token)))
    started = time.monotonic()
    await pool.execute("UPDATE incident SET state = 'acknowledged' WHERE id = $1::uuid", first["incident_id"])
    r = await poll
    got = await r.json()
    assert got["state"] == "acknowledged" and got["label"] == "Dikonfirmasi petugas"
    assert time.monotonic() - started < 5
    # someone else's token cannot read it
    other = await _install(client, codes, "0813 1111 2222")
    r = await client.get(first["state_url"], headers=bearer(other["token"]))
    assert r.status == 404


async def test_idempotency_key_and_refusals(pool: asyncpg.Pool, client: TestClient, codes: Codes) -> None:
    token = (await _install(client, codes))["token"]
    body = {k: v for k, v in ALERT.items() if k != "seq"}
    r1 = await client.post("/api/v1/alerts", json=body, headers={**bearer(token), "Idempotency-Key": "abc-1"})
    r2 = await client.post("/api/v1/alerts", json=body, headers={**bearer(token), "Idempotency-Key": "abc-1"})
    assert (r1.status, r2.status) == (201, 200)
    assert (await r1.json())["incident_id"] == (await r2.json())["incident_id"]
    r = await client.post("/api/v1/alerts", json=body, headers=bearer(token))
    assert r.status == 400 and (await r.json())["error"] == "invalid"  # neither seq nor key
    r = await client.post("/api/v1/alerts", data=b"{nope", headers=bearer(token))
    assert r.status == 400
    r = await client.post("/api/v1/alerts", json={**ALERT, "type": "alien"}, headers=bearer(token))
    assert r.status == 400
    r = await client.post("/api/v1/alerts", json=ALERT)
    assert r.status == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    r = await client.post("/api/v1/alerts", json=ALERT, headers=bearer("forged"))
    assert r.status == 401
    oversize = b"x" * 20000
    r = await client.post("/api/v1/alerts", data=oversize, headers=bearer(token))
    assert r.status == 413
    assert (await r.json())["message"] == "Permintaan terlalu besar."
    refused = await dead_letters(pool, "app")
    assert [r["reason"] for r in refused] == ["invalid", "malformed_json", "invalid", "oversize"]
    # the oversized body was not read: its first bytes and declared length are on record
    last = refused[-1]
    assert len(last["payload"]) <= 4096 and bytes(last["payload"]) == oversize[: len(last["payload"])]
    assert last["payload_length"] == len(last["payload"]) and "Content-Length 20000" in last["detail"]
    assert last["device_id"] is not None
    assert await pool.fetchval("SELECT count(*) FROM incident") == 1
    # the admin disables the install's device
    device_id = await pool.fetchval("SELECT device_id FROM app_install LIMIT 1")
    await pool.execute("UPDATE device SET active = false WHERE id = $1", device_id)
    r = await client.post("/api/v1/alerts", json={**ALERT, "seq": 99}, headers=bearer(token))
    assert r.status == 403


async def test_rate_limits(pool: asyncpg.Pool, codes: Codes) -> None:
    settings = ingress_settings(app_alert_burst=3, app_alert_per_min=1.0, app_register_per_phone_per_hour=2)
    async with AlertPipeline(pool, settings, place_by_gps) as pipeline:
        client = await _client(pipeline, codes)
        try:
            token = (await _install(client, codes))["token"]
            statuses = []
            for seq in range(1, 6):
                r = await client.post("/api/v1/alerts", json={**ALERT, "seq": seq}, headers=bearer(token))
                statuses.append(r.status)
            assert statuses == [201, 201, 201, 429, 429]
            assert 1 <= int(r.headers["Retry-After"]) <= 60 and (await r.json())["error"] == "rate_limited"
            # the phone's hourly registrations: one used above, one more, then refused
            assert (await client.post("/api/v1/apps/register", json={"phone": "081234567890"})).status == 202
            r = await client.post("/api/v1/apps/register", json={"phone": "081234567890"})
            assert r.status == 429 and "Retry-After" in r.headers
            assert (await client.post("/api/v1/apps/register", json={"phone": "12"})).status == 400
        finally:
            await client.close()


async def test_rate_limit_per_address(pool: asyncpg.Pool, codes: Codes) -> None:
    settings: Settings = ingress_settings(app_ip_burst=6, app_ip_per_min=1.0)
    async with AlertPipeline(pool, settings, place_by_gps) as pipeline:
        client = await _client(pipeline, codes)
        try:
            # two phones behind one (carrier NAT) address: registering costs the address 4 tokens
            a = (await _install(client, codes, "0812 0000 0001"))["token"]
            b = (await _install(client, codes, "0812 0000 0002"))["token"]
            # their alerts are limited per install only, never by the shared address
            for seq in range(1, 6):
                for token in (a, b):
                    r = await client.post("/api/v1/alerts", json={**ALERT, "seq": seq}, headers=bearer(token))
                    assert r.status == 201
            # refused tokens do cost the address: two left, then 429, for everyone without a token
            statuses = [(await client.post("/api/v1/alerts", json=ALERT)).status for _ in range(4)]
            assert statuses == [401, 401, 429, 429]
            r = await client.post("/api/v1/apps/register", json={"phone": "0812 0000 0003"})
            assert r.status == 429
            # and a phone with its token still gets through
            r = await client.post("/api/v1/alerts", json={**ALERT, "seq": 9}, headers=bearer(a))
            assert r.status == 201
        finally:
            await client.close()
