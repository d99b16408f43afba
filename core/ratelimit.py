"""Sliding-window request limits kept in PostgreSQL (table ``rate_limit_hit``, migration 0010).

Web roles are stateless and there may be several behind a balancer, so a count kept in one
process would let a client through N times faster by spreading its requests. Each limited
request is one row per key it counts against; a request is let through only if every key is
under its limit, and only a request let through is counted (a refused one does not push the
window further out).
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


async def take(conn: asyncpg.Connection, limits: Sequence[Limit]) -> float | None:
    """Count one request against every limit; None when let through, else the seconds to wait
    (for ``Retry-After``). A limit with ``max_hits`` <= 0 is off."""
    active = [Limit(lim.scope, _stored_key(lim.key), lim.max_hits, lim.window_s) for lim in limits if lim.max_hits > 0]
    if not active:
        return None
    wait = 0.0
    async with conn.transaction():
        # serialise requests of the same keys, so two at once cannot both take the last slot;
        # sorted, so two requests sharing keys never wait for each other crosswise
        for lim in sorted(active, key=lambda x: (x.scope, x.key)):
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 14))", f"{lim.scope}\x1f{lim.key}")
        for lim in active:
            await conn.execute(
                """DELETE FROM rate_limit_hit
                    WHERE scope = $1 AND key = $2 AND at <= clock_timestamp() - make_interval(secs => $3)""",
                lim.scope,
                lim.key,
                float(lim.window_s),
            )
            row = await conn.fetchrow(
                """SELECT count(*) AS n,
                          extract(epoch FROM min(at) + make_interval(secs => $3) - clock_timestamp()) AS left_s
                     FROM rate_limit_hit WHERE scope = $1 AND key = $2""",
                lim.scope,
                lim.key,
                float(lim.window_s),
            )
            if row["n"] >= lim.max_hits:
                wait = max(wait, float(row["left_s"] or 0.0), 1.0)
        if wait:
            return float(math.ceil(wait))
        await conn.executemany(
            "INSERT INTO rate_limit_hit (scope, key) VALUES ($1, $2)", [(lim.scope, lim.key) for lim in active]
        )
    return None
