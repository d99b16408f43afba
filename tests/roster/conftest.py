"""Fixtures for the roster tests: dispatch's seeded world, web app and API clients, plus helpers
to give an agency shift patterns and to run dispatch loops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.db import open_pool
from core.settings import Settings
from dispatch.runner import run_dispatch
from tests.browser import browser, page  # noqa: F401  (fixtures for test_browser)
from tests.dispatch.conftest import client, server, settings, world  # noqa: F401  (fixtures)


@asynccontextmanager
async def dispatcher(cfg: Settings, dsn: str) -> AsyncIterator[None]:
    """One dispatch 'process': its own pool and loop task."""
    stop = asyncio.Event()
    async with open_pool(dsn, min_size=1, max_size=3) as pool:
        task = asyncio.create_task(run_dispatch(cfg, pool, stop), name="dispatch-under-test")
        try:
            yield
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await task
