"""SIAGA roles as child processes (benchmarks and fault tests kill and restart them)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from core.settings import Settings


def free_port() -> int:
    """A port free now, for a child process that binds it a moment later.

    Taken below the kernel's ephemeral range where there is room: a port from bind(0) comes from
    that range, and in the seconds a child takes to start it may become the source port of some
    outgoing connection (roles open dozens), so the child fails with EADDRINUSE.
    """
    import random
    import socket

    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low > 11000:
        rng = random.Random()
        for _ in range(100):
            port = rng.randrange(10000, low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a child `siaga run` use these settings (tracker ports made free)."""
    env = {
        **os.environ,
        "SIAGA_DATABASE_URL": settings.database_url or "",
        "SIAGA_MQTT_URL": settings.mqtt_url or "",
        "SIAGA_TOPIC_ROOT": settings.topic_root,
        "SIAGA_MQTT_CLIENT_ID": settings.mqtt_client_id,
        "SIAGA_MQTT_KEEPALIVE_S": str(settings.mqtt_keepalive_s),
        "SIAGA_OSMAND_PORT": str(free_port()),
        "SIAGA_GT06_PORT": str(free_port()),
        "SIAGA_HTTP_PORT": str(free_port()),
    }
    if settings.mqtt_share_group:
        env["SIAGA_MQTT_SHARE_GROUP"] = settings.mqtt_share_group
    env.update(extra)
    return env


class RoleProcess:
    """`siaga run --role ROLE` as a child process, logging to a file."""

    def __init__(self, env: dict[str, str], role: str, log: Path) -> None:
        self.env = env
        self.argv = [sys.executable, "-m", "siaga.cli", "run", "--role", role]
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(*self.argv, env=self.env, stdout=out, stderr=out)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def terminate(self, grace_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.terminate()
        async with asyncio.timeout(grace_s):
            return await self.proc.wait()

    def log_tail(self, n: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
