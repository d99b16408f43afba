"""The JSON API under /api/v1 and its OpenAPI document, generated from the route table."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from core import appkeys, audit, auth
from core.auth import Role
from core.params import Id, Line, Text
from dispatch import service, states, stream

PREFIX = "/api/v1"
_READERS = tuple(states.READERS)
_RESPONDERS = tuple(states.NOTE_WRITERS)
_DESK = (Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN)


# --- models -----------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    agency_id: int | None


class LoginResponse(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>'")
    expires_at: datetime
    user: UserOut


class MeResponse(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="for cookie sessions: send as X-CSRF-Token on changes")
    expires_at: datetime


class Agency(BaseModel):
    id: int
    code: str
    name: str
    short_name: str | None
    kind: str


class IncidentSummary(BaseModel):
    id: uuid.UUID
    number: int
    type: str
    state: str
    created_at: datetime
    updated_at: datetime
    device_id: str
    device_name: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    location_source: str
    desa_name: str | None
    kecamatan_name: str | None
    outside_regency: bool
    battery: int | None
    escalation_level: int
    flagged_at: datetime | None
    agencies: list[int]


class IncidentList(BaseModel):
    incidents: list[IncidentSummary]


class Note(BaseModel):
    id: int
    at: datetime
    username: str
    kind: str
    body: str
    unit_label: str | None = None


class IncidentDetail(IncidentSummary):
    seq: int
    received_at: datetime
    channel: str
    notes: list[Note]
    history: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    units: list[dict[str, Any]]
    allowed: list[str] = Field(description="states this user may move the incident to")


class TransitionBody(BaseModel):
    to: Literal["acknowledged", "dispatched", "on_scene", "resolved", "false_alarm", "handed_to_complaints"]
    note: Text | None = Field(default=None, max_length=4000)
    unit_id: Id | None = Field(default=None, description="agency_unit id sent (to=dispatched)")
    unit: Line | None = Field(default=None, max_length=200, description="free-text unit sent (to=dispatched)")


class NoteBody(BaseModel):
    body: Text = Field(min_length=1, max_length=4000)


class RoutingRuleModel(BaseModel):
    alert_type: str = Field(pattern=r"^[a-z_]{2,32}$")
    target: Literal["covering_police", "covering_dishub", "agency_kind", "command_centre", "none"]
    agency_kind: Line | None = Field(default=None, max_length=32)
    fallback_command_centre: bool = True
    note: Text | None = Field(default=None, max_length=4000)


class RoutingRules(BaseModel):
    rules: list[RoutingRuleModel]


def _default(value: Any) -> Any:
    # asyncpg's UUID is its own type; orjson only knows the standard one
    if isinstance(value, uuid.UUID | Decimal) or type(value).__name__ == "UUID":
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(data), content_type="application/json")


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as e:
        raise web.HTTPUnprocessableEntity(
            text=dumps(
                {
                    "error": "invalid",
                    "message": "isi permintaan tidak sah",
                    "detail": e.errors(include_url=False, include_context=False, include_input=False),
                }
            ).decode(),
            content_type="application/json",
        ) from None


def _incident_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["incident_id"])
    except ValueError:
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "no such incident"}', content_type="application/json"
        ) from None


def _error(e: service.DispatchError) -> web.Response:
    return auth.json_error(e.status, e.code, str(e))


# --- handlers ---------------------------------------------------------------------------------


@auth.public
@auth.describe("Sign in; returns a bearer token", request=LoginRequest, response=LoginResponse, tags=["auth"])
async def login(request: web.Request) -> web.Response:
    body = await _body(request, LoginRequest)
    async with request.app[appkeys.POOL].acquire() as conn:
        try:
            token, session = await auth.login(
                conn,
                request.app[appkeys.SETTINGS],
                body.username,
                body.password,
                kind="api",
                client_ip=auth.client_ip(request),
                user_agent=request.headers.get("User-Agent"),
            )
        except auth.AuthError as e:
            return auth.json_error(429 if e.code == "rate_limited" else 401, e.code, str(e))
    return _json({"token": token, "expires_at": session.expires_at, "user": session.user.public()})


@auth.signed_in
@auth.describe("End this session", tags=["auth"])
async def logout(request: web.Request) -> web.Response:
    token, _ = auth.token_of(request)
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        await auth.logout(conn, token or "", user.actor(auth.client_ip(request)))
    resp = _json({"ok": True})
    resp.del_cookie(auth.SESSION_COOKIE, path="/")
    return resp


@auth.signed_in
@auth.describe("Who am I", response=MeResponse, tags=["auth"])
async def me(request: web.Request) -> web.Response:
    session = request[auth.SESSION]
    return _json({"user": session.user.public(), "csrf_token": session.csrf_token, "expires_at": session.expires_at})


@auth.signed_in
@auth.describe("Agencies (police units, Dishub, Damkar, ...)", response=list[Agency], tags=["reference"])
async def agencies(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        named = await service.agencies_named(conn)
    return _json(list(named.values()))


@auth.allow(*_READERS)
@auth.describe(
    "Incidents this user may see; open ones ordered by urgency",
    response=IncidentList,
    query={"state": "open (default) | closed | all", "limit": "at most this many (default 200, max 1000)"},
    tags=["incidents"],
)
async def list_incidents(request: web.Request) -> web.Response:
    which = request.query.get("state", "open")
    if which not in ("open", "closed", "all"):
        return auth.json_error(400, "bad_state", "state must be open, closed or all")
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "200"))))
    except ValueError:
        return auth.json_error(400, "bad_limit", "limit must be a number")
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await service.list_incidents(conn, auth.current_user(request), which=which, limit=limit)
    return _json({"incidents": rows})


@auth.allow(*_READERS)
@auth.describe("One incident with device, place, history and notes", response=IncidentDetail, tags=["incidents"])
async def get_incident(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        try:
            return _json(await service.get_incident(conn, auth.current_user(request), iid))
        except service.DispatchError as e:
            return _error(e)


@auth.allow(*_RESPONDERS)
@auth.describe(
    "Move an incident to another state (acknowledge, dispatch a unit, on scene, resolve, false alarm, "
    "hand over to complaints); the device is told",
    request=TransitionBody,
    response=IncidentDetail,
    tags=["incidents"],
)
async def transition(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    body = await _body(request, TransitionBody)
    try:
        detail = await service.transition(
            request.app[appkeys.POOL],
            request.app[appkeys.SETTINGS],
            auth.current_user(request),
            iid,
            service.TransitionRequest(body.to, body.note, body.unit_id, body.unit),
            client_ip=auth.client_ip(request),
            handover=request.app.get(appkeys.HANDOVER_HOOK),
        )
    except service.DispatchError as e:
        return _error(e)
    return _json(detail)


@auth.allow(*_RESPONDERS)
@auth.describe(
    "Add a note to an incident. Send an Idempotency-Key header (any unique string per note) so a "
    "retry after a lost reply returns the first note (200) instead of storing it twice",
    request=NoteBody,
    response=Note,
    tags=["incidents"],
)
async def add_note(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    body = await _body(request, NoteBody)
    key = request.headers.get("Idempotency-Key")
    try:
        note, new = await service.add_note(
            request.app[appkeys.POOL],
            request.app[appkeys.SETTINGS],
            auth.current_user(request),
            iid,
            body.body,
            client_ip=auth.client_ip(request),
            request_key=key.strip() if key is not None else None,
        )
    except service.DispatchError as e:
        return _error(e)
    return _json(note, status=201 if new else 200)


@auth.signed_in
@auth.describe(
    "WebSocket of live events. Messages: {type: hello|caught_up|event, cursor, ...}. Reconnect with "
    "?cursor=<cursor of the last event seen> to receive everything missed.",
    query={"cursor": "resume after this event cursor"},
    tags=["events"],
)
async def event_stream(request: web.Request) -> web.StreamResponse:
    return await stream.stream(request)


@auth.allow(*_DESK)
@auth.describe("Routing rules (alert type -> agencies)", response=RoutingRules, tags=["admin"])
async def get_rules(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await conn.fetch(
            """SELECT alert_type, target, agency_kind, fallback_command_centre, note
                 FROM routing_rule WHERE active ORDER BY id"""
        )
    return _json({"rules": [dict(r) for r in rows]})


@auth.allow(Role.ADMIN)
@auth.describe("Replace the routing rules", request=RoutingRules, response=RoutingRules, tags=["admin"])
async def put_rules(request: web.Request) -> web.Response:
    body = await _body(request, RoutingRules)
    for rule in body.rules:
        if (rule.target == "agency_kind") != (rule.agency_kind is not None):
            return auth.json_error(422, "invalid", "agency_kind is required exactly for target agency_kind")
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        before = [
            dict(r)
            for r in await conn.fetch(
                "SELECT alert_type, target, agency_kind, fallback_command_centre, note FROM routing_rule ORDER BY id"
            )
        ]
        await conn.execute("DELETE FROM routing_rule")
        await conn.executemany(
            """INSERT INTO routing_rule (alert_type, target, agency_kind, fallback_command_centre, note)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            [(r.alert_type, r.target, r.agency_kind, r.fallback_command_centre, r.note) for r in body.rules],
        )
        after = [r.model_dump() for r in body.rules]
        await audit.record(
            conn,
            user.actor(auth.client_ip(request)),
            "routing_rules.replace",
            object_type="routing_rule",
            object_id="*",
            before={"rules": before},
            after={"rules": after},
        )
    return _json({"rules": after})


