"""The geo benchmark runs and reports what `siaga bench geo` prints (speed itself is not asserted
here: the machine is shared; run `python -m bench.geo` to measure)."""

from __future__ import annotations

import io

from bench import geo as geo_bench
from core.areas import AreaIndex


def test_bench_reports_both_indexes(desa_index: AreaIndex, kecamatan_index: AreaIndex) -> None:
    out = io.StringIO()
    indexes = {"desa": desa_index, "kecamatan": kecamatan_index}
    result = geo_bench.run(seconds=0.2, out=out, samples=2000, indexes=indexes)
    for level, areas in (("desa", 265), ("kecamatan", 15)):
        r = result[level]
        assert r["areas"] == areas
        assert r["single_per_s"] > 0 and r["batch_points_per_s"] > 0
        assert 0 < r["lookup_p50_us"] <= r["lookup_p99_us"] <= r["lookup_max_us"]
    assert result["place_p99_us"] > 0
    assert 0.2 < result["outside_share"] < 0.8
    assert isinstance(result["bars_met"], bool)
    text = out.getvalue()
    assert "lookup/s" in text and "batch pts/s" in text and "p99" in text
    assert "desa" in text and "kecamatan" in text and "bars:" in text
