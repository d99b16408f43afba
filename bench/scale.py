"""``siaga bench steady|burst|flood|share|scale``: SIAGA at the size of a regency, each scenario
beside a broker-only baseline measured in the same run, printed as a table and written as JSON.

SIAGA runs as separate role processes (gateway, telemetry, dispatch, web), as docker-compose.yml
deploys it, so the gateway's RSS can be read from /proc over time; the simulated buttons
(firmware_sim.fleet) run in this process.

  steady  N buttons heartbeating every 60 s plus 5 alerts/s for --seconds: press -> receipt and
          press -> console, lost/duplicate, the gateway's RSS series (the soak);
          raw: the same presses with a plain subscriber in place of SIAGA.
  burst   2,000 buttons press within 2 s (an earthquake): from the last press until the last
          commit, the last console event and the last receipt; raw: the same burst to a plain
          subscriber.
  flood   telemetry at the raw QoS 1 ceiling while alerts flow: alert p99 beside the p99 without
          the flood, committed telemetry beside the ceiling; raw: a plain client answering every
          alert with a receipt (and swallowing telemetry) in place of SIAGA, same flood.
  share   two gateways on $share (bench.share).
  scale   all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.gateway import Env, bench_env, phase_latency, phase_raw, phase_telemetry, start_raw
from firmware_sim.device import SimConfig, SimDevice
from firmware_sim.fleet import Fleet, cpu_seconds, raise_fd_limit, rss_kib
from siaga.procs import RoleProcess, role_env

log = logging.getLogger(__name__)

SCENARIOS = ("steady", "burst", "flood", "share", "scale")
# as docker-compose.yml deploys them: telemetry in a process of its own beside the gateway
SPLIT_ROLES = ("gateway", "telemetry", "dispatch", "web")


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000.0 for s in seconds]
    if not ms:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }


def rss_summary(series: list[tuple[float, int]]) -> dict[str, float]:
    """Start, end, max (MiB) and the least-squares slope in MiB per hour of (seconds, KiB) samples."""
    if not series:
        return {"samples": 0}
    ts = [t for t, _ in series]
    mib = [k / 1024 for _, k in series]
    slope = 0.0
    if len(series) > 2 and ts[-1] > ts[0]:
        mt, mm = statistics.fmean(ts), statistics.fmean(mib)
        var = sum((t - mt) ** 2 for t in ts)
        slope = sum((t - mt) * (m - mm) for t, m in zip(ts, mib, strict=True)) / var * 3600
    return {
        "samples": len(series),
        "start_mib": round(mib[0], 1),
        "end_mib": round(mib[-1], 1),
        "max_mib": round(max(mib), 1),
        "slope_mib_per_h": round(slope, 2),
        "span_s": round(ts[-1] - ts[0], 1),
    }


Row = tuple[str, str, str, float | None]


def ratio(a: float, b: float) -> float | None:
    """a / b, or None where it means nothing (b zero, or either not a number)."""
    if not b or a != a or b != b:
        return None
    return a / b


def print_table(title: str, rows: list[Row]) -> None:
    """Measure, SIAGA's figure, the raw baseline's, and SIAGA / raw."""
    print(f"\n{title}")
    print(f"{'measure':<52} {'SIAGA':>24} {'raw baseline':>16} {'ratio':>8}")
    for name, siaga, raw, r in rows:
        print(f"{name:<52} {siaga:>24} {raw:>16} {'' if r is None else f'{r:.2f}':>8}")


def loss_rows(outcome: tuple[str, str], raw: str, console: tuple[str, str]) -> list[Row]:
    """The rows that say whether anything went missing: alerts lost or doubled (beside what the raw
    run failed to deliver), then console events missing; each a (measure, figure) pair."""
    return [(*outcome, raw, None), (*console, "", None)]


# --- pieces ------------------------------------------------------------------------------------


def fleet_config(env: Env, *, heartbeat_s: float = 60.0) -> SimConfig:
    target = env.settings.mqtt
    return SimConfig(
        host=target.host,
        port=target.port,
        topic_root=env.settings.topic_root,
        heartbeat_s=heartbeat_s,
        resend_base_s=10.0,
        resend_max_s=30.0,
        gps_loss=0.05,
    )


@dataclass
class RawAlerts:
    """The broker-only baseline: a plain paho subscriber to all alert topics in its own process."""

    proc: asyncio.subprocess.Process
    arrived: dict[tuple[str, int], float] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, env: Env) -> AsyncIterator[RawAlerts]:
        proc = await start_raw(
            "alerts", env.settings.mqtt.url(), env.settings.topic_root, f"raw-alerts-{secrets.token_hex(2)}"
        )
        raw = cls(proc)
        try:
            raw.task = asyncio.create_task(raw._read(), name="raw-alerts-reader")
            yield raw
        finally:
            if raw.task is not None:
                raw.task.cancel()
            proc.kill()
            await proc.wait()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            parts = line.split()
            if len(parts) == 4 and parts[0] == b"a":
                self.arrived.setdefault((parts[1].decode(), int(parts[2])), float(parts[3]))


@dataclass
class ConsoleWatch:
    """A signed-in command-centre console on the WebSocket stream, noting when each incident of a
    device arrived ('incident.routed', as bench/dispatch.py press_to_console counts it). Like the
    console page, it reconnects with its cursor when the server closes the socket (a subscriber
    that falls 5,000 events behind is closed with 4008)."""

    seen: list[tuple[str, float]] = field(default_factory=list)
    cursor: str | None = None
    closes: list[int | None] = field(default_factory=list)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, env: Env, web_url: str) -> AsyncIterator[ConsoleWatch]:
        from core.auth import create_user

        username = f"bench-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        async with env.pool.acquire() as conn:
            await create_user(conn, username, password, "command_centre", None, "Bench")
        watch = cls()
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.post(
                            f"{web_url}/api/v1/login", json={"username": username, "password": password}
                        ) as r:
                            if r.status == 200:
                                token = (await r.json())["token"]
                                break
                    await asyncio.sleep(0.5)
            task = asyncio.create_task(watch._run(http, web_url, token), name="console-watch")
            try:
                async with asyncio.timeout(30):
                    await watch.caught_up.wait()
                yield watch
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self, http: aiohttp.ClientSession, web_url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            url = f"{web_url}/api/v1/stream" + (f"?cursor={self.cursor}" if self.cursor else "")
            try:
                async with http.ws_connect(url, headers=headers, heartbeat=20) as ws:
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._note(orjson.loads(msg.data))
                    self.closes.append(ws.close_code)
                    log.warning("console stream closed (%s); resuming from %s", ws.close_code, self.cursor)
            except aiohttp.ClientError as e:
                self.closes.append(None)
                log.warning("console stream failed: %r", e)
            await asyncio.sleep(0.2)

    def _note(self, data: dict[str, Any]) -> None:
        if data.get("cursor"):
            self.cursor = data["cursor"]
        if data.get("type") == "caught_up":
            self.caught_up.set()
        elif data.get("kind") == "incident.routed":
            self.seen.append(((data.get("data") or {}).get("device_id", ""), time.time()))


@dataclass
class RssSampler:
    """RSS of some processes from /proc/<pid>/status every ``every_s``."""

    pids: dict[str, int]
    every_s: float = 5.0
    series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def sample(self) -> None:
        t = time.monotonic() - self.t0
        for name, pid in self.pids.items():
            kib = rss_kib(pid)
            if kib:
                self.series.setdefault(name, []).append((t, kib))

    def summary(self, name: str, since_s: float = 0.0) -> dict[str, float]:
        return rss_summary([(t, k) for t, k in self.series.get(name, []) if t >= since_s])


@contextlib.asynccontextmanager
async def siaga_roles(env: Env) -> AsyncIterator[tuple[dict[str, RoleProcess], str]]:
    """The gateway, telemetry, dispatch and web roles as child processes; yields them and the web
    URL once the web answers."""
    environment = role_env(env.settings, SIAGA_GATEWAY_TELEMETRY="false")
    web_url = f"http://127.0.0.1:{environment['SIAGA_HTTP_PORT']}"
    roles = {r: RoleProcess(environment, r, env.workdir / f"{r}.log") for r in SPLIT_ROLES}
    for proc in roles.values():
        await proc.start()
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(60):
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{web_url}/healthz") as r:
                        if r.status == 200:
                            break
                for name, proc in roles.items():
                    if proc.proc is not None and proc.proc.returncode is not None:
                        raise RuntimeError(f"role {name} exited: {proc.log_tail()}")
                await asyncio.sleep(0.3)
        yield roles, web_url
    finally:
        for proc in roles.values():
            await proc.terminate()


async def warm_up(fleet: Fleet, timeout_s: float = 120.0) -> float:
    """One press through the whole path (proves the gateway is subscribed); its receipt time."""
    dev = fleet.devices[0]
    t0 = time.monotonic()
    seq = dev.press()
    async with asyncio.timeout(timeout_s):
        await dev.wait_receipt(seq)
    return time.monotonic() - t0


def discard_outboxes(devices: list[SimDevice]) -> int:
    """After a raw phase nobody receipts: forget those alerts so they do not reach SIAGA later."""
    n = 0
    for dev in devices:
        n += len(dev.outbox)
        dev.outbox.clear()
    return n


async def press_at_rate(
    devices: list[SimDevice], rate: float, seconds: float, pressed: list[tuple[str, int, float]], *, offset: int = 1
) -> None:
    """Press ``rate`` alerts/s (evenly spaced, each on the next device) for ``seconds``."""
    start = time.monotonic()
    n = 0
    total = int(rate * seconds)
    while n < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while n < due:
            dev = devices[(offset + n * 7919) % len(devices)]  # stride over the fleet
            if dev.conn.connected:
                pressed.append((dev.device_id, dev.press(), time.time()))
            n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))


async def poll_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> bool:
    """Whether ``condition`` came true within ``timeout_s`` (it is checked every ``every_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every_s)


