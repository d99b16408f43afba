"""Per-WIB-day summaries of settled history (migration 0017), built on first need.

A figure over a period reads the summaries of its settled days (up to the day before yesterday,
WIB) and counts the rest live from the base rows, so it is exact: the summaries hold counts and,
for quantiles, every incident's seconds. A write to a summarised day makes its summary out of
date (triggers); :func:`settled` rebuilds what a period needs before the figure reads it.

Quantiles are taken here, not by percentile_cont: a year is ~800k seconds per chart, and sorting
them in PostgreSQL took ~300 ms; selecting the two order statistics each quantile needs from the
packed values (migration 0017) takes a few, with percentile_cont's own arithmetic, so the figure
is the same number to the last bit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date, timedelta

import asyncpg
import numpy as np

log = logging.getLogger(__name__)

KINDS = ("incident", "disposition", "complaint")


async def settled(conn: asyncpg.Connection, kind: str, first: date, last: date) -> date | None:
    """Make the ``kind`` summaries of ``first``..``last`` current; the last day they now cover
    (None: none, count everything live). Days after it must be counted from the base rows."""
    if kind not in KINDS:
        raise ValueError(kind)
    try:
        return await conn.fetchval("SELECT dash_rollup_build($1, $2, $3)", kind, first, last)
    except asyncpg.exceptions.DeadlockDetectedError:
        # a bulk write touching several settled days in another order than the builder: the
        # write goes on, and this figure is counted from the base rows instead (still exact)
        log.warning("dashboard rollup %s %s..%s not built (deadlock with a writer); counting live", kind, first, last)
        return None


def split(first: date, built: date | None) -> tuple[date, date]:
    """(last day read from the summaries, first day counted live) for a period from ``first``;
    a last day before ``first`` reads no summary."""
    if built is None or built < first:
        return first - timedelta(days=1), first
    return built, built + timedelta(days=1)


def values(blob: bytes | None) -> np.ndarray:
    """The seconds of a summary column (float8 values as float8send writes them, concatenated)."""
    return np.frombuffer(blob, dtype=">f8") if blob else np.empty(0)


def percentile_cont(v: np.ndarray, fractions: Sequence[float]) -> list[float | None]:
    """PostgreSQL's percentile_cont of each fraction over ``v`` (None when empty), computed as
    PostgreSQL does (orderedsetaggs.c): the two rows around fraction * (n - 1), lo + (hi - lo) * p."""
    n = len(v)
    if n == 0:
        return [None] * len(fractions)
    where = []
    for f in fractions:
        x = f * (n - 1)
        where.append((x, math.floor(x), math.ceil(x)))
    part = np.partition(v, sorted({i for _, lo, hi in where for i in (lo, hi)}))
    out: list[float | None] = []
    for x, lo, hi in where:
        a = float(part[lo])
        out.append(a if lo == hi else a + (float(part[hi]) - a) * (x - lo))
    return out
