"""The simulator's command line: ``python -m firmware_sim`` and, with device registration in
front of it, ``siaga sim``.

The simulator only speaks MQTT; it does not write to the database. Registering the devices it
has no secret for belongs to the gateway's device registry, so ``siaga sim`` does that and then
runs this fleet; ``python -m firmware_sim`` runs the devices already saved in ``--state``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from core.settings import Settings
from firmware_sim.device import SimConfig
from firmware_sim.fleet import Fleet, FleetTotals, parse_script

CREDENTIALS_FILE = "sim-devices.json"

# device ids still without a secret (maybe none) -> their new secrets; ``siaga sim`` registers
# them, and is called also with none so the broker's password file is brought up to date
Register = Callable[[list[str]], Awaitable[dict[str, str]]]


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
    target = settings.mqtt
    config = SimConfig(host=target.host, port=target.port, topic_root=settings.topic_root, heartbeat_s=args.heartbeat)

    async def fleet_run() -> FleetTotals:
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
        return await fleet.run(stop)

    return asyncio.run(fleet_run())


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m firmware_sim", description="simulated panic buttons")
    add_arguments(p)
    args = p.parse_args(argv)
    totals = run(args, Settings())
    print(f"selesai: {totals}")
