"""Fixtures of the dashboard tests: the whole web app on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web

from core.settings import Settings
from siaga.webapp import create_app
from tests.dispatch.conftest import settings  # noqa: F401  (fixture)
from tests.support import free_port


@pytest.fixture
async def server(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:  # noqa: F811
    """The whole web app (the dispatch tests' server leaves the complaint pages and the dashboard out)."""
    runner = web.AppRunner(create_app(settings, pool), shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
