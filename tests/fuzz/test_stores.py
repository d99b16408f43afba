"""A few hundred hostile inputs per family through the real path, against the test's own
PostgreSQL: what the MQTT gateway and the GT06 and OsmAnd servers refuse is stored as a dead letter
with its reason; the HTTP endpoints answer 4xx with a message; every one keeps serving, and a good
input after the junk still goes through."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from core.settings import Settings
from gateway import cells, gt06, opencellid
from gateway.gt06_server import Gt06Server
from gateway.osmand_server import OsmAndServer
from gateway.payloads import PayloadError, decode_alert
from gateway.store import AlertPipeline
from tests.fuzz.support import EXAMPLES, corpus, hostile_json
from tests.ingress.conftest import add_tracker, dead_letters, ingress_settings, pipeline  # noqa: F401  (fixture)
from tests.ingress.test_app_api import _client, _install, bearer, codes  # noqa: F401  (fixture)
from tests.support import wait_for

pytestmark = pytest.mark.fuzz

# hostile inputs per family: a few hundred under `make fuzz`, fewer in the fast suite
N = 300 if EXAMPLES >= 10_000 else 60


def _now() -> datetime:
    # taken when a test builds its input, never at import (a slow run would make the fixes stale)
    return datetime.now(UTC).replace(microsecond=0)


ALUN_ALUN = (-7.3605, 109.9030)


@pytest.fixture
def settings() -> Settings:
    # the app API's per-install and per-address limits would answer most of the junk with a 429
    return ingress_settings(app_alert_per_min=1e6, app_alert_burst=10**6, app_ip_per_min=1e6, app_ip_burst=10**6)


async def _dead_count(pool: asyncpg.Pool, channel: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM dead_letter WHERE channel = $1", channel))


async def _at_least(pool: asyncpg.Pool, channel: str, n: int) -> bool:
    return await _dead_count(pool, channel) >= n


def _distinct_seqs(payloads: list[bytes]) -> list[bytes]:
    # one seq each, so that no valid one is absorbed as a repeat of another
    return [raw.replace(b'"seq": 1,', f'"seq": {i + 10},'.encode(), 1) for i, raw in enumerate(payloads)]


def _check_dead_letters(rows: list[asyncpg.Record]) -> None:
    for row in rows:
        assert row["reason"] and row["detail"], dict(row)


# ---- MQTT -----------------------------------------------------------------------------------------


async def test_mqtt_gateway_dead_letters_every_refusal(db_dsn: str, tmp_path: Path, topic_root: str) -> None:
    from tests.gateway.harness import gateway_running, make_stack

    good = {"seq": 1, "ts": int(time.time()), "type": "panic", "loc": {"lat": -7.36, "lon": 109.9}, "batt": 80}
    payloads = _distinct_seqs(hostile_json(random.Random(8), good, N)) + [raw for _, raw in corpus("mqtt")]
    refused: Counter[tuple[bytes, str]] = Counter()
    for raw in payloads:
        try:
            decode_alert(raw)
        except PayloadError as e:
            refused[raw, e.reason] += 1
    # a broker without its packet limit, so that the oversized ones reach the gateway's own check
    # (Mosquitto as SIAGA configures it closes the sender's connection: tests/gateway/test_size_limits.py)
    async with make_stack(db_dsn, tmp_path, topic_root, broker_max_packet_bytes=0) as stack:
        creds = await stack.add_devices(1)
        async with gateway_running(stack):
            (dev,) = await stack.start_devices(creds)
            topic = f"{dev.root}/devices/{dev.device_id}/alert"
            for raw in payloads:
                dev.client.publish(topic, raw, qos=1)
            seq = dev.press()  # still serving
            async with asyncio.timeout(30):
                await dev.wait_receipt(seq)
            total = sum(refused.values())
            with contextlib.suppress(AssertionError):  # the comparison below says what is missing
                await wait_for(lambda: _at_least(stack.pool, "mqtt", total), what=f"{total} dead letters", timeout=30)
        rows = await dead_letters(stack.pool, "mqtt")
    _check_dead_letters(rows)
    # by the whole payload's hash: an oversized one is kept only in part
    stored = Counter((bytes(r["payload_sha256"]), r["reason"]) for r in rows)
    expected = Counter({(hashlib.sha256(raw).digest(), reason): n for (raw, reason), n in refused.items()})
    assert stored == expected, (stored - expected, expected - stored)
    assert all(len(r["payload"]) <= 4096 and r["payload_length"] >= len(r["payload"]) for r in rows)


# ---- OsmAnd ---------------------------------------------------------------------------------------


def _osmand_requests(rng: random.Random) -> list[tuple[str, bytes, str | None]]:
    good = {"device_id": "483920", "location": {"timestamp": int(time.time()), "coords": {"latitude": -7.36,
            "longitude": 109.9}, "extras": {"alarm": "sos"}}}  # fmt: skip
    out: list[tuple[str, bytes, str | None]] = [("", b, "application/json") for b in hostile_json(rng, good, N // 2)]
    keys = ["id", "timestamp", "lat", "lon", "location", "cell", "batt", "alarm", "accuracy", "wifi", "x"]
    values = ["483920", "nan", "1e309", "9999-12-31T23:59:59-01:00", "%00", "%ED%A0%80", "sos", "-7.36", "510,10,1"]
    for i in range(N // 2):
        pairs = [f"{rng.choice(keys)}={rng.choice(values)}" for _ in range(rng.randint(1, 6))]
        query = "&".join(["id=483920", *pairs] if i % 3 else pairs)
        out.append((query, b"", None) if i % 2 else ("", query.encode(), "application/x-www-form-urlencoded"))
    for name, raw in corpus("osmand"):
        if name.endswith(".query"):
            out.append((raw.decode(), b"", None))
        else:
            out.append(("", raw, "application/json" if name.endswith(".json") else None))
    return out


async def test_osmand_server_answers_and_stores_every_refusal(
    pool: asyncpg.Pool,
    pipeline: AlertPipeline,  # noqa: F811
    settings: Settings,
) -> None:
    await add_tracker(pool, "483920", kind="osmand")
    requests = _osmand_requests(random.Random(11))
    statuses: Counter[int] = Counter()
    async with OsmAndServer(settings, pipeline, port=0) as server, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.port}/"
        for query, body, ctype in requests:
            headers = {"Content-Type": ctype} if ctype else {}
            async with http.post(url + ("?" + query if query else ""), data=body, headers=headers) as r:
                text = await r.text()
                assert r.status in (200, 400, 413), (r.status, text, query, body[:200])
                assert r.status == 200 or text.strip(), "a refusal says why"
                statuses[r.status] += 1
        refused = statuses[400] + statuses[413]
        await wait_for(lambda: _at_least(pool, "osmand", refused), what="dead letters", timeout=30)
        params = {"id": "483920", "timestamp": str(int(time.time())), "lat": "-7.36", "lon": "109.9", "alarm": "sos"}
        async with http.post(url, params=params) as r:  # still serving
            assert r.status == 200 and r.headers["X-Siaga-Incident-Number"]
    rows = await dead_letters(pool, "osmand")
    _check_dead_letters(rows)
    assert len(rows) == refused and refused > N // 2, statuses


# ---- GT06 -----------------------------------------------------------------------------------------

IMEI = "123456789012345"


def _gt06_junk(rng: random.Random) -> list[bytes]:
    protocols = [*range(0x10, 0x28), gt06.STATUS, gt06.TIME_REQUEST, 0x80, 0x99]
    good = gt06.encode_alarm_content(_now(), *ALUN_ALUN)
    out = []
    for i in range(N):
        content = bytearray(good[: rng.randint(0, len(good))] if i % 2 else rng.randbytes(rng.randint(0, 40)))
        for _ in range(rng.randint(0, 3)):
            if content:
                content[rng.randrange(len(content))] = rng.randrange(256)
        frame = bytearray(gt06.encode(rng.choice(protocols), i, bytes(content), extended=i % 5 == 0))
        damage = i % 6
        if damage == 0:
            frame[-3] ^= 0x5A  # CRC
        elif damage == 1:
            frame = frame[: rng.randint(1, len(frame) - 1)] + b"\x00" * 3  # cut, then garbage
        elif damage == 2:
            frame = bytearray(rng.randbytes(rng.randint(1, 30)))
        out.append(bytes(frame))
    return out + [raw for name, raw in corpus("gt06") if "login" not in name]


async def test_gt06_server_stores_every_refusal_and_keeps_the_connection(
    pool: asyncpg.Pool,
    pipeline: AlertPipeline,  # noqa: F811
    settings: Settings,
) -> None:
    await add_tracker(pool, "gt-0001", imei=IMEI)
    settings = settings.model_copy(update={"gt06_max_refusals": 100_000})
    junk = b"".join(_gt06_junk(random.Random(6)))
    parser = gt06.StreamParser(max_frame=settings.gt06_max_frame_bytes)
    expected = sum(isinstance(item, gt06.Refusal) for item in parser.feed(junk))
    async with Gt06Server(settings, pipeline, port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(gt06.encode(gt06.LOGIN, 1, bytes.fromhex("0" + IMEI)))
            # a last start marker and an incomplete frame must not swallow the alarm: resynchronise
            sos = gt06.encode(gt06.GPS_LBS_STATUS, 0x4242, gt06.encode_alarm_content(_now(), *ALUN_ALUN))
            writer.write(junk + b"\r\n" * 600 + sos)
            await writer.drain()
            answers = gt06.StreamParser()
            async with asyncio.timeout(30):
                while True:
                    data = await reader.read(4096)
                    assert data, "the server closed the connection"
                    got = [f for f in answers.feed(data) if isinstance(f, gt06.Frame)]
                    if any((f.protocol, f.serial) == (gt06.GPS_LBS_STATUS, 0x4242) for f in got):
                        break
        finally:
            writer.transport.abort()
        await wait_for(lambda: _at_least(pool, "gt06", expected), what="dead letters", timeout=30)
    rows = await dead_letters(pool, "gt06")
    _check_dead_letters(rows)
    assert all(r["reason"].startswith("gt06_") for r in rows) and len(rows) >= expected > N // 3, (len(rows), expected)
    assert await pool.fetchval("SELECT count(*) FROM incident WHERE device_id = 'gt-0001'") >= 1


# ---- the app API ----------------------------------------------------------------------------------


async def test_app_api_answers_400_with_a_reason_and_stores_it(
    pool: asyncpg.Pool,
    pipeline: AlertPipeline,  # noqa: F811
    codes,  # noqa: F811
) -> None:
    client: TestClient = await _client(pipeline, codes)
    try:
        install = await _install(client, codes)
        good = {"seq": 1, "type": "panic", "loc": {"lat": -7.36, "lon": 109.9}, "note": "tolong", "batt": 50}
        bodies = _distinct_seqs(hostile_json(random.Random(3), good, N))
        bodies += [raw for n, raw in corpus("app_api") if n.endswith(".json")]
        refused = 0
        for i, raw in enumerate(bodies):
            headers = {**bearer(install["token"]), "Content-Type": "application/json", "Idempotency-Key": f"k{i}"}
            r = await client.post("/api/v1/alerts", data=raw, headers=headers)
            body = await r.json()
            assert r.status in (200, 201, 400, 413), (r.status, body, raw[:200])
            if r.status >= 400:
                assert body["error"] and body["message"], body
                # every refusal is dead-lettered, a 413 too (its first bytes and declared length)
                refused += 1
            # registration takes the same bodies: 4xx with a message, never a 500
            r = await client.post("/api/v1/apps/verify", data=raw, headers={"Content-Type": "application/json"})
            assert 400 <= r.status < 500 and (await r.json())["message"], r.status
        with contextlib.suppress(AssertionError):  # the comparison below says what is missing
            await wait_for(lambda: _at_least(pool, "app", refused), what="dead letters", timeout=15)
        r = await client.post("/api/v1/alerts", json={"seq": 99, "type": "fire"}, headers=bearer(install["token"]))
        assert r.status == 201  # still serving
    finally:
        await client.close()
    rows = await dead_letters(pool, "app")
    _check_dead_letters(rows)
    assert len(rows) == refused and refused > N // 2, (len(rows), refused, Counter(r["reason"] for r in rows))


# ---- the OpenCelliD import ------------------------------------------------------------------------


async def test_cells_import_reports_every_bad_row(pool: asyncpg.Pool, tmp_path: Path) -> None:
    rng = random.Random(5)
    good = "LTE,510,10,{area},67890123,0,109.9030,-7.3605,1000,12,1,1459814400,1700000000,-85"
    lines = ["radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"]
    nasty = ["", "nan", "-1", "1e309", "9" * 50, "\x00", "١٢٣", "2147483648", " ", '"', "LTE\x00"]
    for i in range(N):
        fields = good.format(area=i).split(",")
        if i % 3:
            for _ in range(rng.randint(1, 3)):
                fields[rng.randrange(len(fields))] = rng.choice(nasty)
        lines.append(",".join(fields))
    text = "\n".join(lines) + "\n"
    for _, raw in corpus("cells"):
        text += raw.decode("utf-8", "replace")
    path = tmp_path / "cells.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    expected = Counter(type(r).__name__ for r in opencellid.parse_cells(text.splitlines(keepends=True)))
    report = await cells.import_cells(pool, path, batch_size=50)
    assert (report.good, report.bad) == (expected["CellRow"], expected["BadRow"]) and report.bad > N // 3
    assert all(b.reason and b.line > 1 for b in report.bad_rows)
    assert await pool.fetchval("SELECT count(*) FROM cell_tower") == report.inserted > 0
