"""Shared fixtures: a fresh PostgreSQL database per test (cloned from a migrated template) and
Mosquitto brokers started by the tests themselves, never the machine's shared services."""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from core.db import migrate, open_pool
from tests.support import PG_ADMIN_DSN, dsn_for, run_async


@pytest.fixture(autouse=True)
def fail_on_unhandled_task_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An exception nobody handled on any event loop (a task that died unawaited, "Task exception
    was never retrieved", a callback that raised) fails the test that caused it instead of only
    being logged. Installed on the loop class, so it covers pytest-asyncio's loops and the ones
    ``asyncio.run`` makes in synchronous tests alike."""
    seen: list[dict[str, Any]] = []
    original = asyncio.BaseEventLoop.default_exception_handler

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        seen.append(context)
        original(loop, context)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio.BaseEventLoop, "default_exception_handler", record)
    yield
    gc.collect()  # a task dropped with its exception reports it only when collected
    # What survives is the session's, not this test's garbage: freezing it keeps the next test's
    # collection to the objects that test made (a full scan of the heap costs ~180 ms a test).
    gc.freeze()
    if seen:
        lines = [f"{c.get('message')}: {c.get('exception')!r}" for c in seen]
        pytest.fail("unhandled exception on an event loop:\n" + "\n".join(lines), pytrace=False)


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
