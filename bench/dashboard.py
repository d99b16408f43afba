"""Dashboard benchmark: p50/p95 of each dashboard query and of the whole page's queries.

``python -m bench.dashboard DSN [--seed N --incidents M] [--runs R]`` (the database must be
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

from dashboard import tables as dashboard


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def bench_dashboard(
    pool: asyncpg.Pool, *, runs: int = 30, days: int = dashboard.DEFAULT_DAYS, now: datetime | None = None
) -> dict[str, dict[str, float]]:
    """Milliseconds per dashboard query over ``runs`` runs (after one warm-up): p50, p95, max."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    queries: dict[str, Callable[[asyncpg.Connection], Awaitable[object]]] = {
        "status": lambda c: dashboard.status_counts(c, since),
        "warna": lambda c: dashboard.colour_counts(c, now),
        "opd": lambda c: dashboard.opd_compliance(c, since, now),
        "merah": lambda c: dashboard.red_list(c, now),
        "kecamatan": lambda c: dashboard.by_kecamatan(c, since),
        "tren": lambda c: dashboard.monthly_trend(c, since),
    }

    def on_connection(query: Callable[[asyncpg.Connection], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def call() -> object:
            async with pool.acquire() as conn:
                return await query(conn)

        return call

    async def whole_page() -> object:
        return await dashboard.all_tables(pool, now, days)

    cases = {name: on_connection(q) for name, q in queries.items()} | {"page": whole_page}
    out: dict[str, dict[str, float]] = {}
    for name, call in cases.items():
        await call()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_p(times, 0.95), 1),
            "max_ms": round(max(times), 1),
        }
    return out


async def bench_http(pool: asyncpg.Pool, dsn: str, *, runs: int = 30, days: int = 365) -> dict[str, float]:
    """The whole ``/dasbor`` page over HTTP as a signed-in leader (auth, queries, HTML): p50/p95 ms."""
    import secrets

    import aiohttp
    from aiohttp import web

    from core import appkeys, auth
    from core.settings import Settings
    from dashboard import web as dashboard_web

    settings = Settings(database_url=dsn, complaint_sweep_s=0)
    username, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with pool.acquire() as conn:
        await auth.create_user(conn, username, password, "leader", full_name="benchmark")
        token, _ = await auth.login(conn, settings, username, password, kind="api")
    app = web.Application(middlewares=[auth.auth_middleware])
    app[appkeys.SETTINGS] = settings
    app[appkeys.POOL] = pool
    dashboard_web.setup(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    times = []
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            for i in range(runs + 1):
                t = time.perf_counter()
                async with s.get(f"http://127.0.0.1:{port}/dasbor?hari={days}") as r:
                    assert r.status == 200, r.status
                    await r.read()
                if i:
                    times.append((time.perf_counter() - t) * 1000)
    finally:
        await runner.cleanup()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(_p(times, 0.95), 1)}


async def _main(args: argparse.Namespace) -> None:
    from complaints.synthetic import seed_synthetic
    from core.db import open_pool

    async with open_pool(args.dsn, min_size=2, max_size=6) as pool:
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
            if args.http:
                h = await bench_http(pool, args.dsn, runs=args.runs, days=days)
                print(f"{days:4d} d  GET /dasbor over HTTP  p50 {h['p50_ms']:7.1f} ms  p95 {h['p95_ms']:7.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dsn")
    p.add_argument("--seed", type=int, default=0, help="synthetic complaints to add first")
    p.add_argument("--incidents", type=int, default=0)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--http", action="store_true", help="also time GET /dasbor over HTTP as a leader")
    p.add_argument("--batch", type=int, default=5000, help="rows per seeding transaction")
    p.add_argument("--days", type=int, nargs="+", default=[30, 90, 365])
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
