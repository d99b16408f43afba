"""The whole web role as `siaga run --role web` assembles it, on a free port, with one user per role."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from core.settings import Settings
from gateway.store import AlertPipeline
from siaga.webapp import web_role_app
from tests.browser import browser, page  # noqa: F401  (fixtures for the browser test)
from tests.dispatch import factory
from tests.ingress.conftest import place_by_gps
from tests.support import free_port

# one seeded user (tests/dispatch/factory.py) per role
USER_OF_ROLE = {
    "operator": "op-polsek",
    "supervisor": "supervisor",
    "command_centre": "cc",
    "complaint_staff": "complaints",
    "opd_officer": "opd",
    "leader": "leader",
    "admin": "admin",
}


@pytest.fixture
def settings(db_dsn: str) -> Settings:
    # no SLA sweeper in the background: the CSRF test compares the whole database before and after
    # (and three failed sign-ins lock an account: fewer slow argon2 checks in the limit tests)
    # the citizen routes' rate limits off: the probes must reach the handlers, not a 429
    # (the limits themselves are proved in tests/complaints/test_citizen.py)
    return Settings(
        database_url=db_dsn,
        complaint_sweep_s=0,
        dispatch_poll_s=0.2,
        login_max_failures=3,
        lapor_ip_max=0,
        lapor_contact_max=0,
        status_act_ip_max=0,
        status_act_complaint_max=0,
    )


@pytest.fixture
async def world(pool: asyncpg.Pool) -> factory.World:
    async with pool.acquire() as conn:
        return await factory.seed(conn)


def build_web_app(settings: Settings, pool: asyncpg.Pool | None, pipeline: AlertPipeline) -> web.Application:
    """The web role's app exactly as ``siaga run`` serves it."""
    return web_role_app(settings, pool, pipeline)


@dataclass
class Site:
    url: str
    app: web.Application
    pool: asyncpg.Pool
    settings: Settings
    world: factory.World

    async def mint(self, role: str, *, kind: str = "api") -> tuple[str, str]:
        """A fresh session of the role's seeded user, without the cost of argon2: (token, csrf)."""
        user = self.world.users[USER_OF_ROLE[role]]
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self.pool.execute(
            """INSERT INTO user_session (token_hash, user_id, kind, csrf_token, expires_at)
               VALUES ($1, $2, $3, $4, now() + interval '1 hour')""",
            hashlib.sha256(token.encode()).digest(),
            user.id,
            kind,
            csrf,
        )
        return token, csrf

    async def cookie_client(self, role: str) -> tuple[aiohttp.ClientSession, str]:
        """A browser-like client signed in through the console's form: (session with the cookie, csrf)."""
        s = aiohttp.ClientSession(base_url=self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            await sign_in_form(s, USER_OF_ROLE[role])
            me = await (await s.get("/api/v1/me")).json()
        except BaseException:
            await s.close()
            raise
        return s, me["csrf_token"]


async def sign_in_form(
    s: aiohttp.ClientSession, username: str, password: str = factory.PASSWORD
) -> aiohttp.ClientResponse:
    """Sign in through the console's form, as a browser does (the form's token, then the post)."""
    form = await (await s.get("/login")).text()
    csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
    return await s.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}, allow_redirects=False
    )


@pytest.fixture
async def site(settings: Settings, pool: asyncpg.Pool, world: factory.World) -> AsyncIterator[Site]:
    async with AlertPipeline(pool, settings, place_by_gps) as pipeline:
        app = build_web_app(settings, pool, pipeline)
        runner = web.AppRunner(app, shutdown_timeout=2.0)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Site(f"http://127.0.0.1:{port}", app, pool, settings, world)
        finally:
            await runner.cleanup()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
