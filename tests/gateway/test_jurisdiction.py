"""Jurisdiction rules, pure: which police unit and Dishub post cover a place, as tables of cases."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.jurisdiction import DishubPost, Jurisdiction, jurisdiction_of

WONOSOBO, GARUNG, KALIBAWANG = "33.07.09", "33.07.12", "33.07.15"
POLRES, POLSEK_WONOSOBO, POLSUBSEKTOR_KALIBAWANG = 1, 2, 3

COVERED = Jurisdiction(
    polsek={WONOSOBO: POLSEK_WONOSOBO, KALIBAWANG: POLSUBSEKTOR_KALIBAWANG},
    polres_id=POLRES,
    command_centre_id=9,
    dishub_posts=(),
)


@pytest.mark.parametrize(
    ("jurisdiction", "kecamatan", "expected"),
    [
        (COVERED, WONOSOBO, POLSEK_WONOSOBO),
        (COVERED, KALIBAWANG, POLSUBSEKTOR_KALIBAWANG),
        (COVERED, GARUNG, POLRES),  # no known polsek: the polres
        (COVERED, None, None),  # outside the regency or unknown
        (Jurisdiction({}, None, None, ()), GARUNG, None),  # before any reference data
    ],
)
def test_police_unit_for(jurisdiction: Jurisdiction, kecamatan: str | None, expected: int | None) -> None:
    assert jurisdiction.police_unit_for(kecamatan) == expected


TWO_POSTS = (DishubPost(1, "A", -7.36, 109.90), DishubPost(2, "B", -7.20, 109.91))


@pytest.mark.parametrize(
    ("posts", "lat", "lon", "expected"),
    [
        (TWO_POSTS, -7.36, 109.90, 1),
        (TWO_POSTS, -7.20, 109.91, 2),
        (TWO_POSTS, -7.30, 109.905, 1),
        (TWO_POSTS, -7.27, 109.905, 2),
        ((), -7.36, 109.90, None),  # no post mapped yet
        # equally near: the one listed first
        ((DishubPost(5, "C", -7.30, 109.90), DishubPost(4, "D", -7.30, 109.90)), -7.30, 109.90, 5),
    ],
)
def test_nearest_dishub_post_is_pure(
    posts: tuple[DishubPost, ...], lat: float, lon: float, expected: int | None
) -> None:
    j = Jurisdiction(polsek={}, polres_id=None, command_centre_id=None, dishub_posts=posts)
    assert j.nearest_dishub_post(lat, lon) == expected


def _agency(id_: int, kind: str, kecamatan: str | None = None) -> dict[str, Any]:
    return {"id": id_, "kind": kind, "kecamatan_code": kecamatan}


@pytest.mark.parametrize(
    ("agencies", "polsek", "polres", "centre"),
    [
        ([], {}, None, None),
        (
            [_agency(1, "polres"), _agency(2, "polsek", WONOSOBO), _agency(9, "command_centre")],
            {WONOSOBO: 2},
            1,
            9,
        ),
        # a polsek without a kecamatan covers nothing
        ([_agency(2, "polsek", None), _agency(3, "polsek", "")], {}, None, None),
        # the first polres and command centre listed win
        (
            [_agency(1, "polres"), _agency(5, "polres"), _agency(9, "command_centre"), _agency(8, "command_centre")],
            {},
            1,
            9,
        ),
        # other kinds of agency cover nothing
        ([_agency(7, "opd", WONOSOBO), _agency(6, "dishub")], {}, None, None),
    ],
)
def test_jurisdiction_of_agencies(
    agencies: list[dict[str, Any]], polsek: dict[str, int], polres: int | None, centre: int | None
) -> None:
    j = jurisdiction_of(agencies, [], {})
    assert (dict(j.polsek), j.polres_id, j.command_centre_id) == (polsek, polres, centre)


def test_jurisdiction_of_posts_and_names() -> None:
    posts = [{"id": 4, "name": "Terminal Mendolo", "lat": -7.385, "lon": 109.916}]
    j = jurisdiction_of([], posts, {GARUNG: "Garung"})
    assert j.dishub_posts == (DishubPost(4, "Terminal Mendolo", -7.385, 109.916),)
    assert j.kecamatan_names == {GARUNG: "Garung"}
    assert j.nearest_dishub_post(-7.3605, 109.9030) == 4
