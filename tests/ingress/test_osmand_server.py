"""The OsmAnd server over real HTTP, a real pipeline and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest

from core.settings import Settings
from gateway.osmand_server import OsmAndServer
from gateway.store import AlertPipeline
from tests.ingress.conftest import add_tracker, dead_letters, ingress_settings
from tests.support import wait_for

LAT, LON = -7.3605, 109.9030


@contextlib.asynccontextmanager
async def serving(pipeline: AlertPipeline, settings: Settings) -> AsyncIterator[OsmAndServer]:
    async with OsmAndServer(settings, pipeline, port=0) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def phone(pool: asyncpg.Pool) -> str:
    await add_tracker(pool, "483920", kind="osmand")  # Traccar Client's default ids are 6 digits
    return "483920"


async def test_sos_from_traccar_client_is_one_incident(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, http: aiohttp.ClientSession, phone: str
) -> None:
    async with serving(pipeline, settings) as server:
        url = f"http://127.0.0.1:{server.port}/"
        ts = int(time.time())
        params = {
            "id": phone,
            "timestamp": str(ts),
            "lat": str(LAT),
            "lon": str(LON),
            "accuracy": "8",
            "batt": "77",
            "alarm": "sos",
        }
        async with http.post(url, params=params) as r:
            assert r.status == 200
            number = r.headers["X-Siaga-Incident-Number"]
        incident = await pool.fetchrow("SELECT * FROM incident WHERE number = $1", int(number))
        assert incident["device_id"] == phone and incident["type"] == "panic" and incident["battery"] == 77
        assert incident["location_source"] == "gps" and incident["lat"] == LAT
        # the client did not see the 200 and re-sends: the same incident
        async with http.get(url, params=params) as r:
            assert r.status == 200 and r.headers["X-Siaga-Incident-Number"] == number
        # the JSON form's SOS, as a new press a second later
        body = {
            "device_id": phone,
            "location": {
                "timestamp": ts + 1,
                "coords": {"latitude": LAT, "longitude": LON},
                "extras": {"alarm": "sos"},
            },
        }
        async with http.post(url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200 and r.headers["X-Siaga-Incident-Number"] != number
        assert await pool.fetchval("SELECT count(*) FROM incident") == 2
        assert await pool.fetchval("SELECT channel FROM alert LIMIT 1") == "osmand"


async def test_positions_update_last_known_location(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, http: aiohttp.ClientSession, phone: str
) -> None:
    async with serving(pipeline, settings) as server:
        url = f"http://127.0.0.1:{server.port}/"
        async with http.post(
            url, params={"id": phone, "location": f"{LAT},{LON}", "batt": "50", "timestamp": str(int(time.time()))}
        ) as r:
            assert r.status == 200 and "X-Siaga-Incident-Number" not in r.headers
        form = f"deviceid={phone}&lat=-7.4&lon=109.95&timestamp={int(time.time()) + 1}".encode()
        async with http.post(url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 200
        dev = await pool.fetchrow("SELECT * FROM device WHERE id = $1", phone)
        assert (dev["last_lat"], dev["last_lon"], dev["battery"]) == (-7.4, 109.95, 50)
        assert await pool.fetchval("SELECT count(*) FROM telemetry") == 2
        assert await pool.fetchval("SELECT count(*) FROM incident") == 0


async def test_refused_requests_are_dead_lettered(
    pool: asyncpg.Pool, pipeline: AlertPipeline, http: aiohttp.ClientSession, phone: str
) -> None:
    settings = ingress_settings(osmand_max_body_bytes=1024)
    await add_tracker(pool, "off-01", kind="osmand", active=False)
    async with serving(pipeline, settings) as server:
        url = f"http://127.0.0.1:{server.port}/"
        cases = [
            ({"id": "999999", "lat": "1", "lon": "2", "alarm": "sos"}, None, 400),  # unknown device
            ({"id": "off-01", "alarm": "sos"}, None, 400),  # disabled device
            ({"id": phone, "lat": "north"}, None, 400),
            ({}, b"{broken", 400),
            ({"id": phone}, b"x" * 5000, 413),
        ]
        for params, body, status in cases:
            headers = {"Content-Type": "application/json"} if body == b"{broken" else {}
            async with http.post(url, params=params, data=body, headers=headers) as r:
                assert r.status == status, (params, await r.text())
        async with http.put(url) as r:
            assert r.status == 405
        got = await wait_for(lambda: _n_dead(pool, 5), what="5 dead letters")
        assert [r["reason"] for r in got] == [
            "unknown_device",
            "disabled_device",
            "invalid",
            "malformed_json",
            "oversize",
        ]
        assert b"id=999999" in bytes(got[0]["payload"]) and bytes(got[3]["payload"]).endswith(b"{broken")
        # the oversized body was not stored: the request line, what was kept and the declared length
        assert got[4]["payload_length"] == len(got[4]["payload"]) < 1024 and "Content-Length 5000" in got[4]["detail"]
        assert pipeline.stats.oversized == 1
        assert await pool.fetchval("SELECT count(*) FROM incident") == 0


async def _n_dead(pool: asyncpg.Pool, n: int) -> list[asyncpg.Record] | None:
    rows = await dead_letters(pool, "osmand")
    rows += [r for r in await pool.fetch("SELECT * FROM dead_letter WHERE channel <> 'osmand'")]
    return sorted(rows, key=lambda r: r["id"]) if len(rows) >= n else None


async def _closed(reader: asyncio.StreamReader) -> bool:
    with contextlib.suppress(ConnectionResetError):
        async with asyncio.timeout(10):
            while await reader.read(4096):
                pass
    return True


async def test_slow_loris_and_flood(
    pool: asyncpg.Pool, pipeline: AlertPipeline, http: aiohttp.ClientSession, phone: str
) -> None:
    settings = ingress_settings(osmand_header_timeout_s=0.5, osmand_body_timeout_s=0.5, osmand_max_connections=40)
    async with serving(pipeline, settings) as server:
        # headers that never end
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(b"POST /?id=483920 HTTP/1.1\r\nHost: x\r\n")
        # a body that never comes
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nid=48")
        assert await _closed(r1)
        async with asyncio.timeout(10):
            assert b"408" in await r2.read(4096)
        for w in (w1, w2):
            w.close()
        # a flood of idle connections: the ones over the limit are closed at once
        flood = []
        for _ in range(200):
            with contextlib.suppress(OSError):
                flood.append(await asyncio.open_connection("127.0.0.1", server.port))
        await wait_for(lambda: _rejected(server, 150), what="over-limit connections closed")
        for _, w in flood:
            w.close()
        # the server still answers
        url = f"http://127.0.0.1:{server.port}/"
        async with http.get(url, params={"id": phone, "lat": str(LAT), "lon": str(LON)}) as r:
            assert r.status == 200
        assert "osmand_body_timeout" in [r["reason"] for r in await dead_letters(pool, "osmand")]


async def _rejected(server: OsmAndServer, n: int) -> bool:
    return server.stats.rejected_over_limit >= n


async def test_database_away_gives_503_and_the_retry_is_one_incident(
    db_dsn: str, pool: asyncpg.Pool, http: aiohttp.ClientSession, phone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import osmand_server
    from tests.ingress.conftest import place_by_gps

    monkeypatch.setattr(osmand_server, "STORE_TIMEOUT_S", 0.5)
    settings = ingress_settings()
    params = {"id": phone, "timestamp": str(int(time.time())), "lat": str(LAT), "lon": str(LON), "alarm": "sos"}
    away = await asyncpg.create_pool(db_dsn, min_size=1, max_size=2)
    async with AlertPipeline(away, settings, place_by_gps) as pipeline:
        await away.close()  # the pipeline's database is gone: its writer retries, nothing commits
        async with serving(pipeline, settings) as server:
            async with http.post(f"http://127.0.0.1:{server.port}/", params=params) as r:
                assert r.status == 503 and r.headers["Retry-After"] == "10"
    back = await asyncpg.create_pool(db_dsn, min_size=1, max_size=4)
    try:
        async with AlertPipeline(back, settings, place_by_gps) as pipeline, serving(pipeline, settings) as server:
            for _ in range(2):  # Traccar Client retries until it gets its 200
                async with http.post(f"http://127.0.0.1:{server.port}/", params=params) as r:
                    assert r.status == 200
    finally:
        await back.close()
    assert await pool.fetchval("SELECT count(*) FROM incident") == 1
