"""``siaga bench share``: gateways side by side on an MQTT shared subscription (``$share/siaga/...``).

Measured in one run, on one broker, database and machine:
  raw    broker only: QoS 1 alert-sized messages to a share group of two plain paho subscribers
         (each its own process, acking on receipt);
  1 gw   alerts committed (incident rows) by one gateway process in the share group;
  2 gw   the same with a second gateway process in the group (ratios 2gw/1gw and each to raw);
  kill   both running, one SIGKILLed halfway through a burst and restarted a few seconds later (as
         a supervisor would): alerts sent, committed, lost, doubled, and how long until the alerts
         that were in flight at the kill held their receipts.

Run ``python -m bench.share [SECONDS [BUTTONS]]``; ``scenario_share`` returns the figures as a dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from bench.gateway import Env, bench_env, count_rows, phase_alerts, print_figures, start_devices, start_raw
from bench.raw import Flooder, running
from core.settings import Settings
from firmware_sim.device import SimConfig, SimDevice
from gateway.devices import GATEWAY_USERNAME
from gateway.mqtt_gateway import gateway_client_id
from siaga.procs import RoleProcess, role_env

SHARE_GROUP = "siaga"
RESTART_AFTER_S = 5.0  # a supervisor (docker's restart policy, systemd) brings a killed gateway back


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def alert_payload(seq: int = 1) -> bytes:
    return orjson.dumps(
        {
            "seq": seq,
            "ts": int(time.time()),
            "type": "panic",
            "loc": {"lat": -7.3605, "lon": 109.903, "acc": 8.0, "fix_ts": int(time.time())},
            "batt": 87,
        }
    )


# --- gateway members ------------------------------------------------------------------------------
def member_settings(settings: Settings, name: str, group: str = SHARE_GROUP) -> Settings:
    return settings.model_copy(update={"mqtt_share_group": group, "gateway_id": name})


def _subscribed(proc: RoleProcess, client_id: str) -> int:
    """How many times both of the member's sessions have subscribed, by its log."""
    text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
    return min(
        text.count(f"session {client_id}-alerts subscribed"), text.count(f"session {client_id}-telemetry subscribed")
    )


