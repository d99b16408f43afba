"""The citizen form's map for an anonymous visitor: the boundary outlines are served without a
session, and a point outside the regency is refused in the form with a warning in Indonesian."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Page

from tests.complaints.conftest import Site


async def test_anonymous_get_of_the_boundaries_is_geojson_without_a_session(anon: aiohttp.ClientSession) -> None:
    r = await anon.get("/geo/kecamatan_from_desa.geojson", allow_redirects=False)
    assert r.status == 200
    g = await r.json(content_type=None)
    assert g["type"] == "FeatureCollection" and g["features"]
    assert "Set-Cookie" not in r.headers


async def test_an_unknown_boundary_file_is_not_found(anon: aiohttp.ClientSession) -> None:
    r = await anon.get("/geo/users.geojson", allow_redirects=False)
    assert r.status == 404


async def test_anonymous_visitor_sees_the_boundaries_and_a_warning_outside(site: Site, page: Page) -> None:
    await page.goto(f"{site.url}/lapor")
    await page.locator("#peta path.leaflet-interactive").first.wait_for()
    # the map is fitted to the regency: its top-left corner lies outside it
    await page.click("#peta", position={"x": 3, "y": 3})
    warn = page.locator("#peta-peringatan")
    await warn.wait_for(state="visible")
    assert "di luar Kabupaten Wonosobo" in (await warn.text_content() or "")
    assert await page.input_value("#lat") == ""


async def test_a_point_inside_the_regency_is_kept(site: Site, page: Page) -> None:
    await page.goto(f"{site.url}/lapor")
    await page.locator("#peta path.leaflet-interactive").first.wait_for()
    await page.click("#peta", position={"x": 3, "y": 3})
    await page.locator("#peta-peringatan").wait_for(state="visible")
    # the map is fitted to the regency, whose middle lies inside it: the warning goes, the point stays
    map_box = await page.locator("#peta").bounding_box()
    assert map_box
    await page.click("#peta", position={"x": map_box["width"] / 2, "y": map_box["height"] / 2})
    await page.locator("#peta-peringatan").wait_for(state="hidden")
    assert await page.input_value("#lat") != ""
