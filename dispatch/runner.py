"""The dispatch role: routes new incidents, hands those of agencies with no one present to the
command centre (dispatch/presence.py) and fires escalation timers until told to stop.

Any number of these may run against one database: incidents are claimed and timers fired under
``FOR UPDATE SKIP LOCKED``, and both are found by querying the tables (not by remembering), so a
process killed at any moment leaves nothing behind that the next one does not pick up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core import audit, auth, events
from core.db import TRANSIENT_ERRORS
from core.settings import Settings
from dispatch import presence, service

log = logging.getLogger(__name__)

_PURGE_EVERY_S = 3600.0
# the database is away or cannot take the work right now (core.db): retry, do not die
_NETWORK_ERRORS = TRANSIENT_ERRORS


async def run_dispatch(settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; survives database restarts with capped, jittered backoff."""
    backoff = 0.2
    while not stop.is_set():
        try:
            await _loop(settings, pool, stop)
        except _NETWORK_ERRORS as e:
            log.warning("dispatch lost the database (%s); retrying in %.1fs", e, backoff)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff * (0.5 + random.random())):
                    await stop.wait()
            backoff = min(backoff * 2, 10.0)


async def _loop(settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    wake = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake.set()

    async with pool.acquire() as listener:
        await listener.add_listener(events.CHANNEL, on_notify)
        next_purge = time.monotonic()
        try:
            while not stop.is_set():
                wake.clear()
                routed = await service.route_pending(pool, settings)
                # an alert never waits with an agency that has no one at a console
                covered = await _presence_pass(listener, settings)
                fired = await service.fire_due_timers(pool, settings)
                # chain what was audited since the last pass (the audit log's tamper evidence)
                await audit.seal(listener)
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                    purged = await auth.purge(listener)
                    if purged:
                        log.info("purged %d old sessions and sign-in attempts", purged)
                if routed or fired or covered:
                    log.debug("routed %d incidents, covered %d, fired %d timers", routed, covered, fired)
                due = await service.next_timer_due(listener)
                timeout = settings.dispatch_poll_s
                if due is not None:
                    timeout = max(0.0, min(timeout, (due - datetime.now(UTC)).total_seconds()))
                stopping = asyncio.ensure_future(stop.wait())
                waking = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait({stopping, waking}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in (stopping, waking):
                        t.cancel()
                    await asyncio.gather(stopping, waking, return_exceptions=True)
        finally:
            with contextlib.suppress(*_NETWORK_ERRORS):
                await listener.remove_listener(events.CHANNEL, on_notify)


async def _presence_pass(conn: asyncpg.Connection, settings: Settings) -> int:
    """Presence-aware routing (dispatch/presence.py); returns how many incidents were covered.
    A transient conflict with another dispatch process is retried on the next pass rather than
    stopping routing and escalation."""
    try:
        covered = await presence.cover_unattended(conn, settings)
        await presence.close_stale(conn, settings)
        await presence.check_attendance(conn, settings)
    except asyncpg.TransactionRollbackError as e:  # deadlock or serialization failure
        log.warning("presence pass rolled back (%s); again on the next pass", e)
        return 0
    return covered
