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
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

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


@dataclass
class Part:
    """One agency's share of a period: summed counts and every second, per column."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, other: Part) -> Part:
        return Part(
            {c: self.counts.get(c, 0) + other.counts.get(c, 0) for c in {*self.counts, *other.counts}},
            {
                c: np.concatenate([self.seconds.get(c, np.empty(0)), other.seconds.get(c, np.empty(0))])
                for c in {*self.seconds, *other.seconds}
            },
        )


# The summed summaries of a period, kept while they stay current: a year of seconds is ~6 MB to
# send for each figure, and the page asks for the same settled days until one of them changes.
# A key holds the days' versions (they only grow, and a summary is only rebuilt from a newer one),
# so a write to any of them makes a new key, never a stale hit.
_SUMMED: OrderedDict[tuple[Any, ...], dict[int, Part]] = OrderedDict()
SUMMED_KEEP = 16
_ACK_SUMMED = """SELECT agency_id, sum(n)::bigint AS n, sum(acked)::bigint AS acked,
                      sum(escalated)::bigint AS escalated, string_agg(ack_s, '') AS ack_s
                 FROM {table} WHERE day >= $1 AND day <= $2 GROUP BY agency_id"""
# table -> (count columns, seconds columns, the query summing them over days $1..$2)
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "dash_ack_day": (("n", "acked", "escalated"), ("ack_s",), _ACK_SUMMED.replace("{table}", "dash_ack_day")),
    "dash_unscheduled_day": (
        ("n", "acked", "escalated"),
        ("ack_s",),
        _ACK_SUMMED.replace("{table}", "dash_unscheduled_day"),
    ),
    "dash_stage_day": (
        (),
        ("diterima", "dikirim", "tiba", "selesai"),
        """SELECT agency_id, string_agg(diterima, '') AS diterima, string_agg(dikirim, '') AS dikirim,
                  string_agg(tiba, '') AS tiba, string_agg(selesai, '') AS selesai
             FROM dash_stage_day WHERE day >= $1 AND day <= $2 GROUP BY agency_id""",
    ),
}


async def summed(conn: asyncpg.Connection, table: str, first: date, upto: date) -> dict[int, Part]:
    """Per agency, the ``table`` summaries of ``first``..``upto`` (made current by :func:`settled`)
    added up: counts summed, seconds concatenated."""
    if upto < first:
        return {}
    counts, seconds, query = _TABLES[table]
    token = await conn.fetchrow(
        """SELECT current_database() AS db, count(*) AS n, coalesce(sum(version), 0) AS v,
                  coalesce(sum(built_version), 0) AS b
             FROM dash_rollup_day WHERE kind = 'incident' AND day >= $1 AND day <= $2""",
        first,
        upto,
    )
    key = (token["db"], table, first, upto, token["n"], token["v"], token["b"])
    hit = _SUMMED.get(key)
    if hit is not None:
        _SUMMED.move_to_end(key)
        return hit
    rows = await conn.fetch(query, first, upto)
    out = {r["agency_id"]: Part({c: r[c] for c in counts}, {c: values(r[c]) for c in seconds}) for r in rows}
    _SUMMED[key] = out
    while len(_SUMMED) > SUMMED_KEEP:
        _SUMMED.popitem(last=False)
    return out


def parts(rows: Iterable[asyncpg.Record], counts: Sequence[str], seconds: Sequence[str]) -> dict[int, Part]:
    """Per agency, the live rows' counts and seconds (``agency_id`` and the named columns)."""
    return {r["agency_id"]: Part({c: r[c] for c in counts}, {c: values(r[c]) for c in seconds}) for r in rows}


def added(*shares: dict[int, Part]) -> dict[int, Part]:
    out: dict[int, Part] = {}
    for share in shares:
        for agency, part in share.items():
            out[agency] = out[agency].add(part) if agency in out else part
    return out


async def named(conn: asyncpg.Connection, ids: Iterable[int]) -> list[tuple[int, str]]:
    """(id, name) of the agencies, in the database's order of names."""
    rows = await conn.fetch("SELECT id, name FROM agency WHERE id = ANY($1::bigint[]) ORDER BY name", list(ids))
    return [(r["id"], r["name"]) for r in rows]