async def wait_receipted(devices: list[SimDevice], timeout_s: float) -> bool:
    return await poll_until(lambda: not any(d.outbox for d in devices), timeout_s)


async def db_outcome(pool: asyncpg.Pool, pressed: list[tuple[str, int, float]]) -> dict[str, Any]:
    """Lost (no incident) and duplicate incidents of these presses, and the last commit time."""
    ids = [d for d, _, _ in pressed]
    seqs = [s for _, s, _ in pressed]
    row = await pool.fetchrow(
        """SELECT count(DISTINCT (a.device_id, a.seq)) FILTER (WHERE i.id IS NOT NULL) AS with_incident,
                  count(i.id) AS incidents,
                  extract(epoch FROM max(a.committed_at)) AS last_commit,
                  extract(epoch FROM min(a.committed_at)) AS first_commit
             FROM unnest($1::text[], $2::bigint[]) AS p(device_id, seq)
             JOIN alert a ON a.device_id = p.device_id AND a.seq = p.seq
             LEFT JOIN incident i ON i.alert_id = a.id""",
        ids,
        seqs,
    )
    assert row is not None
    return {
        "pressed": len(pressed),
        "lost": len(set(zip(ids, seqs, strict=True))) - int(row["with_incident"]),
        "duplicate": int(row["incidents"]) - int(row["with_incident"]),
        "last_commit": float(row["last_commit"]) if row["last_commit"] is not None else None,
        "first_commit": float(row["first_commit"]) if row["first_commit"] is not None else None,
    }


