"""The system under fault: Mosquitto, PostgreSQL (the shared one or one of the test's own) and
SIAGA's gateway, dispatch and web roles as child processes, with optional TCP proxies in front of
the database (every role) and of the broker (the gateway only)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from core.db import migrate
from core.settings import Settings
from gateway.devices import GATEWAY_USERNAME, add_device
from siaga.procs import RoleProcess, free_port, role_env
from tests.dispatch import factory
from tests.faults.pg import PgProcess
from tests.faults.proxy import TcpProxy
from tests.gateway.harness import Stack, make_stack
from tests.support import wait_for


@dataclass
class Options:
    """How the rig is wired; each fault row picks what it needs."""

    own_pg: bool = False  # a PostgreSQL of the test's own (to restart it or fill its disk)
    pg_datadir: Path | None = None  # where that PostgreSQL keeps its data (e.g. on a small tmpfs)
    db_proxy: bool = False  # every role reaches the database through a TcpProxy
    db_latency_s: float = 0.0  # added per chunk and direction by that proxy
    broker_proxy: bool = False  # the gateway (only) reaches the broker through a TcpProxy
    web_proxy: bool = False  # the operators' and complaint staff's HTTP goes through a TcpProxy
    env: dict[str, str] = field(default_factory=dict)  # extra SIAGA_* for every role


@dataclass
class Rig:
    stack: Stack
    dsn: str  # direct, for the checker; the roles may go through db_proxy
    role_settings: Settings
    workdir: Path
    http_port: int
    env: dict[str, str]
    pg: PgProcess | None = None
    db_proxy: TcpProxy | None = None
    broker_proxy: TcpProxy | None = None
    web_proxy: TcpProxy | None = None
    roles: dict[str, RoleProcess] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    opd_id: int = 0
    # role -> how often it exited on its own and was started again (as compose's restart policy would)
    crashes: dict[str, int] = field(default_factory=dict)
    _handled: set[str] = field(default_factory=set)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def client_url(self) -> str:
        """Where the API clients of the traffic driver go (through the web proxy, if any)."""
        return f"http://127.0.0.1:{self.web_proxy.port}" if self.web_proxy else self.web_url

    def role(self, name: str) -> RoleProcess:
        if name not in self.roles:
            env = role_env(self.role_settings, **self.env)
            if name == "web":
                self.http_port = free_port()
                if self.web_proxy is not None:
                    self.web_proxy.target_port = self.http_port
                env["SIAGA_HTTP_PORT"] = str(self.http_port)
            self.roles[name] = RoleProcess(env, name, self.workdir / f"{name}.log")
        return self.roles[name]

    async def start_roles(self, *names: str) -> None:
        # the web role first: its port is only probed free until the child binds it
        for name in sorted(names, key=lambda n: n != "web"):
            await self.role(name).start()
        if "web" in names:
            await self.wait_web()

    @contextlib.asynccontextmanager
    async def handling(self, name: str) -> AsyncIterator[RoleProcess]:
        """A fault function kills or stops this role itself: the supervisor looks away meanwhile."""
        self._handled.add(name)
        try:
            yield self.roles[name]
        finally:
            self._handled.discard(name)

    async def supervise(self) -> None:
        """Start again any role that exited by itself, counting it: a role that dies under a fault
        is a bug even when a process supervisor would hide it."""
        while True:
            for name, proc in self.roles.items():
                if name in self._handled or proc.proc is None or proc.proc.returncode is None:
                    continue
                self.crashes[name] = self.crashes.get(name, 0) + 1
                await asyncio.sleep(1.0)  # a role that cannot start (database away) is not respawned in a loop
                await proc.start()
            await asyncio.sleep(0.2)

    async def wait_web(self, timeout: float = 60) -> None:
        web = self.roles["web"]
        async with aiohttp.ClientSession() as http:

            async def up() -> bool:
                try:
                    async with http.get(f"{self.web_url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        return r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            async def up_or_dead() -> bool:
                assert web.proc is not None
                if web.proc.returncode is not None:
                    raise AssertionError("the web role exited:\n" + web.log_tail())
                return await up()

            await wait_for(up_or_dead, timeout=timeout, interval=0.2, what="the web role to answer /healthz")

    async def login(self, username: str) -> str:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.web_url}/api/v1/login", json={"username": username, "password": factory.PASSWORD}
            ) as r:
                body = await r.json()
                assert r.status == 200, body
        self.tokens[username] = body["token"]
        return body["token"]

    async def add_devices(self, n: int, prefix: str = "btn") -> list[tuple[str, str]]:
        """``n`` buttons sharing one secret: the first registered by ``add_device``, the rest
        cloned from its row (argon2 costs ~0.4 s a hash here; the fault rows need many devices)."""
        secret = secrets.token_urlsafe(24)
        ids = [f"{prefix}-{i:04d}" for i in range(n)]
        async with self.stack.pool.acquire() as conn:
            await add_device(conn, ids[0], f"Tombol {prefix} 0", secret=secret)
            await conn.execute(
                """INSERT INTO device (id, name, kind, secret_hash, broker_hash)
                   SELECT x.id, 'Tombol ' || x.id, d.kind, d.secret_hash, d.broker_hash
                     FROM device d, unnest($2::text[]) AS x(id) WHERE d.id = $1""",
                ids[0],
                ids[1:],
            )
        await self.stack.sync_broker_auth()
        return [(d, secret) for d in ids]

    def logs(self, n: int = 25) -> str:
        parts = [f"--- {name}.log\n{proc.log_tail(n)}" for name, proc in self.roles.items()]
        if self.pg is not None:
            parts.append(f"--- postgresql\n{self.pg.log_tail(n)}")
        parts.append(f"--- mosquitto\n{self.stack.broker.log_tail(n)}")
        return "\n".join(parts)

    async def stop_roles(self) -> None:
        async def stop(proc: RoleProcess) -> None:
            try:
                await proc.terminate(grace_s=30)
            except TimeoutError:
                await proc.kill()

        await asyncio.gather(*(stop(p) for p in self.roles.values()))


def pg_home(exits: contextlib.ExitStack | contextlib.AsyncExitStack) -> Path:
    """A directory the postgres user can reach (pytest's tmp_path is private to root)."""
    home = Path(tempfile.mkdtemp(prefix="siaga-faults-pg-"))
    home.chmod(0o755)
    exits.callback(shutil.rmtree, home, True)
    return home


async def _own_database(pg: PgProcess) -> str:
    conn = await asyncpg.connect(pg.dsn())
    try:
        await conn.execute('CREATE DATABASE "siaga"')
    finally:
        await conn.close()
    dsn = pg.dsn("siaga")
    await migrate(dsn)
    return dsn


@contextlib.asynccontextmanager
async def build_rig(db_dsn: str | None, workdir: Path, topic_root: str, options: Options) -> AsyncIterator[Rig]:
    """Everything up except the roles (start them with ``rig.start_roles``); all torn down at the end."""
    async with contextlib.AsyncExitStack() as exits:
        pg = None
        if options.own_pg:
            home = pg_home(exits)
            pg = PgProcess(options.pg_datadir or home / "data", log=home / "postgresql.log")
            pg.init()
            pg.start()
            exits.callback(pg.stop, "immediate")
            dsn = await _own_database(pg)
        else:
            assert db_dsn is not None
            dsn = db_dsn
        stack = await exits.enter_async_context(make_stack(dsn, workdir, topic_root))
        role_dsn = dsn
        db_proxy = None
        if options.db_proxy:
            host_port = dsn.split("@", 1)[1].split("/", 1)[0]
            host, port = host_port.rsplit(":", 1)
            db_proxy = await exits.enter_async_context(TcpProxy(host, int(port), latency_s=options.db_latency_s))
            role_dsn = dsn.replace(f"@{host_port}/", f"@127.0.0.1:{db_proxy.port}/")
        broker_proxy = None
        mqtt_url = stack.settings.mqtt_url
        if options.broker_proxy:
            broker_proxy = await exits.enter_async_context(TcpProxy("127.0.0.1", stack.broker.port))
            mqtt_url = f"mqtt://{GATEWAY_USERNAME}:{stack.gateway_password}@127.0.0.1:{broker_proxy.port}"
        role_settings = stack.settings.model_copy(
            update={"database_url": role_dsn, "mqtt_url": mqtt_url, "mqtt_client_id": f"gw-{secrets.token_hex(3)}"}
        )
        env = {
            "SIAGA_DRAIN_TIMEOUT_S": "5",
            "SIAGA_COMPLAINT_SWEEP_S": "0",
            "SIAGA_DISPATCH_POLL_S": "0.5",
            **options.env,
        }
        web_proxy = None
        if options.web_proxy:
            web_proxy = await exits.enter_async_context(TcpProxy("127.0.0.1", 0))  # target set with the port
        rig = Rig(stack, dsn, role_settings, workdir, 0, env, pg, db_proxy, broker_proxy, web_proxy)
        async with stack.pool.acquire() as conn:
            world = await factory.seed(conn)
        rig.opd_id = world.opd
        try:
            yield rig
        finally:
            await stack.stop_devices()
            await rig.stop_roles()
