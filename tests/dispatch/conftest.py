"""Fixtures for dispatch: seeded agencies and users, the web app on a free port, API clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from core.db import open_pool
from core.settings import Settings
from dispatch.runner import run_dispatch
from siaga.webapp import create_app
from tests.browser import browser, page  # noqa: F401  (fixtures for test_browser)
from tests.dispatch import factory
from tests.support import free_port


@pytest.fixture
def settings(db_dsn: str) -> Settings:
    return Settings(
        database_url=db_dsn,
        escalate_supervisor_s=60,
        escalate_command_centre_s=120,
        on_scene_flag_s=900,
        dispatch_poll_s=0.2,
    )


@pytest.fixture
async def world(pool: asyncpg.Pool) -> factory.World:
    async with pool.acquire() as conn:
        return await factory.seed(conn)


@pytest.fixture
async def server(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """Base URL of the web app serving this test's database."""
    app = create_app(settings, pool, extras=False)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


Client = Callable[[str], Awaitable[aiohttp.ClientSession]]


@pytest.fixture
async def client(server: str, world: factory.World) -> AsyncIterator[Client]:
    """``await client("op-polsek")``: an API session signed in with a bearer token."""
    sessions: list[aiohttp.ClientSession] = []

    async def make(username: str) -> aiohttp.ClientSession:
        async with aiohttp.ClientSession() as anon:
            r = await anon.post(f"{server}/api/v1/login", json={"username": username, "password": factory.PASSWORD})
            assert r.status == 200, await r.text()
            token = (await r.json())["token"]
        s = aiohttp.ClientSession(base_url=server, headers={"Authorization": f"Bearer {token}"})
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        await s.close()


@asynccontextmanager
async def dispatcher(settings: Settings, dsn: str) -> AsyncIterator[None]:
    """One dispatch 'process': its own pool and loop task (for tests that run several)."""
    stop = asyncio.Event()
    async with open_pool(dsn, min_size=1, max_size=3) as pool:
        task = asyncio.create_task(run_dispatch(settings, pool, stop), name="dispatch-under-test")
        try:
            yield
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await task