def console_latency(pressed: list[tuple[str, int, float]], seen: list[tuple[str, float]]) -> tuple[list[float], int]:
    """Press -> console per press (the first event of that device after the press); missing count."""
    by_device: dict[str, list[float]] = {}
    for device_id, t in seen:
        by_device.setdefault(device_id, []).append(t)
    out, missing = [], 0
    for device_id, _, t_press in pressed:
        times = [t for t in by_device.get(device_id, []) if t >= t_press]
        if times:
            out.append(min(times) - t_press)
            by_device[device_id].remove(min(times))
        else:
            missing += 1
    return out, missing


@contextlib.asynccontextmanager
async def running_fleet(env: Env, n: int, ramp: float) -> AsyncIterator[tuple[Fleet, dict[str, Any]]]:
    """``n`` buttons connected; yields the fleet and figures of the simulator itself."""
    creds = env.creds[:n]
    fleet = Fleet(creds, fleet_config(env), ramp_per_s=ramp, seed=7)
    cpu0, t0 = cpu_seconds(), time.monotonic()
    async with fleet.running(progress=None) as f:
        _say(f"    connecting {n:,} buttons at up to {ramp:,.0f}/s ...\n")
        await f.wait_all_connected(max(120.0, 4 * n / ramp))
        wall = time.monotonic() - t0
        sim = {
            "devices": n,
            "connect_s": round(wall, 1),
            "connects_per_s": round(n / wall, 1),
            "sim_cpu_s_during_connect": round(cpu_seconds() - cpu0, 1),
            "sim_rss_mib": round(rss_kib() / 1024, 1),
            "broker_rss_mib": round(rss_kib(env.broker.proc.pid) / 1024, 1) if env.broker.proc else None,
            "connect_failures": f.stats.connect_failures,
        }
        _say(f"    {n:,} connected in {wall:.1f} s ({n / wall:,.0f}/s), simulator RSS {sim['sim_rss_mib']} MiB\n")
        yield f, sim


