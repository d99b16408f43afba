"""Dashboard benchmark: p50/p95 of each dashboard query and of the whole page's queries.

``python -m complaints.bench DSN [--seed N --incidents M] [--runs R]`` (the database must be
migrated; with --seed it is first filled by :func:`complaints.synthetic.seed_synthetic`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from complaints import dashboard


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def bench_dashboard(
    pool: asyncpg.Pool, *, runs: int = 30, days: int = dashboard.DEFAULT_DAYS, now: datetime | None = None
) -> dict[str, dict[str, float]]:
    """Milliseconds per dashboard query over ``runs`` runs (after one warm-up): p50, p95, max."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    cases: dict[str, Callable[[asyncpg.Connection], Awaitable[object]]] = {
        "status": lambda c: dashboard.status_counts(c, since),
        "warna": lambda c: dashboard.colour_counts(c, now),
        "opd": lambda c: dashboard.opd_compliance(c, since, now),
        "merah": lambda c: dashboard.red_list(c, now),
        "kecamatan": lambda c: dashboard.by_kecamatan(c, since),
        "tren": lambda c: dashboard.monthly_trend(c, since),
        "page": lambda c: dashboard.all_tables(c, now, days),
    }
    out: dict[str, dict[str, float]] = {}
    async with pool.acquire() as conn:
        for name, run in cases.items():
            await run(conn)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                await run(conn)
                times.append((time.perf_counter() - t) * 1000)
            out[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(_p(times, 0.95), 1),
                "max_ms": round(max(times), 1),
            }
    return out


async def _main(args: argparse.Namespace) -> None:
    from complaints.synthetic import seed_synthetic
    from core.db import open_pool

    async with open_pool(args.dsn, min_size=1, max_size=2) as pool:
        if args.seed:
            s = await seed_synthetic(
                pool, args.seed, args.incidents, batch=args.batch, progress=lambda m: print(" ", m, flush=True)
            )
            print(
                f"seeded {s.complaints} complaints, {s.dispositions} dispositions, {s.incidents} incidents "
                f"in {s.seconds:.0f} s"
            )
        counts = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM complaint) AS c, (SELECT count(*) FROM incident) AS i"
        )
        print(f"database: {counts['c']} complaints, {counts['i']} incidents")
        for days in args.days:
            for name, r in (await bench_dashboard(pool, runs=args.runs, days=days)).items():
                print(
                    f"{days:4d} d  {name:7s} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms"
                    f"  max {r['max_ms']:7.1f}"
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dsn")
    p.add_argument("--seed", type=int, default=0, help="synthetic complaints to add first")
    p.add_argument("--incidents", type=int, default=0)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--batch", type=int, default=5000, help="rows per seeding transaction")
    p.add_argument("--days", type=int, nargs="+", default=[30, 90, 365])
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
