"""The SLA sweeper as a background task of the web role.

Every web process may run it: the sweep claims rows with ``SKIP LOCKED`` and stamps them in the
same transaction, so several processes never act twice. The clock is reloaded each round so
cuti bersama an admin adds take effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from complaints import store
from complaints.model import SlaLimits
from core import appkeys
from core.db import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


async def sweep_forever(pool: asyncpg.Pool, limits: SlaLimits, interval_s: float = DEFAULT_INTERVAL_S) -> None:
    """Sweep now and then every ``interval_s`` seconds until cancelled."""
    while True:
        try:
            async with asyncio.timeout(max(30.0, interval_s * 5)):
                clock = await store.load_clock(pool)
                await store.sweep(pool, clock, limits=limits)
        except TRANSIENT_ERRORS as e:
            # the database is away or slow: try again next round
            log.warning("SLA sweep failed, retrying in %.0f s: %s", interval_s, e)
        await asyncio.sleep(interval_s)


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx`` entry: run the sweeper while the app runs (interval 0 = off)."""

    interval = app[appkeys.SETTINGS].complaint_sweep_s
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(
        sweep_forever(app[appkeys.POOL], SlaLimits.from_settings(app[appkeys.SETTINGS]), interval),
        name="complaint-sla-sweep",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