# --- scenarios ---------------------------------------------------------------------------------


async def scenario_steady(devices: int, seconds: float, ramp: float, alert_rate: float = 5.0) -> dict[str, Any]:
    raise_fd_limit()
    async with bench_env(devices, pool_size=4) as env, running_fleet(env, devices, ramp) as (fleet, sim):
        raw_s = min(seconds, 30.0)
        _say(f"(raw) {alert_rate:g} alerts/s for {raw_s:.0f} s to a plain subscriber, {devices:,} heartbeating ...\n")
        raw_pressed: list[tuple[str, int, float]] = []
        async with RawAlerts.running(env) as raw:
            await press_at_rate(fleet.devices, alert_rate, raw_s, raw_pressed)
            await asyncio.sleep(2.0)
        discard_outboxes(fleet.devices)
        raw_lat = [raw.arrived[(d, s)] - t for d, s, t in raw_pressed if (d, s) in raw.arrived]
        raw_lost = len(raw_pressed) - len(raw_lat)

        _say("(siaga) starting gateway, telemetry, dispatch and web ...\n")
        async with siaga_roles(env) as (roles, web_url):
            warm = await warm_up(fleet)
            pids = {
                "gateway": roles["gateway"].pid,
                "telemetry": roles["telemetry"].pid,
                "broker": env.broker.proc.pid,  # type: ignore[union-attr]
            }
            pids = {k: v for k, v in pids.items() if v}
            pids["simulator"] = os.getpid()
            sampler = RssSampler(pids, every_s=max(1.0, min(10.0, seconds / 60)))
            for dev in fleet.devices:
                dev.receipt_latency.clear()
            tel0 = sum(d.counters.telemetry_sent for d in fleet.devices)
            tel_rows0 = await env.pool.fetchval("SELECT count(*) FROM telemetry")
            pressed: list[tuple[str, int, float]] = []
            cpu0, t0 = cpu_seconds(), time.monotonic()
            _say(f"(siaga) {alert_rate:g} alerts/s for {seconds:.0f} s, {devices:,} buttons heartbeating ...\n")
            async with ConsoleWatch.running(env, web_url) as console, asyncio.TaskGroup() as tg:
                sampler_task = tg.create_task(sampler.run(), name="rss-sampler")
                progress = tg.create_task(_steady_progress(fleet, sampler, pressed, t0), name="steady-progress")
                await press_at_rate(fleet.devices, alert_rate, seconds, pressed, offset=3)
                receipted = await wait_receipted(fleet.devices, 120.0)
                await asyncio.sleep(3.0)
                sampler_task.cancel()
                progress.cancel()
            sim_cpu = (cpu_seconds() - cpu0) / (time.monotonic() - t0)
            outcome = await db_outcome(env.pool, pressed)
            tel_sent = sum(d.counters.telemetry_sent for d in fleet.devices) - tel0
            tel_rows = await env.pool.fetchval("SELECT count(*) FROM telemetry") - tel_rows0
            lat = [x for d in fleet.devices for x in d.receipt_latency]
            console_lat, console_missing = console_latency(pressed, console.seen)
            connected_end = fleet.connected_count()
    receipt = latency_summary(lat)
    raw_summary = latency_summary(raw_lat)
    cons = latency_summary(console_lat)
    gw = sampler.summary("gateway")
    # the first half holds the warm-up (caches, pools, the broker's buffers): growth that would
    # not stop shows in the second half's slope
    half = sampler.series.get("gateway", [(0.0, 0)])[-1][0] / 2
    gw_late, tel = sampler.summary("gateway", since_s=half), sampler.summary("telemetry")
    result = {
        "devices": devices,
        "seconds": seconds,
        "alert_rate": alert_rate,
        "simulator": {**sim, "cpu_share_steady": round(sim_cpu, 3)},
        "warm_up_receipt_s": round(warm, 2),
        "receipt": receipt,
        "console": {**cons, "missing": console_missing, "stream_closes": console.closes},
        "raw": {**raw_summary, "lost": raw_lost, "pressed": len(raw_pressed)},
        "outcome": outcome,
        "all_receipted": receipted,
        "connected_at_end": connected_end,
        "telemetry": {"sent_qos0": tel_sent, "committed": tel_rows},
        "rss": {name: sampler.summary(name) for name in sampler.series},
        "rss_second_half": {name: sampler.summary(name, since_s=half) for name in sampler.series},
        "rss_series_gateway": sampler.series.get("gateway", []),
    }
    print_table(
        f"steady: {devices:,} buttons (heartbeat 60 s) + {alert_rate:g} alerts/s for {seconds:.0f} s,"
        f" {os.cpu_count()} cores shared by broker, PostgreSQL, SIAGA and the simulator",
        [
            (
                "press -> receipt p50 (raw: press -> subscriber)",
                f"{receipt['p50_ms']:.1f} ms",
                f"{raw_summary['p50_ms']:.1f} ms",
                ratio(receipt["p50_ms"], raw_summary["p50_ms"]),
            ),
            (
                "press -> receipt p99 (raw: press -> subscriber)",
                f"{receipt['p99_ms']:.1f} ms",
                f"{raw_summary['p99_ms']:.1f} ms",
                ratio(receipt["p99_ms"], raw_summary["p99_ms"]),
            ),
            (
                "press -> console p50 / p99",
                f"{cons['p50_ms']:.0f} / {cons['p99_ms']:.0f} ms",
                f"{raw_summary['p99_ms']:.1f} ms",
                ratio(cons["p99_ms"], raw_summary["p99_ms"]),
            ),
            *loss_rows(
                (
                    "alerts pressed / lost / duplicate",
                    f"{outcome['pressed']} / {outcome['lost']} / {outcome['duplicate']}",
                ),
                f"{len(raw_pressed)} / {raw_lost} / -",
                ("console events missing / stream reconnects", f"{console_missing} / {len(console.closes)}"),
            ),
            ("buttons connected at the end", f"{connected_end:,}", "", None),
            ("telemetry committed / sent (QoS 0)", f"{tel_rows:,} / {tel_sent:,}", "", None),
            (
                "gateway RSS start / end / max",
                f"{gw.get('start_mib')} / {gw.get('end_mib')} / {gw.get('max_mib')} MiB",
                "",
                None,
            ),
            (f"gateway RSS slope over {gw.get('span_s', 0):.0f} s", f"{gw.get('slope_mib_per_h')} MiB/h", "", None),
            (
                f"gateway RSS slope over the last {gw_late.get('span_s', 0):.0f} s",
                f"{gw_late.get('slope_mib_per_h')} MiB/h",
                "",
                None,
            ),
            (
                "telemetry role RSS start / end / slope",
                f"{tel.get('start_mib')} / {tel.get('end_mib')} MiB / {tel.get('slope_mib_per_h')} MiB/h",
                "",
                None,
            ),
            ("simulator: connect rate", f"{sim['connects_per_s']:,.0f} /s", "", None),
            ("simulator: RSS / CPU share while steady", f"{sim['sim_rss_mib']} MiB / {sim_cpu:.0%}", "", None),
        ],
    )
    return result


