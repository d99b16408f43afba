"""Point to area: which desa/kelurahan and kecamatan of Wonosobo a coordinate lies in. Pure, no I/O
at lookup time (the shipped boundaries are read once, when an index is built).

How a point is placed (the same rule for `lookup` and `lookup_many`):

1. Every polygon that *covers* the point (inside or on its boundary) is a hit.
2. One hit: that area, distance 0.
3. Several hits (a shared border, or one of the slight overlaps of the source polygons): the area
   the point is deepest inside (largest distance to that area's boundary); on a tie the lowest
   code. Deterministic, so a point on a shared border always lands on the same side.
4. No hit: the nearest area within ``nearest_max_m`` (the desa polygons have hairline gaps); on a
   tie the lowest code. Beyond that the point is outside the regency.

Geometry is held in a local equirectangular projection in metres (origin at the centre of the
data; over Wonosobo's 0.43° of latitude the scale error is < 0.1 %), so distances are metres.

Speed: a uniform grid over the regency (cells of ``cell_m`` metres) is classified once with the
STRtree: a cell that lies inside exactly one polygon and touches no other answers at once; a cell
further than ``nearest_max_m`` from every polygon is "outside" at once. Only points in the other
cells (near a boundary) are tested against the prepared polygons that intersect their cell.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

log = logging.getLogger(__name__)

DATA_PACKAGE = "core.data.wonosobo"
EARTH_RADIUS_M = 6_371_008.8

Level = Literal["desa", "kecamatan"]

# Grid cell values besides an area index (>= 0).
_OUTSIDE = -1
_NEAR_BOUNDARY = -2


def kecamatan_code_of(desa_code: str) -> str:
    """``33.07.09.1021`` -> ``33.07.09`` (Kemendagri codes nest by prefix)."""
    return desa_code[:8]


def desa_kind(desa_code: str) -> Literal["desa", "kelurahan"]:
    """Kelurahan codes have a 4th segment starting with 1 (``33.07.09.1021``), desa with 2."""
    return "kelurahan" if desa_code[9:10] == "1" else "desa"


@dataclass(frozen=True, slots=True)
class Area:
    """One polygon of an index: a desa/kelurahan (with its kecamatan) or a kecamatan."""

    code: str
    name: str
    kind: str  # 'desa' | 'kelurahan' | 'kecamatan'
    kecamatan_code: str
    kecamatan_name: str


@dataclass(frozen=True, slots=True)
class AreaMatch:
    """Where a point lies. ``desa_*`` are None for a kecamatan index and when outside."""

    desa_code: str | None
    desa_name: str | None
    kecamatan_code: str | None
    kecamatan_name: str | None
    # metres to the area it was placed in: 0 inside, > 0 for the gap fallback, None when outside
    distance_m: float | None
    outside: bool
    desa_kind: str | None = None  # 'desa' | 'kelurahan'

    @classmethod
    def of(cls, area: Area, distance_m: float) -> AreaMatch:
        if area.kind == "kecamatan":
            return cls(None, None, area.code, area.name, distance_m, False)
        return cls(area.code, area.name, area.kecamatan_code, area.kecamatan_name, distance_m, False, area.kind)


OUTSIDE = AreaMatch(None, None, None, None, None, True)


@dataclass(frozen=True, slots=True)
class AreaMatches:
    """Result of `AreaIndex.lookup_many`: one entry per input point, as arrays."""

    index: NDArray[np.int32]  # position in ``areas``; -1 = outside
    distance_m: NDArray[np.float64]  # NaN where outside
    areas: tuple[Area, ...]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> AreaMatch:
        k = int(self.index[i])
        return OUTSIDE if k < 0 else AreaMatch.of(self.areas[k], float(self.distance_m[i]))

    def __iter__(self) -> Iterator[AreaMatch]:
        return (self[i] for i in range(len(self)))

    @property
    def outside(self) -> NDArray[np.bool_]:
        return self.index < 0

    def codes(self) -> list[str | None]:
        """Area code per point (desa code for a desa index), None when outside."""
        return [None if k < 0 else self.areas[k].code for k in self.index.tolist()]

    def kecamatan_codes(self) -> list[str | None]:
        return [None if k < 0 else self.areas[k].kecamatan_code for k in self.index.tolist()]

    def counts(self) -> dict[str, int]:
        """Points per area code (areas with none are left out); for dashboards."""
        hits = np.bincount(self.index[self.index >= 0], minlength=len(self.areas))
        return {self.areas[k].code: int(n) for k, n in enumerate(hits.tolist()) if n}


class AreaIndex:
    """Point-in-polygon over one level of areas, with the nearest-area fallback for gaps.

    Immutable once built. Use it from one thread at a time (the event loop): GEOS prepared
    geometries are not documented as safe for concurrent queries; build one per thread if needed."""

    def __init__(
        self,
        areas: Sequence[Area],
        geometries: Sequence[BaseGeometry],
        *,
        nearest_max_m: float = 100.0,
        cell_m: float = 200.0,
    ) -> None:
        if len(areas) != len(geometries) or not areas:
            raise ValueError("need one geometry per area, and at least one area")
        if len({a.code for a in areas}) != len(areas):
            raise ValueError("area codes must be unique")
        # Index order = code order, so "lowest index" in a tie-break means "lowest code".
        order = sorted(range(len(areas)), key=lambda i: areas[i].code)
        self.areas: tuple[Area, ...] = tuple(areas[i] for i in order)
        self.geometries: NDArray[np.object_] = np.array([geometries[i] for i in order], dtype=object)
        if not shapely.is_valid(self.geometries).all():
            raise ValueError("every area geometry must be valid")
        self.nearest_max_m = float(nearest_max_m)
        self.cell_m = float(cell_m)
        self._by_code = {a.code: i for i, a in enumerate(self.areas)}

        x0, y0, x1, y1 = shapely.total_bounds(self.geometries)
        self._lon0 = (x0 + x1) / 2.0
        self._lat0 = (y0 + y1) / 2.0
        self._ky = math.radians(1.0) * EARTH_RADIUS_M
        self._kx = self._ky * math.cos(math.radians(self._lat0))

        self._proj: NDArray[np.object_] = shapely.transform(self.geometries, self._project_coords)
        shapely.prepare(self._proj)
        self._boundaries: NDArray[np.object_] = shapely.boundary(self._proj)
        shapely.prepare(self._boundaries)
        self._tree = shapely.STRtree(self._proj)
        self._inside = [AreaMatch.of(a, 0.0) for a in self.areas]
        self._build_grid()
        # GEOS builds a prepared polygon's point locator on first use: do it now, so the first
        # alerts do not pay for it.
        inner = shapely.point_on_surface(self._proj)
        shapely.intersects_xy(self._proj, shapely.get_x(inner), shapely.get_y(inner))

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def load(cls, level: Level = "desa", *, nearest_max_m: float = 100.0, cell_m: float = 200.0) -> AreaIndex:
        """The shipped boundaries of Kabupaten Wonosobo: 265 desa/kelurahan, or 15 kecamatan."""
        data = resources.files(DATA_PACKAGE)
        kec_names = {
            row["code"]: row["name"]
            for row in csv.DictReader(io.StringIO(data.joinpath("wilayah.csv").read_text("utf-8")))
            if row["level"] == "kecamatan"
        }
        name = "desa.geojson" if level == "desa" else "kecamatan_from_desa.geojson"
        features = json.loads(data.joinpath(name).read_text("utf-8"))["features"]
        areas: list[Area] = []
        geoms: list[BaseGeometry] = []
        for f in features:
            p = f["properties"]
            code = p["kode"]
            if level == "desa":
                kec = kecamatan_code_of(code)
                areas.append(Area(code, p["nama"], desa_kind(code), kec, kec_names[kec]))
            else:
                areas.append(Area(code, p["nama"], "kecamatan", code, p["nama"]))
            geoms.append(shape(f["geometry"]))
        return cls(areas, geoms, nearest_max_m=nearest_max_m, cell_m=cell_m)

    def _project_coords(self, lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(lonlat)
        out[:, 0] = (lonlat[:, 0] - self._lon0) * self._kx
        out[:, 1] = (lonlat[:, 1] - self._lat0) * self._ky
        return out

    def _build_grid(self) -> None:
        cell = self.cell_m
        # The grid reaches nearest_max_m (plus a cell) beyond the polygons, so any point off the
        # grid is further than nearest_max_m from every area: outside, without a test.
        margin = self.nearest_max_m + cell
        bx0, by0, bx1, by1 = shapely.total_bounds(self._proj)
        self._gx0 = bx0 - margin
        self._gy0 = by0 - margin
        self._nx = math.ceil((bx1 + margin - self._gx0) / cell)
        self._ny = math.ceil((by1 + margin - self._gy0) / cell)
        self._gx1 = self._gx0 + self._nx * cell
        self._gy1 = self._gy0 + self._ny * cell
        n = self._nx * self._ny
        jj, ii = np.divmod(np.arange(n), self._nx)
        # Boxes grow by 1 mm so that float rounding when a point is binned cannot put it in a cell
        # whose classification does not cover it.
        eps = 1e-3
        bounds = (
            self._gx0 + ii * cell - eps,
            self._gy0 + jj * cell - eps,
            self._gx0 + (ii + 1) * cell + eps,
            self._gy0 + (jj + 1) * cell + eps,
        )
        boxes = shapely.box(*bounds)
        # The STRtree narrows by bounding box; the exact test runs on the prepared polygons
        # (much faster than the tree's own predicate, which does not prepare its geometries).
        box_i, poly_j = self._tree.query(boxes)
        meets = shapely.intersects(self._proj[poly_j], boxes[box_i])
        box_i, poly_j = box_i[meets], poly_j[meets]
        hits = np.bincount(box_i, minlength=n)
        grid = np.full(n, _NEAR_BOUNDARY, dtype=np.int32)

        single = hits[box_i] == 1
        sb, sp = box_i[single], poly_j[single]
        inside = shapely.contains_properly(self._proj[sp], boxes[sb])
        grid[sb[inside]] = sp[inside]

        # Polygons within nearest_max_m of each remaining cell: the only ones a point in that cell
        # can be placed in by the gap fallback.
        rest = np.flatnonzero(grid == _NEAR_BOUNDARY)
        d = self.nearest_max_m + eps
        wide = shapely.box(*(b[rest] + s for b, s in zip(bounds, (-d, -d, d, d), strict=True)))
        ri, rj = self._tree.query(wide)
        close = shapely.dwithin(self._proj[rj], boxes[rest][ri], self.nearest_max_m)
        ri, rj = rest[ri[close]], rj[close]
        grid[rest[np.bincount(ri, minlength=n)[rest] == 0]] = _OUTSIDE

        self._grid_np = grid
        self._grid: list[int] = grid.tolist()
        self._hit_csr = _Csr.build(box_i, poly_j, n)
        self._near_csr = _Csr.build(ri, rj, n)
        # `lookup` takes its candidates ready-made, as arrays of prepared polygons
        self._cell_candidates: dict[int, tuple[NDArray[np.intp], NDArray[np.object_], NDArray[np.intp]]] = {}
        for c in np.flatnonzero(grid == _NEAR_BOUNDARY).tolist():
            hit = self._hit_csr.row(c)
            self._cell_candidates[c] = (hit, self._proj[hit], self._near_csr.row(c))
        log.debug(
            "area grid %dx%d of %.0f m: %.1f%% one area, %.1f%% outside, %.1f%% near a boundary",
            self._nx,
            self._ny,
            cell,
            100.0 * (grid >= 0).sum() / n,
            100.0 * (grid == _OUTSIDE).sum() / n,
            100.0 * (grid == _NEAR_BOUNDARY).sum() / n,
        )

    # ---- lookups ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.areas)

    def area(self, code: str) -> Area:
        return self.areas[self._by_code[code]]

    def geometry(self, code: str) -> BaseGeometry:
        """The lon/lat polygon of an area."""
        return self.geometries[self._by_code[code]]

    def lookup(self, lat: float, lon: float) -> AreaMatch:
        """The area a WGS84 point lies in (see the module docstring for the rule)."""
        x = (lon - self._lon0) * self._kx
        y = (lat - self._lat0) * self._ky
        # NaN fails both comparisons and lands here too
        if not (self._gx0 <= x < self._gx1 and self._gy0 <= y < self._gy1):
            return OUTSIDE
        c = int((y - self._gy0) / self.cell_m) * self._nx + int((x - self._gx0) / self.cell_m)
        v = self._grid[c]
        if v >= 0:
            return self._inside[v]
        if v == _OUTSIDE:
            return OUTSIDE
        idx, polys, near = self._cell_candidates[c]
        if len(idx):
            hit = idx[shapely.intersects_xy(polys, x, y)]
            if len(hit) == 1:
                return self._inside[int(hit[0])]
            if len(hit) > 1:
                return self._deepest(hit, x, y)
        if not len(near):
            return OUTSIDE
        dist = shapely.distance(self._proj[near], shapely.points(x, y))
        k = int(np.argmin(dist))  # near is sorted: the first minimum is the lowest code
        if dist[k] > self.nearest_max_m:
            return OUTSIDE
        return AreaMatch.of(self.areas[int(near[k])], float(dist[k]))

    def _deepest(self, hit: NDArray[np.intp], x: float, y: float) -> AreaMatch:
        depth = shapely.distance(self._boundaries[hit], shapely.points(x, y))
        # hit is sorted and argmax takes the first maximum: ties go to the lowest code
        return self._inside[int(hit[int(np.argmax(depth))])]

    def _nearest(self, x: float, y: float) -> AreaMatch:
        found, dist = self._tree.query_nearest(
            shapely.points(x, y), max_distance=self.nearest_max_m, return_distance=True, all_matches=True
        )
        if not len(dist):
            return OUTSIDE
        best = int(np.min(found[dist == dist.min()]))
        return AreaMatch.of(self.areas[best], float(dist.min()))

    def lookup_exact(self, lat: float, lon: float) -> AreaMatch:
        """The same answer as `lookup`, without the grid: every polygon is considered. For tests."""
        x = (lon - self._lon0) * self._kx
        y = (lat - self._lat0) * self._ky
        if not (math.isfinite(x) and math.isfinite(y)):
            return OUTSIDE
        hit = np.flatnonzero(shapely.intersects_xy(self._proj, x, y))
        if len(hit) == 1:
            return self._inside[int(hit[0])]
        if len(hit) > 1:
            return self._deepest(hit, x, y)
        return self._nearest(x, y)

    def lookup_many(self, lats: ArrayLike, lons: ArrayLike) -> AreaMatches:
        """Vectorised `lookup` of many points (for dashboards and maps)."""
        lat = np.asarray(lats, dtype=np.float64).ravel()
        lon = np.asarray(lons, dtype=np.float64).ravel()
        if lat.shape != lon.shape:
            raise ValueError("lats and lons differ in length")
        n = len(lat)
        x = (lon - self._lon0) * self._kx
        y = (lat - self._lat0) * self._ky
        index = np.full(n, -1, dtype=np.int32)
        distance = np.full(n, np.nan, dtype=np.float64)

        on_grid = (x >= self._gx0) & (x < self._gx1) & (y >= self._gy0) & (y < self._gy1)
        g = np.flatnonzero(on_grid)
        cells = ((y[g] - self._gy0) / self.cell_m).astype(np.intp) * self._nx + (
            (x[g] - self._gx0) / self.cell_m
        ).astype(np.intp)
        v = self._grid_np[cells]
        known = v >= 0
        index[g[known]] = v[known]
        distance[g[known]] = 0.0

        near = v == _NEAR_BOUNDARY
        if near.any():
            self._resolve_many(g[near], cells[near], x[g[near]], y[g[near]], index, distance)
        return AreaMatches(index, distance, self.areas)

    def _resolve_many(
        self,
        which: NDArray[np.intp],
        cells: NDArray[np.intp],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        index: NDArray[np.int32],
        distance: NDArray[np.float64],
    ) -> None:
        """Points in near-boundary cells, against the prepared polygons listed for their cell."""
        pt, poly = self._hit_csr.pairs(cells)
        inside = shapely.intersects_xy(self._proj[poly], x[pt], y[pt])
        pt, poly = pt[inside], poly[inside]
        hits = np.bincount(pt, minlength=len(cells))

        one = hits[pt] == 1
        index[which[pt[one]]] = poly[one]
        distance[which[pt[one]]] = 0.0

        many = hits[pt] > 1
        if many.any():
            mi, mj = pt[many], poly[many]
            depth = shapely.distance(self._boundaries[mj], shapely.points(x[mi], y[mi]))
            first, best, _ = _first_per_point(mi, mj, -depth)
            index[which[first]] = best
            distance[which[first]] = 0.0

        none = np.flatnonzero(hits == 0)
        if len(none):
            pt, poly = self._near_csr.pairs(cells[none])
            pts = shapely.points(x[none][pt], y[none][pt])
            close = shapely.dwithin(self._proj[poly], pts, self.nearest_max_m)
            pt, poly = pt[close], poly[close]
            dist = shapely.distance(self._proj[poly], pts[close])
            first, best, best_dist = _first_per_point(pt, poly, dist)
            index[which[none[first]]] = best
            distance[which[none[first]]] = best_dist

    # ---- helpers for callers that need geometry ---------------------------------------------

    def distance_m(self, code: str, lat: float, lon: float) -> float:
        """Metres from a point to an area (0 inside)."""
        x = (lon - self._lon0) * self._kx
        y = (lat - self._lat0) * self._ky
        return float(shapely.distance(self._proj[self._by_code[code]], shapely.points(x, y)))

    def depth_m(self, code: str, lat: float, lon: float) -> float:
        """Metres from a point to the edge of an area (how far inside it is, if it is inside)."""
        x = (lon - self._lon0) * self._kx
        y = (lat - self._lat0) * self._ky
        return float(shapely.distance(self._boundaries[self._by_code[code]], shapely.points(x, y)))

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        """A WGS84 point in this index's local metric frame (x east, y north, metres)."""
        return (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky

    def unproject(self, x: float, y: float) -> tuple[float, float]:
        """(lat, lon) of a point of the local metric frame."""
        return y / self._ky + self._lat0, x / self._kx + self._lon0


def _firsts(sorted_keys: NDArray[np.intp]) -> NDArray[np.bool_]:
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


def _first_per_point(
    pt: NDArray[np.intp], poly: NDArray[np.intp], score: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """Per point, the polygon with the lowest score (ties to the lowest polygon index):
    (points, their polygon, its score)."""
    order = np.lexsort((poly, score, pt))
    pt, poly, score = pt[order], poly[order], score[order]
    first = _firsts(pt)
    return pt[first], poly[first], score[first]


@dataclass(frozen=True, slots=True)
class _Csr:
    """Per grid cell, a sorted list of polygon indices (compressed rows)."""

    start: NDArray[np.intp]
    count: NDArray[np.intp]
    flat: NDArray[np.intp]

    @classmethod
    def build(cls, cell: NDArray[np.intp], poly: NDArray[np.intp], n: int) -> _Csr:
        order = np.lexsort((poly, cell))
        count = np.bincount(cell, minlength=n).astype(np.intp)
        start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.intp)
        return cls(start, count, poly[order].astype(np.intp))

    def row(self, cell: int) -> NDArray[np.intp]:
        s = int(self.start[cell])
        return self.flat[s : s + int(self.count[cell])]

    def pairs(self, cells: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """(position in ``cells``, polygon) for every polygon listed for each cell."""
        counts = self.count[cells]
        pos = np.repeat(np.arange(len(cells)), counts)
        offset = np.arange(len(pos)) - np.repeat(np.cumsum(counts) - counts, counts)
        return pos, self.flat[self.start[cells][pos] + offset]
