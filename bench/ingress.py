"""Ingress benchmark: OsmAnd requests/s and GT06 packets/s end to end (answered only after the
pipeline committed them), each next to a ceiling measured in the same run on the same machine:
a bare aiohttp server answering 200 for OsmAnd, a TCP echo server for GT06.

It registers ``bench-*`` devices and writes telemetry, alerts and incidents: run it against a
scratch database. The load generator runs in the same process as the servers, as it does for
the ceilings, so the ratio is what the ingress code costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web

from core.settings import Settings
from gateway import gt06
from gateway.gt06_server import Gt06Server
from gateway.osmand_server import OsmAndServer
from gateway.store import AlertPipeline

ALUN_ALUN = (-7.3605, 109.9030)


@dataclass(frozen=True)
class BenchRow:
    path: str
    ops: int
    seconds: float
    ceiling_per_s: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.per_s / self.ceiling_per_s if self.ceiling_per_s else 0.0


@dataclass(frozen=True)
class _Run:
    ops: int
    seconds: float
    latencies: list[float]

    def row(self, path: str, ceiling_per_s: float) -> BenchRow:
        lat = sorted(self.latencies)
        pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
        return BenchRow(path, self.ops, self.seconds, ceiling_per_s, pick(0.5), pick(0.99))

    @property
    def per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


async def _drive(workers: int, seconds: float, op: Callable[[int, int], Awaitable[None]]) -> _Run:
    """Run ``op(worker, k)`` in ``workers`` closed loops for ``seconds``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop_at = started + seconds
    latencies: list[float] = []

    async def worker(i: int) -> None:
        k = 0
        while (t0 := loop.time()) < stop_at:
            await op(i, k)
            latencies.append(loop.time() - t0)
            k += 1

    async with asyncio.TaskGroup() as tg:
        for i in range(workers):
            tg.create_task(worker(i), name=f"bench-worker-{i}")
    return _Run(len(latencies), loop.time() - started, latencies)


async def _register(pipeline: AlertPipeline, kind: str, n: int) -> list[str]:
    ids = [f"bench-{kind}-{i:04d}" for i in range(n)]
    async with pipeline.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO device (id, name, kind, imei) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO UPDATE SET active = true""",
            [(d, f"Bench {d}", kind, f"99{i:013d}" if kind == "gt06" else None) for i, d in enumerate(ids)],
        )
    return ids


# ---- OsmAnd ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _bare_http(host: str) -> AsyncIterator[int]:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _osmand_load(port: int, ids: list[str], seconds: float, *, sos: bool) -> _Run:
    url = f"http://127.0.0.1:{port}/"
    now = int(time.time())
    connector = aiohttp.TCPConnector(limit=len(ids))
    async with aiohttp.ClientSession(connector=connector) as http:

        async def op(i: int, k: int) -> None:
            params = {
                "id": ids[i],
                "lat": str(ALUN_ALUN[0]),
                "lon": str(ALUN_ALUN[1]),
                "accuracy": "10",
                "batt": "80",
                "timestamp": str(now - k),
            }
            if sos:
                params["alarm"] = "sos"
            async with http.post(url, params=params) as r:
                if r.status != 200:
                    raise RuntimeError(f"OsmAnd answered {r.status}: {await r.text()}")
                await r.read()

        return await _drive(len(ids), seconds, op)


# ---- GT06 -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _echo(host: str) -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, host, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def _gt06_load(port: int, n: int, seconds: float, *, sos: bool, echo: bool) -> _Run:
    base = datetime.now(UTC).replace(microsecond=0)
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for i in range(n):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conns.append((reader, writer))
            login = gt06.encode(gt06.LOGIN, 1, bytes.fromhex(f"099{i:013d}"))
            writer.write(login)
            await reader.readexactly(len(login) if echo else 10)

        async def op(i: int, k: int) -> None:
            reader, writer = conns[i]
            at = base - timedelta(seconds=k)
            if sos:
                packet = gt06.encode(0x16, k & 0xFFFF, gt06.encode_alarm_content(at, *ALUN_ALUN))
            else:
                content = gt06.encode_gps(at, *ALUN_ALUN) + gt06.encode_cell(510, 10, 1, 2)
                packet = gt06.encode(gt06.GPS_LBS, k & 0xFFFF, content)
            writer.write(packet)
            await reader.readexactly(len(packet) if echo else 10)

        return await _drive(n, seconds, op)
    finally:
        for _, writer in conns:
            writer.close()
        for _, writer in conns:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# ---- the run --------------------------------------------------------------------------------


async def run(
    settings: Settings,
    pipeline: AlertPipeline,
    *,
    seconds: float = 5.0,
    clients: int = 32,
    out: Callable[[str], None] = print,
) -> list[BenchRow]:
    """Measure and print the table; returns its rows. ``pipeline`` must be open (``async with``)."""
    host = "127.0.0.1"
    osm_ids = await _register(pipeline, "osmand", clients)
    await _register(pipeline, "gt06", clients)
    rows: list[BenchRow] = []
    async with _bare_http(host) as bare_port:
        http_ceiling = (await _osmand_load(bare_port, osm_ids, seconds, sos=False)).per_s
    async with OsmAndServer(settings, pipeline, port=0) as osmand:
        run1 = await _osmand_load(osmand.port, osm_ids, seconds, sos=False)
        rows.append(run1.row("OsmAnd position (HTTP)", http_ceiling))
        run2 = await _osmand_load(osmand.port, osm_ids, seconds, sos=True)
        rows.append(run2.row("OsmAnd SOS -> incident", http_ceiling))
    async with _echo(host) as echo_port:
        tcp_ceiling = (await _gt06_load(echo_port, clients, seconds, sos=False, echo=True)).per_s
    async with Gt06Server(settings, pipeline, port=0) as server:
        run3 = await _gt06_load(server.port, clients, seconds, sos=False, echo=False)
        rows.append(run3.row("GT06 location (TCP)", tcp_ceiling))
        run4 = await _gt06_load(server.port, clients, seconds, sos=True, echo=False)
        rows.append(run4.row("GT06 SOS -> incident", tcp_ceiling))
    out(format_table(rows, clients))
    return rows


def format_table(rows: list[BenchRow], clients: int) -> str:
    lines = [
        f"ingress, {clients} concurrent clients, each waiting for its answer (= committed)",
        f"{'path':<26} {'ops':>8} {'ops/s':>9} {'ceiling/s':>10} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r.path:<26} {r.ops:>8} {r.per_s:>9.0f} {r.ceiling_per_s:>10.0f} {r.ratio:>6.2f}"
            f" {r.p50_ms:>7.1f} {r.p99_ms:>7.1f}"
        )
    lines.append("ceilings: bare aiohttp 200 (OsmAnd rows), TCP echo of the same packets (GT06 rows)")
    return "\n".join(lines)