async def _steady_progress(fleet: Fleet, sampler: RssSampler, pressed: list[Any], t0: float) -> None:
    while True:
        await asyncio.sleep(10.0)
        gw = sampler.series.get("gateway") or [(0.0, 0)]
        receipts = sum(d.counters.receipts for d in fleet.devices)
        _say(
            f"\r    {time.monotonic() - t0:6.0f} s | terhubung {fleet.connected_count():,} | alarm {len(pressed):,}"
            f" | tanda terima {receipts:,} | RSS gateway {gw[-1][1] / 1024:.1f} MiB   "
        )


async def scenario_burst(devices: int, ramp: float, presses: int = 2000, within_s: float = 2.0) -> dict[str, Any]:
    raise_fd_limit()
    presses = min(presses, devices)
    async with bench_env(devices, pool_size=4) as env, running_fleet(env, devices, ramp) as (fleet, sim):
        burst_devices = fleet.devices[1 : presses + 1] if devices > presses else fleet.devices[:presses]
        _say(f"(raw) {presses:,} presses within {within_s:g} s to a plain subscriber ...\n")
        async with RawAlerts.running(env) as raw:
            raw_pressed = await _burst(burst_devices, within_s)
            await poll_until(lambda: all((d, s) in raw.arrived for d, s, _ in raw_pressed), 60.0)
        discard_outboxes(fleet.devices)
        raw_last_press = max(t for _, _, t in raw_pressed)
        raw_got = [raw.arrived[(d, s)] for d, s, _ in raw_pressed if (d, s) in raw.arrived]
        raw_last = max(raw_got) - raw_last_press if raw_got else float("nan")

        _say("(siaga) starting gateway, telemetry, dispatch and web ...\n")
        async with siaga_roles(env) as (roles, web_url):
            await warm_up(fleet)
            rss_before = rss_kib(roles["gateway"].pid or 0)
            async with ConsoleWatch.running(env, web_url) as console, profiled(roles, "burst"):
                _say(f"(siaga) {presses:,} presses within {within_s:g} s ...\n")
                pressed = await _burst(burst_devices, within_s)
                last_press = max(t for _, _, t in pressed)
                first_press = min(t for _, _, t in pressed)
                wanted = {d for d, _, _ in pressed}
                receipted = await wait_receipted(burst_devices, 120.0)
                await poll_until(
                    lambda: len(wanted & {d for d, t in console.seen if t >= first_press}) >= len(wanted), 60.0, 0.1
                )
                await asyncio.sleep(1.0)
            rss_after = rss_kib(roles["gateway"].pid or 0)
            outcome = await db_outcome(env.pool, pressed)
            on_console = [t for d, t in console.seen if d in wanted and t >= first_press]
            console_lat, console_missing = console_latency(pressed, console.seen)
            last_receipt = max(d.last_receipt_at for d in burst_devices)
    last_commit = (outcome["last_commit"] or float("nan")) - last_press
    commit_span = (outcome["last_commit"] or float("nan")) - (outcome["first_commit"] or float("nan"))
    last_console = (max(on_console) if on_console else float("nan")) - last_press
    last_receipt_s = last_receipt - last_press
    result = {
        "devices": devices,
        "presses": presses,
        "within_s": within_s,
        "press_span_s": round(last_press - first_press, 3),
        "last_commit_s": round(last_commit, 3),
        "last_console_s": round(last_console, 3),
        "last_receipt_s": round(last_receipt_s, 3),
        "commits_per_s": round(presses / commit_span, 1) if commit_span > 0 else None,
        "raw_last_arrival_s": round(raw_last, 3),
        "raw_received": len(raw_got),
        "console": {**latency_summary(console_lat), "missing": console_missing, "stream_closes": console.closes},
        "outcome": outcome,
        "all_receipted": receipted,
        "gateway_rss_mib": {"before": round(rss_before / 1024, 1), "after": round(rss_after / 1024, 1)},
        "simulator": sim,
    }
    print_table(
        f"burst: {presses:,} of {devices:,} buttons press within {within_s:g} s (presses spanned"
        f" {last_press - first_press:.2f} s); times from the last press",
        [
            (
                "last alert committed (raw: last alert at subscriber)",
                f"{last_commit:.3f} s",
                f"{raw_last:.3f} s",
                ratio(last_commit, raw_last),
            ),
            (
                "last incident on the console",
                f"{last_console:.3f} s",
                f"{raw_last:.3f} s",
                ratio(last_console, raw_last),
            ),
            (
                "last receipt at a button",
                f"{last_receipt_s:.3f} s",
                f"{raw_last:.3f} s",
                ratio(last_receipt_s, raw_last),
            ),
            *loss_rows(
                ("lost / duplicate (raw: not delivered)", f"{outcome['lost']} / {outcome['duplicate']}"),
                f"{presses - len(raw_got)} / -",
                ("console events missing", f"{console_missing}"),
            ),
            ("alerts committed per second (first to last commit)", f"{presses / commit_span:,.0f} /s", "", None),
            ("gateway RSS before / after", f"{rss_before / 1024:.1f} / {rss_after / 1024:.1f} MiB", "", None),
        ],
    )
    return result


