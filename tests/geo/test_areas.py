"""Point to desa/kecamatan: known places, every desa, the hairline gaps, shared borders, overlaps,
and the grid-accelerated lookups against the plain rule."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import shapely

from core.areas import OUTSIDE, AreaIndex, AreaMatch, desa_kind, kecamatan_code_of

# (place, lat, lon, desa code, desa name, kecamatan code, kecamatan name); desa None = outside.
# Landmarks whose desa is known independently of these polygons (each answer is also > 30 m inside
# its polygon, so a few metres of coordinate error do not matter), and towns of the neighbouring
# regencies.
KNOWN_PLACES = [
    ("Alun-alun Wonosobo", -7.3605, 109.9030, "33.07.09.1021", "Wonosobo Timur", "33.07.09", "Wonosobo"),
    ("Telaga Cebong, Sembungan", -7.2337, 109.9195, "33.07.13.2003", "Sembungan", "33.07.13", "Kejajar"),
    ("Desa Sembungan", -7.2357, 109.9226, "33.07.13.2003", "Sembungan", "33.07.13", "Kejajar"),
    ("Bukit Sikunir", -7.2376, 109.9256, "33.07.13.2003", "Sembungan", "33.07.13", "Kejajar"),
    ("Candi Arjuna, Dieng Kulon (Banjarnegara)", -7.2052, 109.9069, None, None, None, None),
    ("Kota Banjarnegara", -7.3960, 109.6960, None, None, None, None),
    ("Kota Temanggung", -7.3150, 110.1750, None, None, None, None),
    ("Kota Purworejo", -7.7130, 110.0080, None, None, None, None),
    ("Monas, Jakarta", -6.1754, 106.8272, None, None, None, None),
    ("0,0 (GPS without a fix)", 0.0, 0.0, None, None, None, None),
]


@pytest.mark.parametrize(("place", "lat", "lon", "desa", "desa_name", "kec", "kec_name"), KNOWN_PLACES)
def test_known_places(
    desa_index: AreaIndex,
    kecamatan_index: AreaIndex,
    place: str,
    lat: float,
    lon: float,
    desa: str | None,
    desa_name: str | None,
    kec: str | None,
    kec_name: str | None,
) -> None:
    m = desa_index.lookup(lat, lon)
    assert (m.desa_code, m.desa_name, m.kecamatan_code, m.kecamatan_name) == (desa, desa_name, kec, kec_name)
    assert m.outside is (desa is None)
    assert m.distance_m == (None if desa is None else 0.0)
    k = kecamatan_index.lookup(lat, lon)
    assert (k.kecamatan_code, k.kecamatan_name, k.outside) == (kec, kec_name, kec is None)
    assert k.desa_code is None
    if desa is not None:  # the table's answers are robust: deep inside their polygon
        assert desa_index.distance_m(desa, lat, lon) == 0.0
        assert desa_index.depth_m(desa, lat, lon) > 30


def test_alun_alun_is_a_kelurahan(desa_index: AreaIndex) -> None:
    m = desa_index.lookup(-7.3605, 109.9030)
    assert m.desa_kind == "kelurahan"
    assert desa_kind("33.07.13.2003") == "desa"
    assert kecamatan_code_of("33.07.09.1021") == "33.07.09"


def test_shipped_data_counts(desa_index: AreaIndex, kecamatan_index: AreaIndex) -> None:
    assert len(desa_index) == 265
    assert len(kecamatan_index) == 15
    assert sum(a.kind == "kelurahan" for a in desa_index.areas) == 29
    assert {a.kecamatan_code for a in desa_index.areas} == {a.code for a in kecamatan_index.areas}
    for a in desa_index.areas:
        assert a.kecamatan_code == a.code[:8]
        assert a.kecamatan_name == kecamatan_index.area(a.kecamatan_code).name


def test_every_desa_representative_point_maps_back(desa_index: AreaIndex) -> None:
    pts = shapely.point_on_surface(desa_index.geometries)
    lats, lons = shapely.get_y(pts), shapely.get_x(pts)
    for area, lat, lon in zip(desa_index.areas, lats.tolist(), lons.tolist(), strict=True):
        m = desa_index.lookup(lat, lon)
        assert (m.desa_code, m.distance_m) == (area.code, 0.0), area
    batch = desa_index.lookup_many(lats, lons)
    assert batch.codes() == [a.code for a in desa_index.areas]
    assert np.all(batch.distance_m == 0.0)


def test_every_kecamatan_representative_point_maps_back(kecamatan_index: AreaIndex) -> None:
    pts = shapely.point_on_surface(kecamatan_index.geometries)
    got = kecamatan_index.lookup_many(shapely.get_y(pts), shapely.get_x(pts))
    assert got.codes() == [a.code for a in kecamatan_index.areas]


def test_desa_and_kecamatan_indexes_agree_inside_desa(desa_index: AreaIndex, kecamatan_index: AreaIndex) -> None:
    pts = shapely.point_on_surface(desa_index.geometries)
    kec = kecamatan_index.lookup_many(shapely.get_y(pts), shapely.get_x(pts))
    assert kec.codes() == [a.kecamatan_code for a in desa_index.areas]


# ---- gaps, borders, overlaps -------------------------------------------------------------------


@pytest.fixture(scope="module")
def gap_points(desa_index: AreaIndex) -> list[tuple[float, float]]:
    """A point inside each hairline gap between desa: the holes of the union of all desa (a few
    points that the union's rounding put on a polygon edge are left out)."""
    union = shapely.union_all(desa_index.geometries)
    assert union.geom_type == "Polygon"
    holes = [shapely.Polygon(ring) for ring in union.interiors]
    pts = [p for p in shapely.point_on_surface(holes) if not shapely.intersects(desa_index.geometries, p).any()]
    assert len(pts) > 1000  # the README: about 1,500 sliver gaps
    return [(p.y, p.x) for p in pts]


def _brute_nearest(index: AreaIndex, lat: float, lon: float) -> tuple[str, float]:
    x, y = index.project(lat, lon)
    d = shapely.distance(index._proj, shapely.Point(x, y))
    k = int(np.argmin(d))
    return index.areas[k].code, float(d[k])


def test_hairline_gaps_fall_back_to_the_nearest_desa(
    desa_index: AreaIndex, gap_points: list[tuple[float, float]]
) -> None:
    for n, (lat, lon) in enumerate(gap_points):
        m = desa_index.lookup(lat, lon)
        assert not m.outside, (lat, lon)
        assert m.distance_m is not None and 0.0 < m.distance_m <= 100.0
        if n % 3 == 0:
            code, dist = _brute_nearest(desa_index, lat, lon)
            assert m.desa_code == code
            assert m.distance_m == pytest.approx(dist)
    lats, lons = zip(*gap_points, strict=True)
    batch = desa_index.lookup_many(lats, lons)
    assert list(batch) == [desa_index.lookup(la, lo) for la, lo in gap_points]


def test_gap_fallback_can_be_switched_off(gap_points: list[tuple[float, float]]) -> None:
    strict = AreaIndex.load("desa", nearest_max_m=0.0)
    assert all(strict.lookup(la, lo) is OUTSIDE for la, lo in gap_points[:200])


def test_nearest_fallback_reaches_about_100_m_beyond_the_regency(desa_index: AreaIndex) -> None:
    union = shapely.union_all(desa_index._proj)
    shell = shapely.Polygon(union.exterior)
    for metres, outside in ((30.0, False), (90.0, False), (110.0, True), (500.0, True)):
        ring = shapely.buffer(shell, metres).exterior
        for f in np.linspace(0, 1, 40, endpoint=False):
            p = ring.interpolate(f, normalized=True)
            # only where the ring is really that far from the regency (not across a narrow notch)
            if abs(shapely.distance(union, p) - metres) > 0.5:
                continue
            lat, lon = desa_index.unproject(p.x, p.y)
            m = desa_index.lookup(lat, lon)
            assert m.outside is outside, (metres, lat, lon, m)
            if not outside:
                assert m.distance_m == pytest.approx(metres, abs=0.5)


def _rule(index: AreaIndex, lat: float, lon: float) -> str | None:
    """The documented rule, written out plainly over every polygon."""
    x, y = index.project(lat, lon)
    p = shapely.Point(x, y)
    covering = np.flatnonzero(shapely.intersects(index._proj, p)).tolist()
    if covering:
        depth = shapely.distance(index._boundaries[covering], p).tolist()
        deepest = min(zip(covering, depth, strict=True), key=lambda kd: (-kd[1], index.areas[kd[0]].code))
        return index.areas[deepest[0]].code
    code, dist = _brute_nearest(index, lat, lon)
    return code if dist <= index.nearest_max_m else None


def test_points_on_shared_borders_land_on_one_side_deterministically(desa_index: AreaIndex) -> None:
    # Neighbouring desa share their border vertices exactly: such a point is on both boundaries.
    owners: dict[tuple[float, float], set[int]] = defaultdict(set)
    for k, geom in enumerate(desa_index.geometries):
        for lon, lat in shapely.get_coordinates(geom).tolist():
            owners[(lat, lon)].add(k)
    shared = [(pt, o) for pt, o in owners.items() if len(o) >= 2]
    assert len(shared) > 10_000
    sample = shared[::25] + [(pt, o) for pt, o in shared if len(o) >= 3]  # and every tri-point
    batch = desa_index.lookup_many([la for (la, _), _ in sample], [lo for (_, lo), _ in sample])
    for n, ((lat, lon), own) in enumerate(sample):
        m = desa_index.lookup(lat, lon)
        assert m.distance_m == 0.0
        assert m == batch[n] == desa_index.lookup(lat, lon)
        assert m.desa_code == _rule(desa_index, lat, lon)
        codes = sorted(desa_index.areas[k].code for k in own)
        if desa_index.depth_m(codes[0], lat, lon) == 0.0 and m.desa_code in codes:
            assert m.desa_code == codes[0]  # a tie on the border goes to the lowest code
    # and the midpoints of shared edges, which are on (or within a rounding error of) both sides
    for ((lat, lon), own), ((lat2, lon2), own2) in itertools.pairwise(sample):
        if own & own2:
            mid = ((lat + lat2) / 2, (lon + lon2) / 2)
            assert desa_index.lookup(*mid) == desa_index.lookup_exact(*mid)


def test_points_in_overlaps_resolve_deterministically(desa_index: AreaIndex) -> None:
    geoms = desa_index.geometries
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    pairs = [(i, j) for i, j in zip(a.tolist(), b.tolist(), strict=True) if i < j]
    assert len(pairs) > 100  # the README: the polygons overlap slightly
    inter = shapely.intersection(geoms[[i for i, _ in pairs]], geoms[[j for _, j in pairs]])
    pts = shapely.point_on_surface(inter)
    lats, lons = shapely.get_y(pts), shapely.get_x(pts)
    batch = desa_index.lookup_many(lats, lons)
    for n, (lat, lon) in enumerate(zip(lats.tolist(), lons.tolist(), strict=True)):
        m = desa_index.lookup(lat, lon)
        assert m == batch[n] == desa_index.lookup_exact(lat, lon)
        assert m.desa_code in {desa_index.areas[k].code for k in pairs[n]} or m.desa_code == _rule(desa_index, lat, lon)
        assert m.distance_m == 0.0
        if n % 10 == 0:
            assert m.desa_code == _rule(desa_index, lat, lon)


# ---- the fast paths agree with the plain one ---------------------------------------------------


def _random_points(index: AreaIndex, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(index.geometries)
    return rng.uniform(y0 - 0.01, y1 + 0.01, n), rng.uniform(x0 - 0.01, x1 + 0.01, n)


def _points_near_borders(index: AreaIndex, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered within ~60 m of the desa boundaries, where the grid cannot answer alone."""
    rng = np.random.default_rng(seed)
    rings = shapely.boundary(index._proj)
    picks = rng.integers(0, len(rings), n)
    where = shapely.line_interpolate_point(rings[picks], rng.uniform(0, 1, n), normalized=True)
    x = shapely.get_x(where) + rng.normal(0, 30, n)
    y = shapely.get_y(where) + rng.normal(0, 30, n)
    lat, lon = index.unproject(x, y)
    return np.asarray(lat), np.asarray(lon)


@pytest.mark.parametrize("level", ["desa", "kecamatan"])
def test_grid_single_batch_and_exact_agree(desa_index: AreaIndex, kecamatan_index: AreaIndex, level: str) -> None:
    index = desa_index if level == "desa" else kecamatan_index
    for lats, lons in (_random_points(index, 10_000, 1), _points_near_borders(index, 10_000, 2)):
        batch = index.lookup_many(lats, lons)
        single = [index.lookup(la, lo) for la, lo in zip(lats.tolist(), lons.tolist(), strict=True)]
        assert list(batch) == single
        for k in range(0, len(single), 20):
            assert single[k] == index.lookup_exact(float(lats[k]), float(lons[k])), (lats[k], lons[k])
        assert batch.outside.sum() < len(batch)
    assert 0 < index.lookup_many(*_random_points(index, 1000, 1)).outside.sum()


def test_lookup_of_nonsense_is_outside(desa_index: AreaIndex) -> None:
    for lat, lon in ((math.nan, 109.9), (-7.36, math.nan), (math.inf, 0.0), (-91.0, 109.9), (-7.36, 400.0)):
        assert desa_index.lookup(lat, lon) is OUTSIDE
    got = desa_index.lookup_many([math.nan, -7.3605], [109.9, 109.9030])
    assert got.codes() == [None, "33.07.09.1021"]
    assert math.isnan(got.distance_m[0])


def test_batch_helpers(desa_index: AreaIndex) -> None:
    got = desa_index.lookup_many([-7.3605, -7.3605, -7.2052, -7.2337], [109.9030, 109.9030, 109.9069, 109.9195])
    assert len(got) == 4
    assert got.outside.tolist() == [False, False, True, False]
    assert got.kecamatan_codes() == ["33.07.09", "33.07.09", None, "33.07.13"]
    assert got.counts() == {"33.07.09.1021": 2, "33.07.13.2003": 1}
    assert got[2] == OUTSIDE
    assert isinstance(got[0], AreaMatch)
    empty = desa_index.lookup_many([], [])
    assert len(empty) == 0
    with pytest.raises(ValueError):
        desa_index.lookup_many([1.0, 2.0], [3.0])
