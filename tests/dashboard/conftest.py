"""Fixtures of the dashboard tests: the whole web app on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.settings import Settings
from siaga.webapp import create_app
from tests.dispatch.conftest import settings  # noqa: F401  (fixture)
from tests.support import serving


@pytest.fixture
async def server(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:  # noqa: F811
    """The whole web app (the dispatch tests' server leaves the complaint pages and the dashboard out)."""
    async with serving(create_app(settings, pool)) as base:
        yield base