@contextlib.asynccontextmanager
async def profiled(roles: dict[str, RoleProcess], name: str) -> AsyncIterator[None]:
    """With SIAGA_BENCH_PYSPY=DIR, py-spy samples the gateway and dispatch during the block
    (collapsed stacks, DIR/<name>-<role>.txt)."""
    out = os.environ.get("SIAGA_BENCH_PYSPY")
    procs = []
    if out:
        os.makedirs(out, exist_ok=True)
        spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        for role in ("gateway", "dispatch"):
            pid = roles[role].pid
            if pid:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        spy,
                        "record",
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--pid",
                        str(pid),
                        "-o",
                        str(Path(out) / f"{name}-{role}.txt"),
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
        await asyncio.sleep(1.0)
    try:
        yield
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(2)  # SIGINT: py-spy writes what it has
            async with asyncio.timeout(20):
                await proc.wait()


async def _burst(devices: list[SimDevice], within_s: float) -> list[tuple[str, int, float]]:
    """Every device presses once, evenly spread over ``within_s``."""
    pressed: list[tuple[str, int, float]] = []
    start = time.monotonic()
    for i, dev in enumerate(devices):
        pause = start + i * within_s / len(devices) - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        pressed.append((dev.device_id, dev.press(), time.time()))
    return pressed


