"""The asyncpg pool and the numbered migrations."""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every SIAGA process.
_MIGRATION_LOCK = 0x51A6A


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every shipped migration, in order."""
    found = []
    for entry in resources.files("core.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


async def migrate(dsn: str) -> list[str]:
    """Apply the migrations this database has not seen; returns the names applied.

    Safe to run from several processes at once: an advisory lock serialises them.
    """
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migration (
                       number integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["number"] for r in await conn.fetch("SELECT number FROM schema_migration")}
            for number, name, sql in migration_files():
                if number in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migration (number, name) VALUES ($1, $2)", number, name
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied


async def _init_connection(conn: asyncpg.Connection) -> None:
    import orjson

    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


class DatabaseUnavailable(ConnectionRefusedError):
    """The server answers but takes no connections for now: starting up, in crash recovery,
    shutting down, or out of connection slots. An OSError, like a refused TCP connect, so every
    role's "the database is away, retry" handler covers it."""


# "The database is away or cannot take this write right now; retry later", as opposed to "this
# statement or payload is wrong". Class 57 is operator intervention (admin/crash shutdown, cannot
# connect now, cancelled), class 53 insufficient resources (disk full, out of memory, too many
# connections): neither says anything about the data.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.TooManyConnectionsError) as e:
        # SQLSTATE 57P03 / 53300 at connect: asyncpg raises them as plain PostgresErrors, which the
        # roles' network-error handlers do not expect; a role would die while PostgreSQL restarts
        raise DatabaseUnavailable(errno.ECONNREFUSED, f"database not accepting connections: {e}") from e


@asynccontextmanager
async def open_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """One pool, opened and closed by one ``async with``. json/jsonb columns map to Python objects."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30, connect=_connect
    )
    try:
        yield pool
    finally:
        await pool.close()
