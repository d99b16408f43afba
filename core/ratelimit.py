"""Sliding-window limits kept in PostgreSQL (table ``rate_limit_hit``, migration 0010): the one
limiter of SIAGA's HTTP side (failed sign-ins, new complaints, citizen actions).

Web roles are stateless and there may be several behind a balancer, so a count kept in one
process would let a client through N times faster by spreading its requests. Each counted
event is one row per key it counts against. :func:`take` lets a request through only if every
key is under its limit and counts only what it lets through (a refused request does not push the
window further out); :func:`exceeded` and :func:`count` apart limit outcomes (sign-in failures).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Limit:
    """At most ``max_hits`` requests per ``window_s`` seconds for ``key`` within ``scope``."""

    scope: str
    key: str
    max_hits: int
    window_s: float


def _stored_key(key: str) -> str:
    """The key as stored: readable when it is plain text (an address, a tracking id), else its
    SHA-256, so that no key a client chooses (NUL, lone surrogates, megabytes) can fail the insert."""
    if len(key) <= 200 and key.isprintable():
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _active(limits: Sequence[Limit]) -> list[Limit]:
    # a limit with max_hits <= 0 is off
    return [Limit(lim.scope, _stored_key(lim.key), lim.max_hits, lim.window_s) for lim in limits if lim.max_hits > 0]


async def _wait(conn: asyncpg.Connection, active: Sequence[Limit]) -> float | None:
    wait = 0.0
    for lim in active:
        await conn.execute(
            """DELETE FROM rate_limit_hit
                WHERE scope = $1 AND key = $2 AND at <= clock_timestamp() - make_interval(secs => $3)""",
            lim.scope,
            lim.key,
            float(lim.window_s),
        )
        n = await conn.fetchval("SELECT count(*) FROM rate_limit_hit WHERE scope = $1 AND key = $2", lim.scope, lim.key)
        if n >= lim.max_hits:
            # free again once enough of the oldest hits have left the window
            left = await conn.fetchval(
                """SELECT extract(epoch FROM at + make_interval(secs => $3) - clock_timestamp())
                     FROM rate_limit_hit WHERE scope = $1 AND key = $2 ORDER BY at OFFSET $4 LIMIT 1""",
                lim.scope,
                lim.key,
                float(lim.window_s),
                n - lim.max_hits,
            )
            wait = max(wait, float(left or 0.0), 1.0)
    return float(math.ceil(wait)) if wait else None


async def _count(conn: asyncpg.Connection, active: Sequence[Limit]) -> None:
    await conn.executemany(
        "INSERT INTO rate_limit_hit (scope, key) VALUES ($1, $2)", [(lim.scope, lim.key) for lim in active]
    )


async def take(conn: asyncpg.Connection, limits: Sequence[Limit]) -> float | None:
    """Count one request against every limit; None when let through, else the seconds to wait
    (for ``Retry-After``), and then nothing is counted."""
    active = _active(limits)
    if not active:
        return None
    async with conn.transaction():
        # serialise requests of the same keys, so two at once cannot both take the last slot;
        # sorted, so two requests sharing keys never wait for each other crosswise
        for lim in sorted(active, key=lambda x: (x.scope, x.key)):
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 14))", f"{lim.scope}\x1f{lim.key}")
        wait = await _wait(conn, active)
        if wait is None:
            await _count(conn, active)
    return wait


async def exceeded(conn: asyncpg.Connection, limits: Sequence[Limit]) -> float | None:
    """The seconds to wait if any limit is used up, else None; counts nothing. With :func:`count`,
    for limits on outcomes rather than requests (failed sign-ins: only a failure counts)."""
    active = _active(limits)
    if not active:
        return None
    async with conn.transaction():
        return await _wait(conn, active)


async def count(conn: asyncpg.Connection, limits: Sequence[Limit]) -> None:
    """Count one event against every limit (inside the caller's transaction, if any)."""
    active = _active(limits)
    if active:
        await _count(conn, active)


async def purge(conn: asyncpg.Connection, *, keep_s: float) -> int:
    """Forget hits older than ``keep_s`` (keys never seen again are otherwise kept); returns how many."""
    return int(
        await conn.fetchval(
            """WITH gone AS (DELETE FROM rate_limit_hit WHERE at < clock_timestamp() - make_interval(secs => $1)
                              RETURNING 1)
               SELECT count(*) FROM gone""",
            float(keep_s),
        )
    )
