"""``siaga bench geo``: how fast points are placed in desa and kecamatan.

Measures, for the desa index (265 polygons) and the kecamatan index (15), single-point `lookup`
calls per second, `lookup_many` points per second, and the latency distribution of `lookup`; and
the p99 of the whole pure placement step of the alert path (fallback chain + lookup + covering
police unit). Everything runs on one core: GEOS and these numpy paths do not use threads.

Points are uniform over the regency's bounding box plus ~1 km, so about half fall outside the
regency and many fall near a boundary; alerts in practice cluster inside, which is cheaper.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import numpy as np
import shapely

from core.areas import AreaIndex
from gateway.jurisdiction import Jurisdiction
from gateway.locate import DeviceLocation, LocateLimits, choose_location
from gateway.payloads import Location

log = logging.getLogger(__name__)

SINGLE_BAR_PER_S = 50_000
BATCH_BAR_PER_S = 500_000
PLACE_P99_BAR_US = 1000.0
_N_POINTS = 200_000
_BATCH = 100_000
_LATENCY_SAMPLES = 20_000


def _points(index: AreaIndex, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(index.geometries)
    margin = 0.01  # ~1.1 km
    return rng.uniform(y0 - margin, y1 + margin, n), rng.uniform(x0 - margin, x1 + margin, n)


class _Live:
    """A rate line rewritten in place while a measurement runs."""

    def __init__(self, out: TextIO, label: str, unit: str) -> None:
        self.out, self.label, self.unit = out, label, unit
        self.last = 0.0

    def update(self, count: int, elapsed: float, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last >= 0.2:
            self.last = now
            rate = count / elapsed if elapsed > 0 else 0.0
            print(f"\r  {self.label:<28} {rate:>14,.0f} {self.unit}", end="", file=self.out, flush=True)

    def done(self) -> None:
        print("\r" + " " * 60 + "\r", end="", file=self.out, flush=True)


def _rate(step: Callable[[int], int], seconds: float, live: _Live) -> float:
    """Points per second of ``step(k)`` (round ``k``, returning the points it looked up), called
    until ``seconds`` have passed."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    k = 0
    while True:
        count += step(k)
        k += 1
        now = time.perf_counter()
        live.update(count, now - start)
        if now >= deadline:
            break
    live.done()
    return count / (now - start)


def _single_rate(index: AreaIndex, lats: list[float], lons: list[float], seconds: float, live: _Live) -> float:
    lookup = index.lookup
    n = len(lats)

    def step(k: int) -> int:
        for j in range(k * 2000, k * 2000 + 2000):
            lookup(lats[j % n], lons[j % n])
        return 2000

    return _rate(step, seconds, live)


def _batch_rate(index: AreaIndex, lats: np.ndarray, lons: np.ndarray, seconds: float, live: _Live) -> float:
    chunks = [(lats[s : s + _BATCH], lons[s : s + _BATCH]) for s in range(0, len(lats), _BATCH)]

    def step(k: int) -> int:
        la, lo = chunks[k % len(chunks)]
        index.lookup_many(la, lo)
        return len(la)

    return _rate(step, seconds, live)


def _latencies_us(index: AreaIndex, lats: list[float], lons: list[float]) -> np.ndarray:
    clock = time.perf_counter_ns
    lookup = index.lookup
    out = np.empty(len(lats), dtype=np.float64)
    for k, (la, lo) in enumerate(zip(lats, lons, strict=True)):
        t0 = clock()
        lookup(la, lo)
        out[k] = clock() - t0
    return out / 1000.0


