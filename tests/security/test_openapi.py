"""The OpenAPI document of the real web role: valid (openapi-spec-validator), complete (every /api/
route, every refusal with the Error body) and typed. Whether it tells the truth about what the
routes answer is tests/security/test_schemathesis.py's job."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from core import auth
from tests.dispatch import factory
from tests.security.conftest import Site, bearer

ERROR_REF = {"$ref": "#/components/schemas/Error"}


async def _document(site: Site) -> dict[str, Any]:
    async with aiohttp.ClientSession(base_url=site.url) as s, s.get("/api/v1/openapi.json") as r:
        assert r.status == 200
        return await r.json()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()]


async def test_the_document_is_valid_openapi_3_1(site: Site) -> None:
    doc = await _document(site)
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"


async def test_every_api_route_is_described_with_every_refusal_in_the_error_shape(site: Site) -> None:
    doc = await _document(site)
    described = {(m, p) for m, p, _ in _operations(doc)}
    routes = {
        (r.method, r.resource.canonical)
        for r in site.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"
    }
    assert routes == described
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    for method, path, op in _operations(doc):
        where = f"{method} {path}"
        statuses = {int(s) for s in op["responses"]}
        assert any(s < 400 for s in statuses), where
        assert 400 in statuses, where  # the door refuses control characters on every route
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (where, status)
                assert response["description"], (where, status)
        handler = next(
            r.handler for r in site.app.router.routes() if r.method == method and r.resource.canonical == path
        )
        rule = auth.access_of(handler)
        if not rule.public:
            assert {401, 403} <= statuses, where
            assert op["x-roles"] == sorted(r.value for r in rule.roles), where
        if "requestBody" in op:
            assert 413 in statuses, where


async def test_parameters_and_bodies_are_typed(site: Site) -> None:
    doc = await _document(site)
    paths = doc["paths"]

    def param(path: str, method: str, name: str) -> dict[str, Any]:
        return next(p["schema"] for p in paths[path][method]["parameters"] if p["name"] == name)

    assert param("/api/v1/incidents/{incident_id}", "get", "incident_id") == {"type": "string", "format": "uuid"}
    assert param("/api/v1/alerts/{incident_id}/state", "get", "incident_id")["format"] == "uuid"
    entry = param("/api/v1/roster/{agency}/entries/{entry_id}", "delete", "entry_id")
    assert entry == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert param("/api/v1/incidents", "get", "state")["enum"] == ["open", "closed", "all"]
    assert param("/api/v1/roster/{agency}/{month}", "get", "month")["pattern"] == r"^\d{4}-\d{2}$"
    assert list(paths["/api/v1/roster/{agency}/{month}.csv"]["put"]["requestBody"]["content"]) == ["text/csv"]
    assert list(paths["/api/v1/roster/{agency}/{month}.csv"]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    transition = paths["/api/v1/incidents/{incident_id}/transition"]["post"]
    assert transition["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TransitionBody"
    }
    unit_id = doc["components"]["schemas"]["TransitionBody"]["properties"]["unit_id"]["anyOf"][0]
    assert unit_id == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert set(transition["responses"]) >= {"200", "400", "401", "403", "404", "409", "413", "422"}
    notes = paths["/api/v1/incidents/{incident_id}/notes"]["post"]["responses"]
    assert {"200", "201"} <= set(notes)
    assert paths["/api/v1/alerts"]["post"]["security"] == [{"appToken": []}]
    assert "503" in paths["/api/v1/alerts"]["post"]["responses"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/incidents/00000000-0000-0000-0000-000000000000/notes"),
        ("PUT", "/api/v1/routing-rules"),
        ("PUT", "/api/v1/roster/t-polsek-wsb/2026-01.csv"),
        ("POST", "/api/v1/roster/t-polsek-wsb/entries"),
    ],
)
async def test_a_body_above_the_limit_is_refused_in_the_error_shape(site: Site, method: str, path: str) -> None:
    token, _ = await site.mint("admin")
    body = b"x" * (7 * 1024 * 1024)
    async with (
        aiohttp.ClientSession(base_url=site.url) as s,
        s.request(method, path, data=io.BytesIO(body), headers=bearer(token)) as r,
    ):
        assert r.status == 413
        assert r.content_type == "application/json"
        assert (await r.json())["error"] == "too_large"


async def test_the_event_stream_without_a_websocket_upgrade_is_refused_in_the_error_shape(site: Site) -> None:
    token, _ = await site.mint("operator")
    async with aiohttp.ClientSession(base_url=site.url) as s, s.get("/api/v1/stream", headers=bearer(token)) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "websocket_required"


@pytest.mark.parametrize(
    ("role", "path", "body"),
    [
        ("operator", "/api/v1/incidents/{incident}/notes", {"body": "catatan\u0000"}),
        (
            "supervisor",
            "/api/v1/roster/t-polsek-wsb/entries",
            {"day": "2026-01-05", "shift": "P\u0000", "username": "x"},
        ),
    ],
)
async def test_a_nul_in_a_json_body_is_a_400_in_the_error_shape(site: Site, role: str, path: str, body: dict) -> None:
    # found by schemathesis's long run (make fuzz): a 500 from PostgreSQL, which stores no NUL
    async with site.pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=site.world.polsek_wonosobo)
    token, _ = await site.mint(role)
    url = path.format(incident=made.incident_id)
    async with aiohttp.ClientSession(base_url=site.url) as s, s.post(url, json=body, headers=bearer(token)) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "bad_char"  # core.params' input_guard, before the handler
