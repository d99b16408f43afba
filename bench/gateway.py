"""``siaga bench``: throughput and latency of the alert path, each beside a raw baseline measured
in the same run on the same broker and machine, printed as a table and written as JSON.

Phases (each ``--seconds`` long):
  (a) raw ceiling: paho publishers -> a paho subscriber in its own process, QoS 1;
  (b) telemetry committed to PostgreSQL by the gateway (its own process), QoS 1;
  (c) alerts committed (incident rows) by the gateway, buttons pressing as fast as they can;
  (d) press -> receipt latency at a fixed alert rate while a telemetry flood runs;
  (e) geolocation (`siaga bench geo`) and the tracker paths (`siaga bench ingress`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.raw import Flooder, running, telemetry_payload
from bench.stack import ALUN_ALUN, gateway_settings, mosquitto_broker, sim_config
from core.db import migrate, open_pool
from core.settings import Settings
from firmware_sim.device import SimDevice
from gateway.devices import GATEWAY_USERNAME, mosquitto_hash
from siaga.mosquitto import MosquittoProcess, mosquitto_binary
from siaga.procs import RoleProcess, role_env
from siaga.roles import ROLES

ADMIN_DSN = os.environ.get("SIAGA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


@dataclass
class Env:
    settings: Settings
    pool: asyncpg.Pool
    broker: MosquittoProcess
    workdir: Path
    creds: list[tuple[str, str]]


# The benchmark's buttons, with their secrets and hashes, kept between runs: hashing 10,000 secrets
# costs minutes (argon2) and seconds (Mosquitto's PBKDF2), and bench databases are thrown away.
DEVICE_CACHE = Path(os.environ.get("SIAGA_BENCH_CACHE", "var/bench/devices.json"))


def _bench_hashes(secret: str) -> tuple[str, str]:
    """A bench device's two hashes. The broker's is the production one (Mosquitto checks every
    device's own password); the argon2 one, read only by the embedded broker, uses argon2's
    lowest cost, since these databases are dropped after the run."""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return cheap.hash(secret), mosquitto_hash(secret)


def bench_devices(n: int, cache: Path | None = None) -> list[tuple[str, str, str, str]]:
    """``n`` bench devices as (id, secret, secret_hash, broker_hash), from the cache, the missing
    ones hashed on every core and added to it."""
    from concurrent.futures import ProcessPoolExecutor

    cache = cache or DEVICE_CACHE
    rows: list[tuple[str, str, str, str]] = []
    if cache.exists():
        rows = [tuple(r) for r in orjson.loads(cache.read_bytes())]  # type: ignore[misc]
    if len(rows) < n:
        ids = [f"bench-{i:05d}" for i in range(len(rows), n)]
        secrets_ = [secrets.token_urlsafe(24) for _ in ids]
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            hashes = list(pool.map(_bench_hashes, secrets_, chunksize=256))
        rows += [(d, s, h[0], h[1]) for d, s, h in zip(ids, secrets_, hashes, strict=True)]
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(rows))
        os.chmod(tmp, 0o600)
        os.replace(tmp, cache)
    return rows[:n]


async def register_bench_devices(conn: asyncpg.Connection, n: int, cache: Path | None = None) -> list[tuple[str, str]]:
    """Register ``n`` bench devices in one COPY; returns (id, secret) pairs."""
    rows = await asyncio.to_thread(bench_devices, n, cache)
    await conn.copy_records_to_table(
        "device",
        records=[(d, f"bench {d}", "button", sh, bh) for d, _, sh, bh in rows],
        columns=["id", "name", "kind", "secret_hash", "broker_hash"],
    )
    return [(d, s) for d, s, _, _ in rows]


@contextlib.asynccontextmanager
async def bench_env(n_devices: int, *, pool_size: int = 6) -> AsyncIterator[Env]:
    """A database and a Mosquitto of the benchmark's own, both removed afterwards."""
    if mosquitto_binary() is None:
        raise SystemExit("siaga bench needs the mosquitto binary (apt-get install mosquitto)")
    name = f"siaga_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        await migrate(dsn)
        with tempfile.TemporaryDirectory(prefix="siaga-bench-") as tmp:
            workdir = Path(tmp)
            root = f"bench{secrets.token_hex(3)}/siaga/v1"
            password = secrets.token_urlsafe(12)
            async with open_pool(dsn, max_size=pool_size) as pool:
                async with pool.acquire() as conn:
                    creds = await register_bench_devices(conn, n_devices)
                from gateway.reference import load_reference

                await load_reference(pool)
                async with mosquitto_broker(pool, workdir, root, password) as broker:
                    settings = gateway_settings(dsn, "127.0.0.1", broker.port, password, root, client_prefix="bench-gw")
                    yield Env(settings, pool, broker, workdir, creds)
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def print_figures(title: str, rows: list[tuple[str, str, float | None]], *, figure_width: int, ratio_to: str) -> None:
    """A benchmark's table: measure, figure, and its ratio to the baseline ``ratio_to`` names."""
    print(f"\n{title}")
    print(f"{'measure':<48} {'figure':>{figure_width}} {'ratio to ' + ratio_to:>13}")
    for name, fig, ratio in rows:
        print(f"{name:<48} {fig:>{figure_width}} {'' if ratio is None else f'{ratio:.2f}':>13}")


async def start_raw(*args: str, preexec_fn: Callable[[], None] | None = None) -> asyncio.subprocess.Process:
    """``python -m bench.raw ARGS`` (a load generator or plain subscriber in a process of its
    own), returned once it prints "ready"; killed if it does not within 30 s."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.raw", *args, stdout=asyncio.subprocess.PIPE, preexec_fn=preexec_fn
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            while (await proc.stdout.readline()).strip() != b"ready":
                pass
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc


async def phase_raw(env: Env, seconds: float, publishers: int) -> float:
    """(a) the raw QoS 1 ceiling: broker only, a paho subscriber in its own process."""
    s = env.settings
    target = s.mqtt
    topic = f"{s.topic_root}/bench/raw"
    proc = await start_raw("sub", target.url(), topic, f"raw-sub-{secrets.token_hex(2)}")
    try:
        flooders = [Flooder(f"raw-pub-{i}", GATEWAY_USERNAME, target.password or "", target) for i in range(publishers)]
        latest = 0

        async def read_counts() -> None:
            nonlocal latest
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                latest = int(line)

        reader = asyncio.create_task(read_counts())
        async with running(*(f.conn for f in flooders)):
            t0 = time.monotonic()
            c0 = latest
            await asyncio.gather(*(f.flood(topic, telemetry_payload(), seconds) for f in flooders))
            sent = sum(f.sent for f in flooders)
            async with asyncio.timeout(30):
                while latest - c0 < sent:
                    await asyncio.sleep(0.05)
            rate = (latest - c0) / (time.monotonic() - t0)
        reader.cancel()
        return rate
    finally:
        proc.kill()
        await proc.wait()


async def count_rows(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names


async def phase_telemetry(env: Env, seconds: float, publishers: int) -> float:
    """(b) telemetry committed by the gateway, devices flooding QoS 1."""
    flooders = [Flooder(f"tel-{d}", d, sec, env.settings.mqtt) for d, sec in env.creds[:publishers]]
    root = env.settings.topic_root
    async with running(*(f.conn for f in flooders)):
        before = await count_rows(env.pool, "telemetry")
        t0 = time.monotonic()
        await asyncio.gather(
            *(
                f.flood(f"{root}/devices/{d}/telemetry", telemetry_payload(), seconds)
                for f, (d, _) in zip(flooders, env.creds, strict=False)
            )
        )
        sent = sum(f.sent for f in flooders)
        async with asyncio.timeout(60):
            while await count_rows(env.pool, "telemetry") - before < sent:
                await asyncio.sleep(0.05)
        return sent / (time.monotonic() - t0)


async def start_devices(env: Env, creds: list[tuple[str, str]]) -> tuple[list[SimDevice], list[Any]]:
    """Buttons without a state file: a benchmark's seq and outbox need not outlive it."""
    target = env.settings.mqtt
    config = sim_config(
        target.host, target.port, env.settings.topic_root, resend_base_s=30.0, resend_max_s=60.0, keepalive=60
    )
    devices = [SimDevice(d, s, config, ALUN_ALUN, state_dir=None) for d, s in creds]
    tasks = [asyncio.create_task(dev.run()) for dev in devices]
    async with asyncio.timeout(30):
        for dev in devices:
            await dev.conn.wait_connected()
    return devices, tasks


async def phase_alerts(env: Env, seconds: float, devices: list[SimDevice]) -> tuple[float, int]:
    """(c) alerts committed: every button presses as fast as receipts come back (4 in flight each)."""
    before = await count_rows(env.pool, "incident")
    t0 = time.monotonic()
    deadline = t0 + seconds
    pressed = 0
    while time.monotonic() < deadline:
        for dev in devices:
            if len(dev.outbox) < 4:
                dev.press()
                pressed += 1
        await asyncio.sleep(0.002)
    async with asyncio.timeout(60):
        while sum(len(d.outbox) for d in devices):
            await asyncio.sleep(0.02)
    committed = await count_rows(env.pool, "incident") - before
    return committed / (time.monotonic() - t0), committed - pressed


async def phase_latency(
    env: Env, seconds: float, devices: list[SimDevice], alert_rate: float, telemetry_rate: float, publishers: int
) -> dict[str, float]:
    """(d) press -> receipt while telemetry flows at ``telemetry_rate``."""
    for dev in devices:
        dev.receipt_latency.clear()
    tel_before = await count_rows(env.pool, "telemetry")
    flood = await start_flood(env, telemetry_rate, seconds + 2, publishers)
    try:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * alert_rate)
            while n < due:
                devices[n % len(devices)].press()
                n += 1
            await asyncio.sleep(0.002)
        async with asyncio.timeout(seconds + 30):
            for proc in flood:
                await proc.wait()
    finally:
        await stop_flood(flood)
    tel_rate = (await count_rows(env.pool, "telemetry") - tel_before) / (seconds + 2)
    async with asyncio.timeout(30):
        while sum(len(d.outbox) for d in devices):
            await asyncio.sleep(0.02)
    lat = sorted(x * 1000 for d in devices for x in d.receipt_latency)
    return {
        "alerts": len(lat),
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "max_ms": lat[-1],
        "telemetry_per_s": tel_rate,
    }