def _place_latencies_us(index: AreaIndex, lats: list[float], lons: list[float]) -> np.ndarray:
    """The pure part of placing an alert: fallback chain, area lookup, covering police unit."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    limits = LocateLimits()
    device = DeviceLocation()
    jurisdiction = Jurisdiction(polsek={"33.07.09": 2}, polres_id=1, command_centre_id=3, dishub_posts=())
    fix_ts = now - timedelta(seconds=5)
    locs = [Location(lat=la, lon=lo, acc=10.0, fix_ts=fix_ts.timestamp()) for la, lo in zip(lats, lons, strict=True)]
    clock = time.perf_counter_ns
    out = np.empty(len(locs), dtype=np.float64)
    for k, loc in enumerate(locs):
        t0 = clock()
        located = choose_location(loc=loc, alert_ts=None, received_at=now, device=device, tower=None, limits=limits)
        assert located.lat is not None and located.lon is not None
        m = index.lookup(located.lat, located.lon)
        jurisdiction.police_unit_for(m.kecamatan_code)
        out[k] = clock() - t0
    return out / 1000.0


def run(
    seconds: float = 3.0,
    out: TextIO | None = None,
    *,
    samples: int = _LATENCY_SAMPLES,
    indexes: Mapping[str, AreaIndex] | None = None,
) -> dict[str, Any]:
    """Run the benchmark for about ``seconds`` (plus index builds and ``samples`` timed lookups
    per index for the latency percentiles) and print a table. ``indexes`` ("desa", "kecamatan")
    skips the builds (their build time is then reported as 0)."""
    out = out if out is not None else sys.stdout
    results: dict[str, Any] = {}
    built: dict[str, tuple[AreaIndex, float]] = {}
    for level in ("desa", "kecamatan"):
        if indexes is not None:
            built[level] = (indexes[level], 0.0)
            continue
        t0 = time.perf_counter()
        built[level] = (AreaIndex.load(level), time.perf_counter() - t0)  # type: ignore[arg-type]
    desa = built["desa"][0]
    lats_np, lons_np = _points(desa, _N_POINTS)
    lats, lons = lats_np.tolist(), lons_np.tolist()
    outside = float(desa.lookup_many(lats_np, lons_np).outside.mean())
    print(
        f"geo bench: {_N_POINTS:,} random points over the regency's bounding box + 1 km "
        f"({outside:.0%} outside), one core",
        file=out,
    )
    share = seconds / 4.0  # two measurements per index
    for level, (index, build_s) in built.items():
        single = _single_rate(index, lats, lons, share, _Live(out, f"{level} lookup", "lookups/s"))
        batch = _batch_rate(index, lats_np, lons_np, share, _Live(out, f"{level} lookup_many", "points/s"))
        lat_us = _latencies_us(index, lats[:samples], lons[:samples])
        results[level] = {
            "areas": len(index),
            "build_s": round(build_s, 3),
            "single_per_s": round(single),
            "batch_points_per_s": round(batch),
            "lookup_p50_us": round(float(np.percentile(lat_us, 50)), 2),
            "lookup_p99_us": round(float(np.percentile(lat_us, 99)), 2),
            "lookup_max_us": round(float(lat_us.max()), 1),
        }
    place_us = _place_latencies_us(desa, lats[:samples], lons[:samples])
    results["place_p99_us"] = round(float(np.percentile(place_us, 99)), 2)
    results["points"] = _N_POINTS
    results["outside_share"] = round(outside, 3)
    results["bars"] = {
        "single_per_s": SINGLE_BAR_PER_S,
        "batch_points_per_s": BATCH_BAR_PER_S,
        "place_p99_us": PLACE_P99_BAR_US,
    }
    results["bars_met"] = bool(
        results["desa"]["single_per_s"] >= SINGLE_BAR_PER_S
        and results["desa"]["batch_points_per_s"] >= BATCH_BAR_PER_S
        and results["place_p99_us"] < PLACE_P99_BAR_US
    )

    header = f"{'index':<10} {'areas':>5} {'build s':>8} {'lookup/s':>11} {'batch pts/s':>12} "
    header += f"{'p50 µs':>7} {'p99 µs':>7} {'max µs':>8}"
    print(header, file=out)
    for level in ("desa", "kecamatan"):
        r = results[level]
        print(
            f"{level:<10} {r['areas']:>5} {r['build_s']:>8.2f} {r['single_per_s']:>11,} "
            f"{r['batch_points_per_s']:>12,} {r['lookup_p50_us']:>7.1f} {r['lookup_p99_us']:>7.1f} "
            f"{r['lookup_max_us']:>8.0f}",
            file=out,
        )
    print(
        f"placement (chain + desa lookup + police unit), p99: {results['place_p99_us']:.1f} µs",
        file=out,
    )
    verdict = "OK" if results["bars_met"] else "NOT MET"
    print(
        f"bars: lookup >= {SINGLE_BAR_PER_S:,}/s, batch >= {BATCH_BAR_PER_S:,} points/s, "
        f"placement p99 < {PLACE_P99_BAR_US:,.0f} µs: {verdict}",
        file=out,
    )
    return results


if __name__ == "__main__":
    run()
