"""Shared fixtures: a fresh PostgreSQL database per test (cloned from a migrated template) and
Mosquitto brokers started by the tests themselves, never the machine's shared services."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from core.db import migrate, open_pool
from tests.support import PG_ADMIN_DSN, dsn_for, run_async


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = f"siaga_tpl_{os.getpid()}_{secrets.token_hex(3)}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate(dsn_for(name))

    run_async(create())
    yield name
    run_async(_drop(name))


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def db_dsn(template_db: str) -> AsyncIterator[str]:
    """A DSN to a new database holding the migrated schema and nothing else."""
    name = f"siaga_t_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        # CREATE DATABASE ... TEMPLATE fails if another session is connected to the template
        for attempt in range(50):
            try:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
                break
            except asyncpg.ObjectInUseError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    yield dsn_for(name)
    await _drop(name)


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(db_dsn) as p:
        yield p


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests never see each other's traffic."""
    return f"t{secrets.token_hex(4)}/siaga/v1"
