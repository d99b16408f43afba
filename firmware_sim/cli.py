"""The simulator's command line: ``python -m firmware_sim`` and, with device registration in
front of it, ``siaga sim``.

The simulator only speaks MQTT; it does not write to the database. Registering the devices it
has no secret for belongs to the gateway's device registry, so ``siaga sim`` does that and then
runs this fleet; ``python -m firmware_sim`` runs the devices already saved in ``--state``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn

from core.settings import MqttTarget, Settings
from firmware_sim.device import SimConfig
from firmware_sim.fleet import TOTALS_HEADERS, Fleet, FleetTotals, parse_script, totals_rows

CREDENTIALS_FILE = "sim-devices.json"

# device ids still without a secret (maybe none) -> their new secrets; ``siaga sim`` registers
# them, and is called also with none so the broker's password file is brought up to date
Register = Callable[[list[str]], Awaitable[dict[str, str]]]


ENV_HINT = "`make demo` mencetak baris export SIAGA_DATABASE_URL dan SIAGA_MQTT_URL untuk shell lain"
# how long a broker may take to accept the TCP connection before the simulator gives up
BROKER_CHECK_S = 5.0
# how long every device may be refused by the broker before the simulator gives up
REFUSED_GIVE_UP_S = 15.0


def refuse(message: str) -> NoReturn:
    """One line on stderr and exit status 2: what to set, without a traceback."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def network_reason(e: BaseException) -> str:
    """Why a connection failed, in words a person reads (the OS's own text is English)."""
    if isinstance(e, TimeoutError):
        return "tidak menjawab"
    if isinstance(e, socket.gaierror):
        return "nama host tidak dikenal"
    if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
        return "koneksi ditolak"
    if getattr(e, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "jaringan tidak terjangkau"
    return "gagal tersambung"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> str:
    """Columns aligned to their widest cell; the columns in ``right`` (numbers) aligned right. Pure."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_totals(totals: FleetTotals) -> str:
    return text_table(TOTALS_HEADERS, totals_rows(totals), right=range(len(TOTALS_HEADERS)))


def broker_target(settings: Settings) -> MqttTarget:
    """The broker of SIAGA_MQTT_URL; exit status 2 with what to set when it is missing or unreadable."""
    if not settings.mqtt_url:
        refuse(f"SIAGA_MQTT_URL belum disetel: isi dengan alamat broker MQTT SIAGA (mqtt://host:port); {ENV_HINT}.")
    try:
        return settings.mqtt
    except ValueError:
        refuse(f"SIAGA_MQTT_URL tidak terbaca: pakai bentuk mqtt://host:port; {ENV_HINT}.")


async def check_broker(target: MqttTarget) -> None:
    """The broker accepts a TCP connection, or exit status 2 saying so (before any device starts)."""
    try:
        async with asyncio.timeout(BROKER_CHECK_S):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except (OSError, TimeoutError) as e:
        refuse(
            f"Broker MQTT {target.host}:{target.port} tidak terjangkau ({network_reason(e)}): periksa SIAGA_MQTT_URL;"
            f" {ENV_HINT}."
        )
    writer.close()
    await writer.wait_closed()


async def _give_up_when_refused(fleet: Fleet, stop: asyncio.Event) -> bool:
    """True once every device has been refused for REFUSED_GIVE_UP_S (wrong
    secrets, a password file not reloaded), so the simulator stops instead of retrying forever."""
    since: float | None = None
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        reasons = [d.conn.connect_refused for d in fleet.devices]
        if fleet.devices and all(reasons) and not any(d.conn.connected for d in fleet.devices):
            since = since if since is not None else loop.time()
            if loop.time() - since >= REFUSED_GIVE_UP_S:
                stop.set()
                return True
        else:
            since = None
        try:
            async with asyncio.timeout(0.5):
                await stop.wait()
        except TimeoutError:
            pass
    return False


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The simulator's options, shared by ``siaga sim`` and ``python -m firmware_sim``."""
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--prefix", default="sim")
    p.add_argument("--press-rate", type=float, default=1.0)
    p.add_argument("--heartbeat", type=float, default=60.0)
    p.add_argument("--ramp", type=float, default=500.0, help="connections per second while starting")
    p.add_argument("--duration", type=float, default=None, help="seconds, default: until Ctrl-C")
    p.add_argument("--state", default="./var/sim", help="where device secrets, seq and outboxes are kept")
    p.add_argument("--script", default=None, help="scripted presses: lines of 'seconds,device_index[,type]'")


def device_ids(args: argparse.Namespace) -> list[str]:
    return [f"{args.prefix}-{i + 1:05d}" for i in range(args.devices)]


def run(args: argparse.Namespace, settings: Settings, register: Register | None = None) -> FleetTotals:
    """Run the fleet until Ctrl-C or ``--duration``; ``register`` supplies the missing secrets."""
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    creds_file = state / CREDENTIALS_FILE
    creds: dict[str, str] = json.loads(creds_file.read_text()) if creds_file.exists() else {}
    script = parse_script(Path(args.script).read_text()) if args.script else None
    target = broker_target(settings)
    config = SimConfig(host=target.host, port=target.port, topic_root=settings.topic_root, heartbeat_s=args.heartbeat)

    async def fleet_run() -> FleetTotals:
        await check_broker(target)
        missing = [d for d in device_ids(args) if d not in creds]
        if register is not None:
            creds.update(await register(missing))
            await asyncio.to_thread(creds_file.write_text, json.dumps(creds))
        elif missing:
            print(f"{len(missing)} perangkat belum terdaftar (daftarkan dengan `siaga sim`)", file=sys.stderr)
        wanted = sorted(creds.items())[: args.devices]
        fleet = Fleet(wanted, config, state_dir=state, press_rate=args.press_rate, ramp_per_s=args.ramp, script=script)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        async with asyncio.TaskGroup() as tg:
            watch = tg.create_task(_give_up_when_refused(fleet, stop), name="sim-refused-watch")
            totals = await fleet.run(stop)
            stop.set()
        if watch.result():
            print(format_totals(totals))
            refuse(
                f"Broker MQTT {target.host}:{target.port} menolak perangkat simulasi (nama pengguna atau rahasia"
                f" tidak diterima; muat ulang berkas sandi broker atau hapus {creds_file}); {ENV_HINT}."
            )
        return totals

    return asyncio.run(fleet_run())


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m firmware_sim", description="simulated panic buttons")
    add_arguments(p)
    args = p.parse_args(argv)
    totals = run(args, Settings())
    print(format_totals(totals))