def listen_ports(n: int) -> list[int]:
    """``n`` distinct free ports below the kernel's ephemeral range, for a child's listeners.

    A port from ``bind(0)`` is an ephemeral one: by the time a restarted child binds it, one of
    the many client sockets of a run (buttons, database connections) may hold it.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    held: list[socket.socket] = []
    try:
        while len(held) < n:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", random.randrange(10_000, max(10_001, low))))
            except OSError:
                s.close()
                continue
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


async def start_member(proc: RoleProcess, client_id: str, within_s: float = 30.0) -> None:
    """Start a gateway process and return once both its sessions are subscribed (again)."""
    before = _subscribed(proc, client_id)
    ports = listen_ports(3)
    proc.env.update(SIAGA_OSMAND_PORT=str(ports[0]), SIAGA_GT06_PORT=str(ports[1]), SIAGA_HTTP_PORT=str(ports[2]))
    await proc.start()
    async with asyncio.timeout(within_s):
        while _subscribed(proc, client_id) <= before:
            if proc.proc is not None and proc.proc.returncode is not None:
                raise RuntimeError(f"gateway {client_id} exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            await asyncio.sleep(0.05)


@dataclasses.dataclass
class Member:
    """One gateway process of the share group."""

    name: str
    client_id: str
    proc: RoleProcess

    @classmethod
    def of(cls, env: Env, name: str) -> Member:
        settings = member_settings(env.settings, name)
        extra = {"SIAGA_MQTT_SHARE_GROUP": SHARE_GROUP, "SIAGA_GATEWAY_ID": name}
        proc = RoleProcess(role_env(settings, **extra), "gateway", env.workdir / f"gateway-{name}.log")
        return cls(name, gateway_client_id(settings), proc)

    async def start(self) -> None:
        await start_member(self.proc, self.client_id)


@contextlib.asynccontextmanager
async def members(*items: Member) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for m in items:
            await m.proc.terminate()


# --- where the cores went -----------------------------------------------------------------------
def proc_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used, from /proc; 0 when it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every process, ours or not), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class CoresUsed:
    """Cores each part of the run used during one phase (1.0 = one core busy throughout)."""

    env: Env
    members: tuple[Member, ...]
    _t0: float = 0.0
    _before: dict[str, float] = dataclasses.field(default_factory=dict)
    result: dict[str, float] = dataclasses.field(default_factory=dict)

    async def _snapshot(self) -> dict[str, float]:
        backends = await self.env.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        snap = {
            "load generator": proc_cpu_s(os.getpid()),
            "mosquitto": proc_cpu_s(self.env.broker.proc.pid if self.env.broker.proc else None),
            "postgres": sum(proc_cpu_s(r["pid"]) for r in backends),
            "machine": machine_busy_s(),
        }
        for m in self.members:
            snap[f"gateway {m.name}"] = proc_cpu_s(m.proc.pid)
        return snap

    async def __aenter__(self) -> CoresUsed:
        self._before = await self._snapshot()
        self._t0 = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._t0
        after = await self._snapshot()
        self.result = {k: round(max(0.0, after[k] - self._before.get(k, 0.0)) / wall, 2) for k in after}
        _say("    cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in self.result.items()) + "\n")


# --- raw baseline -----------------------------------------------------------------------------------
async def phase_raw_share(env: Env, seconds: float, publishers: int, subscribers: int = 2) -> float:
    """Broker only: alert-sized QoS 1 messages into a share group of plain paho subscribers."""
    target = env.settings.mqtt
    topic = f"{env.settings.topic_root}/bench/share"
    shared = f"$share/raw{secrets.token_hex(2)}/{topic}"
    procs: list[asyncio.subprocess.Process] = []
    counts = [0] * subscribers

    async def read_counts(i: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            counts[i] = int(line)

    try:
        for i in range(subscribers):
            procs.append(await start_raw("sub", target.url(), shared, f"raw-share-{i}-{secrets.token_hex(2)}"))
        async with asyncio.TaskGroup() as tg:
            readers = [tg.create_task(read_counts(i, p)) for i, p in enumerate(procs)]
            flooders = [
                Flooder(f"raw-share-pub-{i}", GATEWAY_USERNAME, target.password or "", target)
                for i in range(publishers)
            ]
            async with running(*(f.conn for f in flooders)):
                c0 = sum(counts)
                t0 = time.monotonic()
                await asyncio.gather(*(f.flood(topic, alert_payload(), seconds) for f in flooders))
                sent = sum(f.sent for f in flooders)
                async with asyncio.timeout(30):
                    while sum(counts) - c0 < sent:  # noqa: ASYNC110 - counts read from the children
                        await asyncio.sleep(0.05)
                rate = (sum(counts) - c0) / (time.monotonic() - t0)
            split = ", ".join(str(c) for c in counts)
            _say(f"    subscribers got {split}\n")
            for r in readers:
                r.cancel()
        return rate
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


# --- kill run ----------------------------------------------------------------------------------------
def _firmware_resends(devices: list[SimDevice]) -> None:
    """The kill run re-sends with the firmware's own timing (the throughput runs use long
    timeouts so that no re-send is counted as throughput)."""
    defaults = {f.name: f.default for f in dataclasses.fields(SimConfig)}
    for dev in devices:
        dev.config = dataclasses.replace(
            dev.config, resend_base_s=defaults["resend_base_s"], resend_max_s=defaults["resend_max_s"]
        )


async def phase_kill(env: Env, seconds: float, devices: list[SimDevice], victim: Member) -> dict[str, Any]:
    """Press as fast as receipts allow for ``seconds``; SIGKILL ``victim`` halfway, restart it
    RESTART_AFTER_S later; wait until every device holds every receipt."""
    _firmware_resends(devices)
    first_seq = {d.device_id: d.seq + 1 for d in devices}
    t0 = time.monotonic()
    kill_at = t0 + seconds / 2
    deadline = t0 + seconds
    pressed = 0
    killed = False
    at_kill: set[tuple[str, int]] = set()
    in_flight_receipted_s: float | None = None
    restart: asyncio.Task[None] | None = None

    async def restart_later() -> None:
        await asyncio.sleep(RESTART_AFTER_S)
        await victim.start()

    def outstanding() -> set[tuple[str, int]]:
        return {(d.device_id, seq) for d in devices for seq in d.outbox}

    killed_t = t0

    async def kill() -> None:
        nonlocal at_kill, killed, killed_t, restart
        at_kill = outstanding()
        await victim.proc.kill()
        killed_t = time.monotonic()
        killed = True
        restart = asyncio.create_task(restart_later(), name="restart-victim")

    try:
        while time.monotonic() < deadline:
            if not killed and time.monotonic() >= kill_at:
                await kill()
            for dev in devices:
                if len(dev.outbox) < 4:
                    dev.press()
                    pressed += 1
            if killed and in_flight_receipted_s is None and not (at_kill & outstanding()):
                in_flight_receipted_s = time.monotonic() - killed_t
            await asyncio.sleep(0.002)
        if not killed:
            await kill()
        async with asyncio.timeout(180):
            while True:
                left = outstanding()
                if in_flight_receipted_s is None and not (at_kill & left):
                    in_flight_receipted_s = time.monotonic() - killed_t
                if not left:
                    break
                await asyncio.sleep(0.02)
        all_receipted_s = time.monotonic() - killed_t
        if restart is not None:
            await restart
    finally:
        if restart is not None and not restart.done():
            restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restart
    async with env.pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(DISTINCT (a.device_id, a.seq)) AS alerts, count(i.id) AS incidents,
                      count(i.id) - count(DISTINCT i.alert_id) AS doubled
                 FROM unnest($1::text[], $2::bigint[]) AS f(device_id, first_seq)
                 JOIN alert a ON a.device_id = f.device_id AND a.seq >= f.first_seq
                 LEFT JOIN incident i ON i.alert_id = a.id""",
            list(first_seq),
            list(first_seq.values()),
        )
    receipts = sum(1 for d in devices for seq in d.receipts if seq >= first_seq[d.device_id])
    absorbed = sum(
        max(0, states.count("received") - 1)
        for d in devices
        for seq, states in d.states.items()
        if seq >= first_seq[d.device_id]
    )
    return {
        "sent": pressed,
        "alerts": row["alerts"],
        "incidents": row["incidents"],
        "lost": pressed - row["alerts"],
        "duplicates": row["doubled"] + (row["incidents"] - row["alerts"]),
        "receipted": receipts,
        "resends": sum(d.counters.resends for d in devices),
        "redeliveries_absorbed": absorbed,
        "in_flight_at_kill": len(at_kill),
        "restart_after_s": RESTART_AFTER_S,
        "in_flight_receipted_s": in_flight_receipted_s,
        "all_receipted_s": all_receipted_s,
    }


