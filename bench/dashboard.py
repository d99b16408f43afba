"""Dashboard benchmark: every dashboard route over HTTP, and each dashboard query on its own.

``python -m bench.dashboard DSN [--seed N --incidents M] [--runs R]`` (the database must be
migrated; with --seed it is first filled by :func:`complaints.synthetic.seed_synthetic`), or
``siaga bench dashboard`` against SIAGA_DATABASE_URL.

Over HTTP the whole web app runs in this process on loopback; a crawler signed in as a leader
follows every /dasbor link the page offers at each period (drill-down lists, charts, CSV/Excel,
reports), so pages added later are timed without naming them here. Each route template is timed
after a warm-up beside a raw baseline from the same run (a SELECT 1 and a static file), against
the issue's bar: p95 < 300 ms per page and chart, the weekly PDF < 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import asyncpg
from aiohttp import web

from core.settings import Settings
from dashboard import tables as dashboard
from dashboard.period import Period

# the presence staleness the page uses by default
STALE_S: float = Settings.model_fields["presence_stale_s"].default


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def bench_dashboard(
    pool: asyncpg.Pool, *, runs: int = 30, days: int = 30, now: datetime | None = None
) -> dict[str, dict[str, float]]:
    """Milliseconds per dashboard query over ``runs`` runs (after one warm-up): p50, p95, max."""
    now = now or datetime.now(UTC)
    period = Period.last_days(days, now)
    # the page's tables, each as the page asks for it
    queries = dashboard.makers(period, now, STALE_S)
    def on_connection(query: Callable[[asyncpg.Connection], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def call() -> object:
            async with pool.acquire() as conn:
                return await query(conn)

        return call

    async def whole_page() -> object:
        return await dashboard.all_tables(pool, now, period, presence_stale_s=STALE_S)

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


# --- the whole web app over HTTP ------------------------------------------------------------------

BAR_MS = 300.0  # issue 16: every dashboard page and chart p95 < 300 ms at 1M complaints / 200k incidents
PDF_BAR_S = 10.0
PERIODS = (7, 30, 90, 365)
# Where links are: href/src/data-src and the like, then any quoted /dasbor path (a script's fetch)
_LINK = re.compile(r"""(?:href|src|data|data-[a-z-]+|action)\s*=\s*["']([^"'#]+)["']""", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"""["'`](/dasbor[^"'`\s<>]*)["'`]""")
# text formats a browser downloads: timed, never parsed for links
_BINARY = (".xlsx", ".pdf", ".png", ".svg", ".csv", ".json", ".css", ".js")


@dataclass
class RouteTiming:
    """One route template's timings (ms) and what was sampled."""

    route: str
    urls: list[str]
    times_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        t = self.times_ms
        return {
            "route": self.route,
            "urls": self.urls,
            "runs": len(t),
            "p50_ms": round(statistics.median(t), 1) if t else None,
            "p95_ms": round(_p(t, 0.95), 1) if t else None,
            "max_ms": round(max(t), 1) if t else None,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "pass": bool(t) and _p(t, 0.95) < BAR_MS and set(self.statuses) == {200},
        }


def links_in(base: str, body: str) -> list[str]:
    """Same-origin URLs under /dasbor that ``body`` (HTML or a script) points to, absolute."""
    origin = urlsplit(base)
    found = [html.unescape(m) for m in _LINK.findall(body)] + [html.unescape(m) for m in _QUOTED_PATH.findall(body)]
    out: list[str] = []
    for link in found:
        if "{" in link or "${" in link:  # a template in a script, not a URL
            continue
        url = urljoin(base, link)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            continue
        if parts.path == "/dasbor" or parts.path.startswith("/dasbor/") or parts.path.startswith("/static/dashboard"):
            out.append(url)
    return list(dict.fromkeys(out))


async def _route_header(request: web.Request, response: web.StreamResponse) -> None:
    """The route template that answered, so the crawler groups URLs the way the server does."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    response.headers["X-Bench-Route"] = resource.canonical if resource is not None else "?"


def _key(route: str, url: str) -> str:
    """The page itself is timed per period (a year's page reads more than a week's)."""
    if route == "/dasbor":
        q = dict(parse_qsl(urlsplit(url).query))
        if set(q) <= {"hari"}:
            return f"/dasbor?hari={q.get('hari', 'bawaan')}"
    return route


async def bench_http(
    pool: asyncpg.Pool,
    dsn: str,
    *,
    runs: int = 20,
    periods: Sequence[int] = PERIODS,
    per_route: int = 6,
    max_urls: int = 400,
    pdf: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start the whole web app (``siaga.webapp.create_app``) on loopback, sign in as a leader,
    crawl every same-origin /dasbor link from the page at each period, and time each route
    template ``runs`` times after a warm-up, beside a raw baseline measured in the same run."""
    import aiohttp

    from core import auth
    from core.settings import Settings
    from siaga.webapp import create_app

    settings = Settings(database_url=dsn, complaint_sweep_s=0)
    username, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with pool.acquire() as conn:
        await auth.create_user(conn, username, password, "leader", full_name="benchmark")
        token, _ = await auth.login(conn, settings, username, password, kind="api")
    app = create_app(settings, pool)
    app.on_response_prepare.append(_route_header)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"bar_ms": BAR_MS}
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            out["baseline"] = await _baseline(pool, s, base, runs, progress)
            groups = await _crawl(s, base, periods, per_route, max_urls, progress)
            out["discovered"] = {k: g.urls for k, g in groups.items()}
            progress(f"timing {len(groups)} routes, {runs} runs each after a warm-up (p95 bar {BAR_MS:.0f} ms)")
            progress(f"  {'route':<48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  result")
            for key, g in groups.items():
                for i in range(runs):
                    url = g.urls[i % len(g.urls)]
                    t = time.perf_counter()
                    async with s.get(url, allow_redirects=False) as r:
                        await r.read()
                        g.statuses[r.status] = g.statuses.get(r.status, 0) + 1
                    g.times_ms.append((time.perf_counter() - t) * 1000)
                r = g.summary()
                verdict = "PASS" if r["pass"] else "FAIL"
                if set(g.statuses) != {200}:
                    verdict += f" (status {sorted(g.statuses)})"
                progress(f"  {key:<48} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f}  {verdict}")
            out["routes"] = {k: g.summary() for k, g in groups.items()}
    finally:
        await runner.cleanup()
    if pdf:
        out["pdf"] = await bench_weekly_pdf(pool, progress)
    out["pass"] = bool(out["routes"]) and all(r["pass"] for r in out["routes"].values())
    return out


async def _baseline(
    pool: asyncpg.Pool, s: Any, base: str, runs: int, progress: Callable[[str], None]
) -> dict[str, dict[str, float]]:
    """What nothing in the dashboard can beat: a database round trip and a static file over HTTP."""
    import aiohttp

    async def select_one() -> None:
        await pool.fetchval("SELECT 1")

    async def static() -> None:
        async with s.get(f"{base}/static/dashboard/dasbor.css") as r:
            if r.status != 200:
                raise aiohttp.ClientError(f"static file answered {r.status}")
            await r.read()

    out = {}
    for name, call in (("SELECT 1 on the pool", select_one), ("GET a static file", static)):
        await call()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(_p(times, 0.95), 2)}
        progress(f"RAW BASELINE  {name:<24} p50 {out[name]['p50_ms']:7.2f} ms  p95 {out[name]['p95_ms']:7.2f} ms")
    return out


async def _crawl(
    s: Any, base: str, periods: Sequence[int], per_route: int, max_urls: int, progress: Callable[[str], None]
) -> dict[str, RouteTiming]:
    """Breadth-first from /dasbor at each period, two links deep, staying under /dasbor; each URL
    fetched once here (the warm-up). Up to ``per_route`` URLs are kept per route template."""
    groups: dict[str, RouteTiming] = {}
    seen: set[str] = set()
    queue: list[tuple[str, int]] = [(f"{base}/dasbor?hari={d}", 0) for d in periods]
    scripts = 0
    # URLs fetched per path: a page links the same list with a hundred filters, and fetching them
    # all would spend the crawl on one route before it reaches the CSV at the bottom of the page
    per_path: dict[str, int] = {}
    while queue and len(seen) < max_urls:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        parts = urlsplit(url)
        if parts.path != "/dasbor" and per_path.get(parts.path, 0) >= per_route:
            continue
        per_path[parts.path] = per_path.get(parts.path, 0) + 1
        if parts.path == "/dasbor" and depth and set(q := dict(parse_qsl(parts.query))) == {"hari"}:
            if q["hari"] not in {str(d) for d in periods}:
                continue  # the period selector: the periods asked for are timed, not every one offered
        seen.add(url)
        async with s.get(url, allow_redirects=False) as r:
            body = await r.read()
            route = r.headers.get("X-Bench-Route", "?")
            ctype = r.headers.get("Content-Type", "")
            status = r.status
        path = urlsplit(url).path
        if path.startswith("/static/"):
            if path.endswith(".js") and status == 200:  # a script's fetch URLs are links too
                scripts += 1
                queue.extend((u, depth + 1) for u in links_in(url, body.decode("utf-8", "replace")) if u not in seen)
            continue
        key = _key(route, url)
        g = groups.setdefault(key, RouteTiming(route=route, urls=[]))
        if len(g.urls) < per_route:
            g.urls.append(url)
        if status != 200:
            progress(f"  ! {url[len(base) :]} answered {status}")
        if depth < 2 and status == 200 and "html" in ctype and not path.endswith(_BINARY):
            queue.extend((u, depth + 1) for u in links_in(url, body.decode("utf-8", "replace")) if u not in seen)
    progress(
        f"crawl: {len(seen)} URLs fetched ({scripts} scripts read), {len(groups)} route templates: "
        + ", ".join(sorted(groups))
    )
    return groups


async def bench_weekly_pdf(pool: asyncpg.Pool, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """The regent's weekly PDF of last week (what Monday's schedule makes), built and not kept:
    one warm-up and three timed runs against the 10 s bar."""
    from dashboard import reports
    from dashboard.period import week_before

    now = datetime.now(UTC)
    period = week_before(now)
    times = []
    size = pages = 0
    for i in range(4):
        t = time.perf_counter()
        pdf, pages = await reports.build_pdf(pool, "bupati", period, now)
        size = len(pdf)
        if i:
            times.append(time.perf_counter() - t)
        progress(f"weekly PDF run {i + 1}/4: {time.perf_counter() - t:.2f} s{' (warm-up)' if not i else ''}")
    worst = max(times)
    verdict = "PASS" if worst < PDF_BAR_S else "FAIL"
    progress(
        f"weekly PDF ({period.words()}, {pages} pages, {size // 1024} KiB): median {statistics.median(times):.2f} s"
        f"  max {worst:.2f} s  (bar {PDF_BAR_S:.0f} s)  {verdict}"
    )
    return {"available": True, "seconds": times, "pages": pages, "bytes": size, "pass": worst < PDF_BAR_S}


async def _main(args: argparse.Namespace) -> None:
    from complaints.synthetic import seed_synthetic
    from core.db import open_pool

    async with open_pool(args.dsn, min_size=2, max_size=8) as pool:
        if args.seed:
            s = await seed_synthetic(
                pool, args.seed, args.incidents, batch=args.batch, progress=lambda m: print(" ", m, flush=True)
            )
            print(
                f"seeded {s.complaints} complaints, {s.dispositions} dispositions, {s.incidents} incidents "
                f"in {s.seconds:.0f} s"
            )
        await run_all(pool, args.dsn, runs=args.runs, days=args.days, http=not args.no_http)


async def run_all(
    pool: asyncpg.Pool, dsn: str, *, runs: int, days: Sequence[int] = PERIODS, http: bool = True
) -> dict[str, Any]:
    """What ``siaga bench dashboard`` prints: the database's size, each query per period, then
    every route over HTTP and the weekly PDF."""
    counts = await pool.fetchrow("SELECT (SELECT count(*) FROM complaint) AS c, (SELECT count(*) FROM incident) AS i")
    print(f"database: {counts['c']} complaints, {counts['i']} incidents", flush=True)
    results: dict[str, Any] = {"complaints": counts["c"], "incidents": counts["i"], "queries": {}}
    for d in days:
        print(f"\ndashboard queries over {d} days: {'query':<10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        res = await bench_dashboard(pool, runs=runs, days=d)
        results["queries"][f"{d}d"] = res
        for name, r in res.items():
            print(f"{'':<35}{name:<10} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f}", flush=True)
    if http:
        print("\nover HTTP (the whole web app, signed in as a leader):", flush=True)
        results["http"] = await bench_http(pool, dsn, runs=runs, periods=days, progress=lambda m: print(m, flush=True))
        verdict = "PASS" if results["http"]["pass"] else "FAIL"
        print(f"\ndashboard over HTTP: {verdict} (every route p95 < {BAR_MS:.0f} ms)", flush=True)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dsn")
    p.add_argument("--seed", type=int, default=0, help="synthetic complaints to add first")
    p.add_argument("--incidents", type=int, default=0)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--no-http", action="store_true", help="only the queries, not the pages over HTTP")
    p.add_argument("--batch", type=int, default=5000, help="rows per seeding transaction")
    p.add_argument("--days", type=int, nargs="+", default=list(PERIODS))
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
