"""The ingress benchmark runs end to end (a short run; the figures are not checked here)."""

from __future__ import annotations

import asyncpg

from bench import ingress as ingress_bench
from core.settings import Settings
from gateway.store import AlertPipeline


async def test_bench_smoke(pool: asyncpg.Pool, pipeline: AlertPipeline, settings: Settings) -> None:
    printed: list[str] = []
    rows = await ingress_bench.run(settings, pipeline, seconds=0.2, clients=2, out=printed.append)
    assert [r.path for r in rows] == [
        "OsmAnd position (HTTP)",
        "OsmAnd SOS -> incident",
        "GT06 location (TCP)",
        "GT06 SOS -> incident",
    ]
    assert all(r.ops > 0 and r.ceiling_per_s > 0 for r in rows)
    assert "ratio" in printed[0]
    incidents = await pool.fetchval("SELECT count(*) FROM incident")
    assert incidents == rows[1].ops + rows[3].ops
