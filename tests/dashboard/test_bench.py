"""The dashboard benchmark's HTTP harness on a small seeded regency: it starts the whole web app,
finds the dashboard's routes from the page's own links, times each, and prints the raw baseline."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from bench.dashboard import BAR_MS, bench_http, links_in
from complaints.synthetic import seed_synthetic
from core.db import open_pool


def test_links_in_keeps_same_origin_dashboard_links_only() -> None:
    base = "http://127.0.0.1:8080/dasbor?hari=7"
    page = """<a href="?hari=30">30</a> <a href="/dasbor/rincian/pengaduan?warna=merah&amp;dari=2026-11-01">3</a>
    <img src="/dasbor/grafik/kedaruratan.svg?hari=7"> <a href="http://example.org/dasbor/x">luar</a>
    <a href="/pengaduan/12">rekaman</a> <div data-src="/dasbor/kecamatan.json?hari=7"></div>
    <script>fetch(`/dasbor/${name}.json`); const u = "/dasbor/desa.json";</script>"""
    assert links_in(base, page) == [
        "http://127.0.0.1:8080/dasbor?hari=30",
        "http://127.0.0.1:8080/dasbor/rincian/pengaduan?warna=merah&dari=2026-11-01",
        "http://127.0.0.1:8080/dasbor/grafik/kedaruratan.svg?hari=7",
        "http://127.0.0.1:8080/dasbor/kecamatan.json?hari=7",
        "http://127.0.0.1:8080/dasbor/desa.json",
    ]


async def test_http_crawl_discovers_and_times_the_dashboard(pool: asyncpg.Pool, db_dsn: str) -> None:
    await seed_synthetic(pool, 2000, 500, now=datetime.now(UTC), batch=1000, seed=3)
    # Migration 0016 turns JIT off for the database it runs in; a database cloned from the migrated
    # template does not inherit that setting, so it is set here and read by a new pool.
    await pool.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$")
    printed: list[str] = []
    async with open_pool(db_dsn, min_size=2, max_size=6) as fresh:
        assert await fresh.fetchval("SHOW jit") == "off"
        # few runs and URLs: this checks the harness, the numbers come from `siaga bench dashboard`
        result = await bench_http(
            fresh, db_dsn, runs=2, periods=(7, 365), per_route=1, max_urls=60, pdf=False, progress=printed.append
        )

    baseline = result["baseline"]
    assert set(baseline) == {"SELECT 1 on the pool", "GET a static file"}
    assert all(b["p50_ms"] > 0 for b in baseline.values())
    assert any(line.startswith("RAW BASELINE  SELECT 1") for line in printed)
    routes = result["routes"]
    # found from links, not named: the page at each period, its charts, the map's counts, the
    # drill-down lists behind the numbers, the CSV and Excel of each table
    assert {
        "/dasbor?hari=7",
        "/dasbor?hari=365",
        "/dasbor/grafik/{name}.svg",
        "/dasbor/wilayah.json",
        "/dasbor/rincian/pengaduan",
        "/dasbor/rincian/kedaruratan",
        "/dasbor/{table}.csv",
    } <= set(routes), sorted(routes)
    assert sum(len(u) for u in result["discovered"].values()) <= 60
    for key, r in routes.items():
        assert r["runs"] == 2 and r["statuses"] == {"200": 2}, (key, r)
        assert r["p50_ms"] <= r["p95_ms"] <= r["max_ms"]
        assert r["pass"] == (r["p95_ms"] < BAR_MS)
        assert any(line.lstrip().startswith(key) and ("PASS" in line or "FAIL" in line) for line in printed), key
    csv_urls = result["discovered"]["/dasbor/{table}.csv"]
    assert csv_urls and all("/dasbor/" in u and ".csv" in u for u in csv_urls)
    assert result["pass"] == all(r["pass"] for r in routes.values())
