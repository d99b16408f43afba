"""Fixtures of the complaint tests: a few OPDs and categories in a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import xstatic.pkg.leaflet
from aiohttp import web

from complaints import open311_web, store
from complaints import web as complaints_web
from complaints.clock import WorkingDayClock
from core import appkeys, auth, pages
from core.areas import AreaIndex
from core.settings import Settings
from dashboard import web as dashboard_web
from dispatch import console as dispatch_console
from tests.browser import browser, page  # noqa: F401  (fixtures for test_browser)
from tests.complaints.test_clock import CUTI_2026, CUTI_2027
from tests.support import free_port


@dataclass(frozen=True)
class Opds:
    dpupr: int
    dlh: int
    sekda: int


@pytest.fixture
async def opds(pool: asyncpg.Pool) -> Opds:
    ids = []
    for code, name in (
        ("DPUPR", "Dinas Pekerjaan Umum dan Penataan Ruang"),
        ("DLH", "Dinas Lingkungan Hidup"),
        ("SETDA", "Sekretariat Daerah"),
    ):
        ids.append(
            await pool.fetchval(
                "INSERT INTO agency (code, kind, name, short_name) VALUES ($1, 'opd', $2, $1) RETURNING id",
                code,
                name,
            )
        )
    return Opds(*ids)


@pytest.fixture
async def categories(pool: asyncpg.Pool, opds: Opds) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {
            "jalan": await store.create_category(
                conn, "jalan-rusak", "Jalan rusak", group_name="Infrastruktur", default_opd_id=opds.dpupr
            ),
            "sampah": await store.create_category(
                conn,
                "sampah",
                "Sampah menumpuk",
                group_name="Lingkungan",
                default_opd_id=opds.dlh,
                attributes=[
                    {
                        "code": "volume",
                        "datatype": "singlevaluelist",
                        "required": False,
                        "order": 1,
                        "description": "Perkiraan volume",
                        "datatype_description": "",
                        "values": [{"key": "kecil", "name": "Kecil"}, {"key": "besar", "name": "Besar"}],
                    },
                ],
            ),
        }


@pytest.fixture
def clock() -> WorkingDayClock:
    return WorkingDayClock(CUTI_2026 + CUTI_2027)


PASSWORD = "rahasia-sekali-123"


class Texts:
    """The phone sender of the tests: keeps what would have gone out by SMS."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_code(self, phone: str, code: str) -> None:
        self.sent.append((phone, code))

    async def send_text(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


@dataclass
class Site:
    url: str
    key: str
    pool: asyncpg.Pool
    opds: Opds
    categories: dict[str, int]
    login: Callable[[str], Awaitable[aiohttp.ClientSession]]
    texts: Texts = field(default_factory=Texts)


@auth.public
async def _leaflet(request: web.Request) -> web.FileResponse:
    base = Path(xstatic.pkg.leaflet.BASE_DIR).resolve()
    path = (base / request.match_info["path"]).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


@pytest.fixture(scope="session")
def areas() -> AreaIndex:
    return AreaIndex.load("desa")


@pytest.fixture
async def site(
    db_dsn: str, pool: asyncpg.Pool, opds: Opds, categories: dict[str, int], areas: AreaIndex
) -> AsyncIterator[Site]:
    settings = Settings(database_url=db_dsn)
    users = {
        "staf": ("complaint_staff", None),
        "pu": ("opd_officer", opds.dpupr),
        "dlh": ("opd_officer", opds.dlh),
        "bupati": ("leader", None),
        "admin": ("admin", None),
        "cc": ("command_centre", None),
    }
    async with pool.acquire() as conn:
        _, key = await store.create_open311_client(conn, "aplikasi warga")
    # as siaga.webapp mounts it: a browser refused by sign-in or access gets a page, not JSON
    app = web.Application(middlewares=[pages.browser_refusals, auth.auth_middleware])
    app[appkeys.SETTINGS] = settings
    app[appkeys.POOL] = pool
    app[appkeys.AREAS] = open311_web.AreaLookup(areas)
    texts = Texts()
    app[appkeys.PHONE_SENDER] = texts
    complaints_web.setup(app)
    dashboard_web.setup(app)
    # what the full app serves from the dispatch console: Leaflet and the boundaries
    app.router.add_get("/vendor/leaflet/{path:.+}", _leaflet)
    app.router.add_get("/geo/{name}", dispatch_console.geo_file)
    assert auth.routes_without_rule(app) == []
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    sessions: list[aiohttp.ClientSession] = []

    async def login(username: str) -> aiohttp.ClientSession:
        # users are made on first use: argon2 hashing is what makes a test slow
        async with pool.acquire() as conn:
            role, agency = users[username]
            await auth.create_user(conn, username, PASSWORD, role, agency)
            token, _ = await auth.login(conn, settings, username, PASSWORD, kind="api")
        s = aiohttp.ClientSession(base_url=url, headers={"Authorization": f"Bearer {token}"})
        sessions.append(s)
        return s

    try:
        yield Site(url, key, pool, opds, categories, login, texts)
    finally:
        for s in sessions:
            await s.close()
        await runner.cleanup()


@pytest.fixture
async def anon(site: Site) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=site.url) as s:
        yield s
