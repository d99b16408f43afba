"""The GT06 server against real sockets, a real pipeline and PostgreSQL: login, alarms to exactly one
incident, positions, and everything a hostile or broken client can send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import asyncpg
import pytest

from core.settings import Settings
from gateway import gt06
from gateway.gt06_server import Gt06Server
from gateway.store import AlertPipeline
from tests.ingress.conftest import add_tracker, dead_letters, ingress_settings
from tests.support import wait_for

IMEI = "123456789012345"
LOGIN = gt06.encode(gt06.LOGIN, 1, bytes.fromhex("0" + IMEI))
ALUN_ALUN = (-7.3605, 109.9030)  # Wonosobo's town square


def sos_content() -> bytes:
    """An SOS alarm packet's content as a tracker sends it now, at the town square. Taken when a
    test sends it, never at import: on a slow run a fix dated at import time turns stale."""
    return gt06.encode_alarm_content(datetime.now(UTC).replace(microsecond=0), *ALUN_ALUN)


STATUS = gt06.encode(gt06.STATUS, 0x0F, bytes.fromhex("4004040001"))


def gps_lbs(serial: int) -> bytes:
    fix = gt06.encode_gps(datetime.now(UTC).replace(microsecond=0), *ALUN_ALUN)  # now, as sent
    return gt06.encode(gt06.GPS_LBS, serial, fix + gt06.encode_cell(510, 10, 1, 2))


@contextlib.asynccontextmanager
async def serving(pipeline: AlertPipeline, settings: Settings) -> AsyncIterator[Gt06Server]:
    async with Gt06Server(settings, pipeline, port=0) as server:
        yield server


class Tracker:
    """One tracker's TCP connection. Every one opened is closed when its test ends, pass or fail
    (``_close_trackers``): a test that fails midway must not leave a socket for the garbage
    collector to find in a later test, where ResourceWarning (an error here) blames that one."""

    opened: ClassVar[list[Tracker]] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        Tracker.opened.append(self)

    @classmethod
    async def connect(cls, port: int) -> Tracker:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> gt06.Frame:
        async with asyncio.timeout(10):
            head = await self.reader.readexactly(3)
            rest = await self.reader.readexactly(head[2] + 2)
        out = gt06.StreamParser().feed(head + rest)
        assert len(out) == 1 and isinstance(out[0], gt06.Frame), out
        return out[0]

    async def closed_by_server(self) -> bool:
        with contextlib.suppress(ConnectionResetError):  # an abort with our bytes unread: a reset
            async with asyncio.timeout(10):
                while await self.reader.read(4096):
                    pass
        self.close()
        return True

    def close(self) -> None:
        self.writer.transport.abort()


@pytest.fixture(autouse=True)
async def _close_trackers() -> AsyncIterator[None]:
    yield
    while Tracker.opened:
        Tracker.opened.pop().close()
    await asyncio.sleep(0)  # one turn of the loop: the aborted transports release their sockets


@pytest.fixture
async def tracker_device(pool: asyncpg.Pool) -> str:
    await add_tracker(pool, "gt-0001", imei=IMEI)
    return "gt-0001"


async def test_sos_becomes_exactly_one_incident(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, tracker_device: str
) -> None:
    sos = sos_content()  # one alarm, sent three times: the same content, the same fix time
    async with serving(pipeline, settings) as server:
        t = await Tracker.connect(server.port)
        await t.send(LOGIN)
        ack = await t.answer()
        assert (ack.protocol, ack.serial) == (gt06.LOGIN, 1)
        await t.send(gt06.encode(0x16, 0x36, sos))
        ack = await t.answer()
        assert (ack.protocol, ack.serial) == (0x16, 0x36)
        # answered only after commit: the incident is there now
        rows = await pool.fetch("SELECT * FROM incident WHERE device_id = $1", tracker_device)
        assert len(rows) == 1 and rows[0]["type"] == "panic" and rows[0]["location_source"] == "gps"
        # the tracker did not see our answer and sends it again, and again after reconnecting
        await t.send(gt06.encode(0x16, 0x37, sos))
        assert (await t.answer()).serial == 0x37
        t.close()
        t = await Tracker.connect(server.port)
        await t.send(LOGIN + gt06.encode(0x16, 0x01, sos))
        await t.answer()
        assert (await t.answer()).protocol == 0x16
        assert await pool.fetchval("SELECT count(*) FROM incident") == 1
        alert = await pool.fetchrow("SELECT * FROM alert")
        assert alert["channel"] == "gt06" and alert["seq"] % 256 == 1
        # position and heartbeat: telemetry and the device's last known place
        await t.send(gps_lbs(2) + STATUS)
        assert [(await t.answer()).protocol for _ in range(2)] == [gt06.GPS_LBS, gt06.STATUS]
        assert await pool.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", tracker_device) == 2
        dev = await pool.fetchrow("SELECT * FROM device WHERE id = $1", tracker_device)
        assert dev["last_lat"] is not None and dev["battery"] == 66
        t.close()
        assert server.stats.alerts == 3 and server.stats.refusals == 0


async def test_unknown_imei_and_packets_before_login_are_refused(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, tracker_device: str
) -> None:
    async with serving(pipeline, settings) as server:
        t = await Tracker.connect(server.port)
        await t.send(gt06.encode(gt06.LOGIN, 1, bytes.fromhex("0999999999999999")))
        assert await t.closed_by_server()
        t = await Tracker.connect(server.port)
        await t.send(gt06.encode(0x16, 5, sos_content()))
        assert await t.closed_by_server()
        reasons = [r["reason"] for r in await dead_letters(pool, "gt06")]
        assert reasons == ["unknown_device", "gt06_not_logged_in"]
        assert await pool.fetchval("SELECT count(*) FROM incident") == 0


async def test_disabled_device_cannot_log_in(pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings) -> None:
    await add_tracker(pool, "gt-off", imei=IMEI, active=False)
    async with serving(pipeline, settings) as server:
        t = await Tracker.connect(server.port)
        await t.send(LOGIN)
        assert await t.closed_by_server()


async def test_bad_frames_are_dead_lettered_and_the_connection_kept(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, tracker_device: str
) -> None:
    async with serving(pipeline, settings) as server:
        t = await Tracker.connect(server.port)
        await t.send(LOGIN)
        await t.answer()
        bad_crc = bytearray(STATUS)
        bad_crc[-3] ^= 0xFF
        oversize = b"\x79\x79\xff\xf0" + bytes(64)
        await t.send(b"GET / HTTP/1.1\r\n\r\n" + bytes(bad_crc) + oversize + STATUS)
        assert (await t.answer()).protocol == gt06.STATUS
        # a short alarm (truncated content inside a valid frame)
        await t.send(gt06.encode(0x16, 9, sos_content()[:10]) + STATUS)
        assert (await t.answer()).protocol == gt06.STATUS
        got = await wait_for(lambda: dead_letters(pool, "gt06"), what="dead letters")
        reasons = [r["reason"] for r in got]
        assert reasons == ["gt06_garbage", "gt06_bad_crc", "gt06_oversize", "gt06_garbage", "gt06_short_content"]
        assert all(r["device_id"] == tracker_device for r in got)
        assert bytes(got[1]["payload"]) == bytes(bad_crc)
        # an oversized frame is refused by its declared length: only its header is kept, counted
        assert bytes(got[2]["payload"]) == oversize[:4] and got[2]["payload_length"] == 4
        assert pipeline.stats.oversized == 1
        t.close()


async def test_garbage_flood_closes_that_connection_only(
    pool: asyncpg.Pool, pipeline: AlertPipeline, tracker_device: str
) -> None:
    settings = ingress_settings(gt06_max_refusals=5)
    async with serving(pipeline, settings) as server:
        good = await Tracker.connect(server.port)
        await good.send(LOGIN)
        await good.answer()
        bad = await Tracker.connect(server.port)
        with contextlib.suppress(ConnectionError):
            for _ in range(200):
                await bad.send(bytes(range(0x70)) * 40)  # no frame start anywhere
                await asyncio.sleep(0)  # let the server read between writes: separate chunks
        assert await bad.closed_by_server()
        await good.send(STATUS)
        assert (await good.answer()).protocol == gt06.STATUS
        assert server.stats.connections_open == 1
        n = await pool.fetchval("SELECT count(*) FROM dead_letter WHERE reason = 'gt06_garbage'")
        assert 1 <= n <= 6
        good.close()


async def test_slow_loris_and_silent_connections_are_closed(
    pool: asyncpg.Pool, pipeline: AlertPipeline, tracker_device: str
) -> None:
    settings = ingress_settings(gt06_login_timeout_s=0.5, gt06_frame_timeout_s=0.5, gt06_idle_timeout_s=1.0)
    async with serving(pipeline, settings) as server:
        silent = await Tracker.connect(server.port)
        assert await silent.closed_by_server()
        slow = await Tracker.connect(server.port)
        await slow.send(LOGIN)
        await slow.answer()
        await slow.send(STATUS[:6])  # a frame started and never finished
        assert await slow.closed_by_server()
        idle = await Tracker.connect(server.port)
        await idle.send(LOGIN)
        await idle.answer()
        assert await idle.closed_by_server()
        assert server.stats.closed_timeout == 3
        got = await wait_for(lambda: dead_letters(pool, "gt06"), what="truncated frame dead letter")
        assert [r["reason"] for r in got] == ["gt06_truncated"] and bytes(got[0]["payload"]) == STATUS[:6]
        await wait_for(lambda: _zero(server), what="no open connections")


async def _zero(server: Gt06Server) -> bool:
    return server.stats.connections_open == 0


async def test_connection_flood(pool: asyncpg.Pool, pipeline: AlertPipeline, tracker_device: str) -> None:
    settings = ingress_settings(gt06_max_connections=50, gt06_login_timeout_s=5.0)
    async with serving(pipeline, settings) as server:
        flood: list[Tracker] = []
        for _ in range(300):
            with contextlib.suppress(OSError):
                flood.append(await Tracker.connect(server.port))
        await wait_for(lambda: _rejected(server, 250), what="over-limit connections rejected")
        assert server.stats.connections_open <= 50
        for t in flood:
            t.close()
        await wait_for(lambda: _zero(server), what="flood connections gone")
        # and the server still serves
        t = await Tracker.connect(server.port)
        await t.send(LOGIN)
        assert (await t.answer()).protocol == gt06.LOGIN
        t.close()


async def _rejected(server: Gt06Server, n: int) -> bool:
    return server.stats.rejected_over_limit >= n


async def test_many_trackers_at_once(pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings) -> None:
    n = 100
    for i in range(n):
        await add_tracker(pool, f"gt-{i:04d}", imei=f"86{i:013d}")
    async with serving(pipeline, settings) as server:

        async def one(i: int) -> None:
            t = await Tracker.connect(server.port)
            await t.send(gt06.encode(gt06.LOGIN, 1, bytes.fromhex(f"086{i:013d}")))
            await t.answer()
            content = bytearray(sos_content())
            content[5] = i % 60  # a different second: a different alarm
            await t.send(gps_lbs(2) + gt06.encode(0x16, 3, bytes(content)))
            await t.answer()
            await t.answer()
            t.close()

        async with asyncio.TaskGroup() as tg:
            for i in range(n):
                tg.create_task(one(i))
    assert await pool.fetchval("SELECT count(*) FROM incident") == n
    assert await pool.fetchval("SELECT count(DISTINCT device_id) FROM telemetry") == n


async def test_memory_stays_bounded_under_junk(pipeline: AlertPipeline, tracker_device: str) -> None:
    """50 connections push 256 KiB of junk each and then hold a partial frame: the server keeps a
    fixed read buffer and at most one partial frame per connection, whatever arrives (measured:
    ~10 KiB per connection, all included)."""
    import gc
    import tracemalloc

    settings = ingress_settings(gt06_max_refusals=10_000, gt06_frame_timeout_s=30.0)
    async with serving(pipeline, settings) as server:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            conns = [await Tracker.connect(server.port) for _ in range(50)]
            junk = bytes(range(0x70)) * 585  # ~64 KiB without a frame start

            async def push(t: Tracker) -> None:
                for _ in range(4):
                    await t.send(junk)
                await t.send(b"\x78\x78\xff" + bytes(200))  # a frame that never completes

            async with asyncio.TaskGroup() as tg:
                for t in conns:
                    tg.create_task(push(t))
            await wait_for(lambda: _frames_held(server, 50), what="every connection holding a partial frame")
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 50 * 32 * 1024, f"{grown} bytes for 50 connections"
        for t in conns:
            t.close()


async def _frames_held(server: Gt06Server, n: int) -> bool:
    return server.stats.by_reason.get("gt06_garbage", 0) >= n and server.stats.connections_open == n


async def test_leaving_the_server_closes_every_connection(
    pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings, tracker_device: str
) -> None:
    """When ``async with Gt06Server`` ends, every connection it accepted is closed (the clients
    see the end of the stream), logged in or not: none is left for the garbage collector."""
    async with serving(pipeline, settings) as server:
        logged_in = await Tracker.connect(server.port)
        await logged_in.send(LOGIN)
        await logged_in.answer()
        silent = [await Tracker.connect(server.port) for _ in range(20)]
        await wait_for(lambda: _open_connections(server, 21), what="21 connections served")
    for t in (logged_in, *silent):
        assert await t.closed_by_server()
    assert server.stats.connections_open == 0


async def _open_connections(server: Gt06Server, n: int) -> bool:
    return server.stats.connections_open >= n