async def telemetry_settled(env: Env, timeout_s: float = 300.0) -> None:
    """Until the telemetry row count stops growing (a flood beyond the gateway's rate leaves a
    backlog in the broker, which would otherwise count towards the next phase)."""
    last = -1
    async with asyncio.timeout(timeout_s):
        while (now := await env.pool.fetchval("SELECT count(*) FROM telemetry")) != last:
            last = now
            await asyncio.sleep(1.0)


async def scenario_flood(seconds: float, ramp: float, alert_rate: float = 20.0) -> dict[str, Any]:
    """Telemetry at the raw ceiling while alerts flow (reuses bench.gateway's phases), first with a
    plain echo client in SIAGA's place, then with SIAGA."""
    raise_fd_limit()
    publishers, buttons = 8, 200
    async with bench_env(buttons + publishers, pool_size=4) as env:
        _say("(raw) QoS 1 ceiling, paho -> paho ...\n")
        raw = await phase_raw(env, seconds, publishers)
        _say(f"    {raw:,.0f} msg/s\n")
        async with running_fleet(env, buttons, ramp) as (fleet, _sim):
            s = env.settings
            echo = await start_raw("echo", s.mqtt.url(), s.topic_root, f"raw-echo-{secrets.token_hex(2)}")
            try:
                await phase_latency(env, 5.0, fleet.devices, alert_rate, 0.0001, publishers)  # unmeasured
                _say(f"(raw) {alert_rate:g} alerts/s answered by a plain client, without and with the flood ...\n")
                raw_idle = await phase_latency(env, seconds, fleet.devices, alert_rate, 0.0001, publishers)
                raw_loaded = await phase_latency(env, seconds, fleet.devices, alert_rate, raw, publishers)
                _say(f"    p99 {raw_idle['p99_ms']:.1f} ms without, {raw_loaded['p99_ms']:.1f} ms with the flood\n")
            finally:
                echo.kill()
                await echo.wait()
            discard_outboxes(fleet.devices)
            async with siaga_roles(env) as (roles, _web):
                await warm_up(fleet)
                # unmeasured: the roles' first seconds (pools filling, first passes) are not what
                # the idle figure is about, and an outlier there would flatter the ratio
                await phase_latency(env, 5.0, fleet.devices, alert_rate, 0.0001, publishers)
                _say(f"(siaga) {alert_rate:g} alerts/s without the flood ...\n")
                idle = await phase_latency(env, seconds, fleet.devices, alert_rate, 0.0001, publishers)
                _say(f"    p99 {idle['p99_ms']:.1f} ms\n")
                _say(f"(siaga) telemetry flood at the raw ceiling ({raw:,.0f}/s) with {alert_rate:g} alerts/s ...\n")
                async with profiled(roles, "flood"):
                    loaded = await phase_latency(env, seconds, fleet.devices, alert_rate, raw, publishers)
                _say(f"    p99 {loaded['p99_ms']:.1f} ms, telemetry {loaded['telemetry_per_s']:,.0f} rows/s\n")
                _say("    (waiting for the broker's backlog of flood telemetry to be committed)\n")
                await telemetry_settled(env)
                _say("(siaga) telemetry committed, flooding alone ...\n")
                tel = await phase_telemetry(env, seconds, publishers)
                gw_rss = rss_kib(roles["gateway"].pid or 0)
    moved, raw_moved = loaded["p99_ms"] / idle["p99_ms"], raw_loaded["p99_ms"] / raw_idle["p99_ms"]
    result = {
        "raw_per_s": raw,
        "telemetry_alone_per_s": tel,
        "telemetry_ratio": tel / raw,
        "telemetry_during_alerts_ratio": loaded["telemetry_per_s"] / raw,
        "alerts_idle": idle,
        "alerts_flood": loaded,
        "p99_ratio": moved,
        "raw_alerts_idle": raw_idle,
        "raw_alerts_flood": raw_loaded,
        "raw_p99_ratio": raw_moved,
        "gateway_rss_mib": round(gw_rss / 1024, 1),
    }

    def ms(figure: float) -> str:
        return f"{figure:.1f} ms"

    print_table(
        f"flood: telemetry at the raw QoS 1 ceiling ({raw:,.0f}/s) with {alert_rate:g} alerts/s,"
        f" {seconds:.0f} s phases; raw: a plain client answers the alerts",
        [
            (
                "telemetry committed, flood alone (raw: ceiling)",
                f"{tel:,.0f} rows/s",
                f"{raw:,.0f} msg/s",
                ratio(tel, raw),
            ),
            (
                "telemetry committed during alerts (raw: ceiling)",
                f"{loaded['telemetry_per_s']:,.0f} rows/s",
                f"{raw:,.0f} msg/s",
                ratio(loaded["telemetry_per_s"], raw),
            ),
            ("alert press -> receipt p50, no flood", ms(idle["p50_ms"]), ms(raw_idle["p50_ms"]), None),
            ("alert press -> receipt p50, flood", ms(loaded["p50_ms"]), ms(raw_loaded["p50_ms"]), None),
            ("alert press -> receipt p99, no flood", ms(idle["p99_ms"]), ms(raw_idle["p99_ms"]), None),
            ("alert press -> receipt p99, flood", ms(loaded["p99_ms"]), ms(raw_loaded["p99_ms"]), None),
            ("    p99 moved by the flood (flood / no flood)", f"{moved:.2f}x", f"{raw_moved:.2f}x", None),
            (
                "    p99 the flood added (flood - no flood)",
                ms(loaded["p99_ms"] - idle["p99_ms"]),
                ms(raw_loaded["p99_ms"] - raw_idle["p99_ms"]),
                ratio(loaded["p99_ms"] - idle["p99_ms"], raw_loaded["p99_ms"] - raw_idle["p99_ms"]),
            ),
            ("alerts measured per phase", f"{loaded['alerts']:,}", f"{raw_loaded['alerts']:,}", None),
        ],
    )
    return result