async def wait_routed(env: Env) -> None:
    """Until dispatch has routed every incident (a burst leaves a backlog that would load the
    next phase's machine)."""
    async with asyncio.timeout(600):
        while await env.pool.fetchval(
            "SELECT count(*) FROM incident i"
            " WHERE NOT EXISTS (SELECT 1 FROM incident_track t WHERE t.incident_id = i.id)"
        ):
            await asyncio.sleep(0.2)


def _flood_priority() -> None:
    """SIAGA_BENCH_FLOOD_NICE=N runs the flood's publishers at nice N: they stand in for devices
    out on the network, which in a deployment do not take the server's CPU."""
    os.nice(int(os.environ.get("SIAGA_BENCH_FLOOD_NICE", "0")))


async def start_flood(env: Env, rate: float, seconds: float, publishers: int) -> list[asyncio.subprocess.Process]:
    """Device telemetry at ``rate``/s from two child processes (one Python process tops out below
    5,000 QoS 1 publishes/s here); returns once both are flowing."""
    s = env.settings
    creds = env.creds[len(env.creds) - publishers :]
    groups = [creds[: publishers // 2], creds[publishers // 2 :]]
    procs = []
    for group in groups:
        procs.append(
            await start_raw(
                "flood",
                s.mqtt.url(),
                s.topic_root,
                str(rate * len(group) / len(creds)),
                str(seconds),
                *(f"{d}:{sec}" for d, sec in group),
                preexec_fn=_flood_priority,
            )
        )
    await asyncio.sleep(1.0)
    return procs


async def stop_flood(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def phase_console(
    env: Env, web_url: str, devices: list[SimDevice], telemetry_rate: float, publishers: int, samples: int = 100
) -> Any:
    """(e) press -> the incident is on a connected operator console (one press in flight)."""
    from bench.dispatch import press_to_console
    from core.auth import create_user

    username = f"bench-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    async with env.pool.acquire() as conn:
        await create_user(conn, username, password, "command_centre", None, "Bench")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_url}/api/v1/login", json={"username": username, "password": password}) as r:
            token = (await r.json())["token"]
    by_id = {d.device_id: d for d in devices}
    # earlier phases leave incidents to route; measure only once dispatch has caught up, so an old
    # incident's event is not taken for a new one
    await wait_routed(env)

    async def press(device_id: str) -> None:
        by_id[device_id].press()

    flood = await start_flood(env, telemetry_rate, 120.0, publishers) if telemetry_rate > 0 else []
    try:
        ids = [devices[i % len(devices)].device_id for i in range(samples)]
        return await press_to_console(web_url, token, press, ids)
    finally:
        await stop_flood(flood)


async def bench_gateway(seconds: float, layout: str = "one") -> dict[str, Any]:
    publishers = 8
    n_buttons = 100
    async with bench_env(n_buttons + publishers) as env:
        buttons = env.creds[:n_buttons]
        _say("(a) raw QoS 1 ceiling ...\n")
        raw = await phase_raw(env, seconds, publishers)
        _say(f"    {raw:,.0f} msg/s\n")
        # "one": `siaga run --role all`, as a regency's single machine runs it; "split": one process
        # per role, as docker-compose.yml deploys them
        # split: telemetry has its own process; in one process (`--role all`) the gateway has both
        role_environment = role_env(env.settings, SIAGA_GATEWAY_TELEMETRY="false")
        web_url = f"http://127.0.0.1:{role_environment['SIAGA_HTTP_PORT']}"
        layout_roles = ("all",) if layout == "one" else ROLES
        roles = [RoleProcess(role_environment, role, env.workdir / f"{role}.log") for role in layout_roles]
        for proc in roles:
            await proc.start()
        try:
            await asyncio.sleep(3.0)  # gateway connects and subscribes
            _say("(b) telemetry committed ...\n")
            tel = await phase_telemetry(env, seconds, publishers)
            _say(f"    {tel:,.0f} rows/s\n")
            devices, tasks = await start_devices(env, buttons)
            try:
                # (e) first, while the database holds no backlog of unacknowledged incidents whose
                # escalation timers would fire in the middle of the measurement
                _say("(e) press -> visible on a console (WebSocket), idle and with 5,000 telemetry/s ...\n")
                console_idle = await phase_console(env, web_url, devices, 0.0, publishers)
                console_loaded = await phase_console(env, web_url, devices, 5000.0, publishers)
                _say(f"    p99 {console_idle.p99_ms:.1f} ms idle, {console_loaded.p99_ms:.1f} ms loaded\n")
                _say("(c) alerts committed ...\n")
                alerts, doubled = await phase_alerts(env, seconds, devices)
                _say(f"    {alerts:,.0f} incidents/s\n")
                _say("    (waiting for dispatch to route the burst)\n")
                t_route = time.monotonic()
                await wait_routed(env)
                routed_after_s = time.monotonic() - t_route
                _say("(d) press -> receipt at 200 alerts/s with 5,000 telemetry/s ...\n")
                lat = await phase_latency(env, seconds, devices, 200.0, 5000.0, publishers)
                _say(f"    p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms\n")
                idle = await phase_latency(env, min(seconds, 5.0), devices, 200.0, 0.0001, publishers)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            async with env.pool.acquire() as conn:
                dup = await conn.fetchval("SELECT count(*) - count(DISTINCT alert_id) FROM incident")
                lost = await conn.fetchval(
                    "SELECT count(*) FROM alert a WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.alert_id = a.id)"
                )
        finally:
            for proc in roles:
                await proc.terminate()
    rows = [
        ("(a) raw QoS 1 ceiling, paho -> paho", f"{raw:,.0f} msg/s", 1.0),
        ("(b) telemetry committed to PostgreSQL", f"{tel:,.0f} rows/s", tel / raw),
        ("(c) alerts committed (incident rows)", f"{alerts:,.0f} incidents/s", alerts / raw),
        ("    ... all of them routed by dispatch", f"{routed_after_s:.1f} s later", None),
        ("(d) press -> receipt p50, 200/s + telemetry", f"{lat['p50_ms']:.1f} ms", None),
        ("(d) press -> receipt p99, 200/s + telemetry", f"{lat['p99_ms']:.1f} ms", None),
        ("    telemetry committed during (d)", f"{lat['telemetry_per_s']:,.0f} rows/s", None),
        ("    press -> receipt p99, 200/s, no telemetry", f"{idle['p99_ms']:.1f} ms", None),
        ("(e) press -> console p50 / p99, idle", f"{console_idle.p50_ms:.0f} / {console_idle.p99_ms:.0f} ms", None),
        (
            "(e) press -> console p50 / p99, 5,000 telemetry/s",
            f"{console_loaded.p50_ms:.0f} / {console_loaded.p99_ms:.0f} ms",
            None,
        ),
        ("    lost / duplicate incidents", f"{lost} / {dup}", None),
    ]
    print_figures(
        f"SIAGA gateway benchmark, layout {layout!r} (broker, database, load generators and SIAGA share"
        f" this machine's {os.cpu_count()} cores)",
        rows,
        figure_width=18,
        ratio_to="(a)",
    )
    return {
        "raw_per_s": raw,
        "telemetry_per_s": tel,
        "telemetry_ratio": tel / raw,
        "alerts_per_s": alerts,
        "latency_loaded": lat,
        "latency_idle": idle,
        "console_idle": console_idle.as_dict(),
        "console_loaded": console_loaded.as_dict(),
        "lost": lost,
        "duplicates": dup,
        "unreceipted_delta": doubled,
    }


def main(args: argparse.Namespace) -> None:
    for noisy in ("core.mqtt", "core.db", "gateway.reference"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count()}
    what = args.what
    if what in ("all", "gateway"):
        results["gateway"] = asyncio.run(bench_gateway(args.seconds, args.layout))
    if what in ("all", "geo"):
        from bench.geo import run as geo_run

        print()
        results["geo"] = geo_run(seconds=min(args.seconds, 3.0))
    if what in ("all", "ingress"):
        results["ingress"] = asyncio.run(_ingress(args.seconds))
    if what == "dashboard":
        results["dashboard"] = asyncio.run(_dashboard(getattr(args, "runs", None) or 20))
    if what == "retention":
        from bench.retention import bench_retention

        results["retention"] = asyncio.run(bench_retention(ADMIN_DSN, rows=args.devices or 1_000_000))
    path = Path(args.json or f"bench-results/bench-{int(time.time())}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, default=str, option=orjson.OPT_INDENT_2))
    print(f"\nresults written to {path}")


async def _ingress(seconds: float) -> Any:
    from bench.ingress import run as ingress_run
    from gateway.service import alert_pipeline

    async with bench_env(0) as env, alert_pipeline(env.settings, env.pool) as pipeline:
        rows = await ingress_run(env.settings, pipeline, seconds=min(seconds, 5.0))
    return [r.__dict__ if hasattr(r, "__dict__") else r for r in rows]


async def _dashboard(runs: int = 20) -> Any:
    """``siaga bench dashboard``: against SIAGA_DATABASE_URL seeded with ``siaga seed --synthetic``."""
    from bench.dashboard import run_all

    dsn = os.environ.get("SIAGA_DATABASE_URL")
    if not dsn:
        raise SystemExit("siaga bench dashboard runs against SIAGA_DATABASE_URL seeded with `siaga seed --synthetic`")
    async with open_pool(dsn, min_size=2, max_size=8) as pool:
        return await run_all(pool, dsn, runs=runs)
