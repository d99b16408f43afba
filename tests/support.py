"""Helpers the tests share: database names, free ports, waiting for conditions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

from core import audit

T = TypeVar("T")

PG_ADMIN_DSN = os.environ.get("SIAGA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(database: str) -> str:
    parts = urlsplit(PG_ADMIN_DSN)
    return urlunsplit(parts._replace(path="/" + database))


async def run_siaga(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """``python -m siaga.cli ARGS`` with ``env``: its exit code and its output (stderr folded in)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "siaga.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(
    condition: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll an async condition until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition!r}: {last!r}")
        await asyncio.sleep(interval)


async def seal_all(conn: asyncpg.Connection, *, timeout: float = 10.0) -> None:
    """Seal the audit log until no committed row is left unsealed. One seal leaves the rows behind
    a transaction still open elsewhere in the cluster (the bus horizon), which on a busy machine
    (other tests' databases) happens often enough to fail a test that expects every row sealed."""

    async def none_left() -> bool:
        await audit.seal(conn)
        return not await conn.fetchval("SELECT count(*) FROM audit_log WHERE chain_pos IS NULL")

    await wait_for(none_left, timeout=timeout, what="every audit row sealed")


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free loopback port until the block ends; yields its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