async def scenario_share_lazy(seconds: float) -> dict[str, Any]:
    try:
        from bench import share as bench_share  # imported only when asked for
    except ImportError:
        bench_share = None  # type: ignore[assignment]
    scenario = getattr(bench_share, "scenario_share", None)
    if scenario is None:
        _say("share: bench.share.scenario_share is not there yet; skipped\n")
        return {"skipped": "bench.share.scenario_share missing"}
    result: dict[str, Any] = await scenario(seconds)
    return result


def main(what: str, devices: int | None, seconds: float, ramp: float, json_path: str | None) -> dict[str, Any]:
    for noisy in ("core.mqtt", "core.db", "gateway.reference"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "scenario": what,
    }
    runs: list[tuple[str, Callable[[], Any]]] = []
    if what in ("steady", "scale"):
        runs.append(("steady", lambda: scenario_steady(devices or 10_000, seconds, ramp)))
    if what in ("burst", "scale"):
        runs.append(("burst", lambda: scenario_burst(devices or 2_000, ramp)))
    if what in ("flood", "scale"):
        # 30 to 60 s phases: at 20 alerts/s at least 600 alerts each, so p99 is not one outlier
        runs.append(("flood", lambda: scenario_flood(min(max(seconds, 30.0), 60.0), ramp)))
    if what in ("share", "scale"):
        runs.append(("share", lambda: scenario_share_lazy(min(seconds, 60.0))))
    path = Path(json_path or f"var/bench/{what}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    for name, run in runs:
        _say(f"\n== {name} ==\n")
        results[name] = asyncio.run(run())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(results, default=str, option=orjson.OPT_INDENT_2))
    print(f"\nresults written to {path}")
    return results
