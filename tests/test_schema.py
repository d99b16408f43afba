import asyncpg

from core import events
from core.db import migrate, migration_files


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [n for n, _, _ in migration_files()]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_migrate_is_idempotent(db_dsn: str) -> None:
    assert await migrate(db_dsn) == []


async def test_event_cursor_never_skips_a_late_commit(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as slow, pool.acquire() as fast, pool.acquire() as reader:
        tx = slow.transaction()
        await tx.start()
        await events.append(slow, "late")  # takes the smaller id, commits last
        await events.append(fast, "early")
        seen = await events.read_after(reader, events.Cursor())
        assert [e.kind for e in seen] == []  # held back: an older transaction is still open
        await tx.commit()
        seen = await events.read_after(reader, events.Cursor())
        assert [e.kind for e in seen] == ["late", "early"]
        assert await events.read_after(reader, seen[-1].cursor) == []
        assert await events.head(reader) == seen[-1].cursor


async def test_a_long_transaction_in_another_database_does_not_hold_events_back(
    pool: asyncpg.Pool, template_db: str
) -> None:
    from tests.support import PG_ADMIN_DSN

    other = await asyncpg.connect(PG_ADMIN_DSN)  # another database of the same cluster
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute("CREATE TEMP TABLE busy (x int)")
        await other.execute("INSERT INTO busy VALUES (1)")  # holds an xid, like an import would
        async with pool.acquire() as writer, pool.acquire() as reader:
            await events.append(writer, "while-busy")
            seen = await events.read_after(reader, events.Cursor())
        assert [e.kind for e in seen] == ["while-busy"]
        await tx.rollback()
    finally:
        await other.close()
