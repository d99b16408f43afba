"""Jurisdiction: which police unit and which Dishub post cover a place, given the covering
agencies read at one moment. Pure: the rows come from gateway/reference.py, which reads them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DishubPost:
    id: int
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """Who covers a place, from the agency tables at one moment. Pure lookups."""

    polsek: Mapping[str, int]  # kecamatan code -> active polsek agency id
    polres_id: int | None
    command_centre_id: int | None
    dishub_posts: tuple[DishubPost, ...]  # active posts that have coordinates
    kecamatan_names: Mapping[str, str] = field(default_factory=dict)

    def police_unit_for(self, kecamatan_code: str | None) -> int | None:
        """The Polsek of the kecamatan, else the Polres; None outside the regency."""
        if kecamatan_code is None:
            return None
        return self.polsek.get(kecamatan_code, self.polres_id)

    def nearest_dishub_post(self, lat: float, lon: float) -> int | None:
        """The nearest Dishub post that has coordinates (None until an admin maps one)."""
        best: int | None = None
        best_d = math.inf
        k = math.cos(math.radians(lat))
        for p in self.dishub_posts:
            d = (p.lat - lat) ** 2 + ((p.lon - lon) * k) ** 2
            if d < best_d:
                best, best_d = p.id, d
        return best


def jurisdiction_of(
    agencies: Iterable[Mapping[str, Any]],
    posts: Iterable[Mapping[str, Any]],
    kecamatan_names: Mapping[str, str],
) -> Jurisdiction:
    """The snapshot from the active covering agencies (``id``, ``kind``, ``kecamatan_code``) and
    the mapped Dishub posts (``id``, ``name``, ``lat``, ``lon``). The reader lists one Polsek per
    kecamatan; should it list more, the last wins, while the first Polres and command centre do."""
    polsek: dict[str, int] = {}
    polres = centre = None
    for r in agencies:
        if r["kind"] == "polsek" and r["kecamatan_code"]:
            polsek[r["kecamatan_code"]] = r["id"]
        elif r["kind"] == "polres" and polres is None:
            polres = r["id"]
        elif r["kind"] == "command_centre" and centre is None:
            centre = r["id"]
    return Jurisdiction(
        polsek=polsek,
        polres_id=polres,
        command_centre_id=centre,
        dishub_posts=tuple(DishubPost(p["id"], p["name"], p["lat"], p["lon"]) for p in posts),
        kecamatan_names=dict(kecamatan_names),
    )