# --- the scenario ------------------------------------------------------------------------------------
async def scenario_share(seconds: float, buttons: int = 100) -> dict[str, Any]:
    """Raw share-group ceiling, one gateway, two gateways, and a SIGKILL of one of two.

    The buttons press as fast as receipts come back, at most 4 alerts in flight each: a closed
    loop, so throughput is ``4 * buttons`` divided by the press -> receipt round trip.
    """
    publishers = 8
    n_buttons = buttons
    async with bench_env(n_buttons) as env:
        _say("(raw) broker only, QoS 1 to a $share group of 2 paho subscribers ...\n")
        raw = await phase_raw_share(env, seconds, publishers)
        _say(f"    {raw:,.0f} msg/s\n")
        a, b = Member.of(env, "a"), Member.of(env, "b")
        async with members(a, b):
            await a.start()
            devices, tasks = await start_devices(env, env.creds[:n_buttons])
            try:
                _say("(1 gw) alerts committed by one gateway in the group ...\n")
                async with CoresUsed(env, (a,)) as cores_one:
                    one, _ = await phase_alerts(env, seconds, devices)
                _say(f"    {one:,.0f} incidents/s\n")
                await b.start()
                _say("(2 gw) alerts committed by two gateways in the group ...\n")
                async with CoresUsed(env, (a, b)) as cores_two:
                    two, _ = await phase_alerts(env, seconds, devices)
                _say(f"    {two:,.0f} incidents/s\n")
                _say(f"(kill) SIGKILL gateway b halfway, restart it {RESTART_AFTER_S:.0f} s later ...\n")
                kill = await phase_kill(env, seconds, devices, b)
                _say(f"    lost {kill['lost']}, doubled {kill['duplicates']}\n")
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        total_incidents = await count_rows(env.pool, "incident")
        total_alerts = await count_rows(env.pool, "alert")
    rows = [
        ("(raw) QoS 1 into a $share group of 2, paho", f"{raw:,.0f} msg/s", 1.0),
        ("(1 gw) alerts committed, one gateway", f"{one:,.0f} incidents/s", one / raw),
        ("(2 gw) alerts committed, two gateways", f"{two:,.0f} incidents/s", two / raw),
        ("    two gateways / one gateway", f"{two / one:.2f}", None),
        ("    cores used, 1 gw: gateway / load gen / pg", _cores(cores_one.result, "gateway a"), None),
        ("    cores used, 2 gw: gateways / load gen / pg", _cores(cores_two.result, "gateway a", "gateway b"), None),
        (
            "    whole machine busy, 1 gw / 2 gw (cores)",
            f"{cores_one.result['machine']:.2f} / {cores_two.result['machine']:.2f}",
            None,
        ),
        ("(kill) alerts sent / committed", f"{kill['sent']} / {kill['alerts']}", None),
        ("(kill) lost / doubled incidents", f"{kill['lost']} / {kill['duplicates']}", None),
        ("(kill) redeliveries absorbed by (device, seq)", f"{kill['redeliveries_absorbed']}", None),
        ("(kill) in flight at the kill", f"{kill['in_flight_at_kill']}", None),
        ("    ... all receipted after", _seconds(kill["in_flight_receipted_s"]), None),
        ("(kill) every alert receipted after", _seconds(kill["all_receipted_s"]), None),
    ]
    print_figures(
        f"SIAGA share-group benchmark, {n_buttons} buttons, {seconds:.0f} s per phase (broker, database, load"
        f" generator and gateways share this machine's {os.cpu_count()} cores)",
        rows,
        figure_width=24,
        ratio_to="raw",
    )
    return {
        "cpus": os.cpu_count(),
        "buttons": n_buttons,
        "seconds": seconds,
        "raw_share2_per_s": raw,
        "one_gateway_per_s": one,
        "two_gateways_per_s": two,
        "ratio_two_to_one": two / one,
        "ratio_one_to_raw": one / raw,
        "ratio_two_to_raw": two / raw,
        "cores_one_gateway": cores_one.result,
        "cores_two_gateways": cores_two.result,
        "kill": kill,
        "total_alerts": total_alerts,
        "total_incidents": total_incidents,
    }


def _cores(result: dict[str, float], *gateways: str) -> str:
    gw = "+".join(f"{result[g]:.2f}" for g in gateways)
    return f"{gw} / {result['load generator']:.2f} / {result['postgres']:.2f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 10.0
    buttons = int(argv[1]) if len(argv) > 1 else 100
    for noisy in ("core.mqtt", "core.db", "gateway.reference"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "share": asyncio.run(scenario_share(seconds, buttons)),
    }
    path = Path(f"bench-results/bench-share-{int(time.time())}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, default=str, option=orjson.OPT_INDENT_2))
    print(f"\nresults written to {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