@auth.public
@auth.describe("This document", tags=["meta"])
async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(request.app))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/login", login)
    r.add_post(f"{PREFIX}/logout", logout)
    r.add_get(f"{PREFIX}/me", me)
    r.add_get(f"{PREFIX}/agencies", agencies)
    r.add_get(f"{PREFIX}/incidents", list_incidents)
    r.add_get(PREFIX + "/incidents/{incident_id}", get_incident)
    r.add_post(PREFIX + "/incidents/{incident_id}/transition", transition)
    r.add_post(PREFIX + "/incidents/{incident_id}/notes", add_note)
    r.add_get(f"{PREFIX}/stream", event_stream)
    r.add_get(f"{PREFIX}/routing-rules", get_rules)
    r.add_put(f"{PREFIX}/routing-rules", put_rules)
    r.add_get(f"{PREFIX}/openapi.json", openapi)


# --- OpenAPI ----------------------------------------------------------------------------------

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return schema


def openapi_document(app: web.Application) -> dict[str, Any]:
    """OpenAPI 3.1 for every /api/ route, from each handler's access rule and description."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if not path.startswith("/api/"):
            continue
        doc = auth.doc_of(route.handler)
        rule = auth.access_of(route.handler)
        op: dict[str, Any] = {
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "summary": doc.summary if doc else route.handler.__name__,
            "tags": list(doc.tags) if doc else [],
            "responses": {},
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(path)
        ]
        if doc:
            params += [
                {"name": k, "in": "query", "required": False, "description": v, "schema": {"type": "string"}}
                for k, v in doc.query.items()
            ]
        if params:
            op["parameters"] = params
        if doc and doc.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(doc.request, components)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if doc and doc.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(doc.response, components)}}
        op["responses"]["200"] = ok
        if rule is None or not rule.public:
            op["security"] = [{"bearer": []}, {"session": []}]
            op["x-roles"] = sorted(r.value for r in (rule.roles or ())) if rule else []
            op["responses"]["401"] = {"description": "not signed in"}
            op["responses"]["403"] = {"description": "role not allowed (or CSRF token missing)"}
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "SIAGA API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE},
            },
        },
    }
