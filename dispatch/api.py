"""The JSON API under /api/v1 and its OpenAPI document, generated from the route table."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from core import appkeys, audit, auth, params
from core.params import Id, Line, Text
from core.roles import Role
from dispatch import refusals, service, states, stream

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
    complaint_id: int | None = Field(description="the complaint this incident was handed over to")
    allowed: list[str] = Field(description="states this user may move the incident to")


class TransitionBody(BaseModel):
    to: Literal["acknowledged", "dispatched", "on_scene", "resolved", "false_alarm", "handed_to_complaints"]
    note: Text | None = Field(default=None, max_length=4000)
    unit_id: Id | None = Field(default=None, description="agency_unit id sent (to=dispatched)")
    unit: Line | None = Field(default=None, max_length=200, description="free-text unit sent (to=dispatched)")
    category_id: Id | None = Field(
        default=None, description="complaint category of the hand-over (to=handed_to_complaints)"
    )
    description: Text | None = Field(
        default=None, max_length=4000, description="the complaint's description (to=handed_to_complaints)"
    )


class ComplaintCategory(BaseModel):
    id: int
    code: str
    name: str
    group_name: str


class ComplaintCategories(BaseModel):
    categories: list[ComplaintCategory]


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


class Ok(BaseModel):
    ok: bool


# path and query parameters, as the handlers parse them
_INCIDENT_ID = {"incident_id": {"type": "string", "format": "uuid"}}
_NOT_FOUND = "no such incident, or not one this user may see (the same answer for both)"


def _default(value: Any) -> Any:
    # asyncpg's UUID is its own type; orjson only knows the standard one
    if isinstance(value, uuid.UUID | Decimal) or type(value).__name__ == "UUID":
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(data), content_type="application/json")


def _incident_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["incident_id"])
    except ValueError:
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "Kejadian tidak ditemukan."}', content_type="application/json"
        ) from None


def _error(e: service.DispatchError) -> web.Response:
    return auth.json_error(refusals.STATUS[e.kind], e.code, str(e))


_answers_refusals = refusals.answering(service.DispatchError, _error)


# --- handlers ---------------------------------------------------------------------------------


@auth.public
@auth.describe(
    "Sign in; returns a bearer token",
    request=LoginRequest,
    response=LoginResponse,
    tags=["auth"],
    errors={401: "wrong user name or password", 429: "too many failed sign-ins for this name or address"},
)
async def login(request: web.Request) -> web.Response:
    body = await params.read_model(request, LoginRequest)
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
@auth.describe("End this session", response=Ok, tags=["auth"])
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
    params={
        "state": {"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
    },
    tags=["incidents"],
    errors={400: "state is not one of open, closed, all; or limit is not a whole number"},
)
async def list_incidents(request: web.Request) -> web.Response:
    which = request.query.get("state", "open")
    if which not in ("open", "closed", "all"):
        return auth.json_error(400, "bad_state", "state harus open, closed atau all.")
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "200"))))
    except ValueError:
        return auth.json_error(400, "bad_limit", "limit harus bilangan bulat.")
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await service.list_incidents(conn, auth.current_user(request), which=which, limit=limit)
    return _json({"incidents": rows})


@auth.allow(*_READERS)
@auth.describe(
    "One incident with device, place, history and notes",
    response=IncidentDetail,
    params=_INCIDENT_ID,
    tags=["incidents"],
    errors={404: _NOT_FOUND},
)
@_answers_refusals
async def get_incident(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        return _json(await service.get_incident(conn, auth.current_user(request), iid))


@auth.allow(*_RESPONDERS)
@auth.describe(
    "Move an incident to another state (acknowledge, dispatch a unit, on scene, resolve, false alarm, "
    "hand over to complaints); the device is told",
    request=TransitionBody,
    response=IncidentDetail,
    params=_INCIDENT_ID,
    tags=["incidents"],
    errors={
        403: "this role may not make that move",
        404: _NOT_FOUND,
        409: "the incident's state does not allow that move (e.g. already resolved)",
        422: "the unit cannot be sent to this incident, or none was named; or no such complaint category",
    },
)
@_answers_refusals
async def transition(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    body = await params.read_model(request, TransitionBody)
    detail = await service.transition(
        request.app[appkeys.POOL],
        request.app[appkeys.SETTINGS],
        auth.current_user(request),
        iid,
        service.TransitionRequest(body.to, body.note, body.unit_id, body.unit, body.category_id, body.description),
        client_ip=auth.client_ip(request),
        handover=request.app.get(appkeys.HANDOVER_HOOK),
    )
    return _json(detail)


@auth.allow(*_RESPONDERS)
@auth.describe(
    "Active complaint categories, for a hand-over of an incident to the complaint pipeline",
    response=ComplaintCategories,
    tags=["incidents"],
)
async def complaint_categories(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        return _json({"categories": await service.complaint_categories(conn)})


@auth.allow(*_RESPONDERS)
@auth.describe(
    "Add a note to an incident. Send an Idempotency-Key header (any unique string per note) so a "
    "retry after a lost reply returns the first note (200) instead of storing it twice",
    request=NoteBody,
    response=Note,
    params=_INCIDENT_ID,
    tags=["incidents"],
    ok={200: "a retry with the same Idempotency-Key: the first note", 201: "the note, stored"},
    errors={
        403: "this role may not add notes",
        404: _NOT_FOUND,
        409: "the Idempotency-Key was used for another note",
        422: "empty note, or an Idempotency-Key that is empty or longer than 200 characters",
    },
)
@_answers_refusals
async def add_note(request: web.Request) -> web.Response:
    iid = _incident_id(request)
    body = await params.read_model(request, NoteBody)
    key = request.headers.get("Idempotency-Key")
    note, new = await service.add_note(
        request.app[appkeys.POOL],
        request.app[appkeys.SETTINGS],
        auth.current_user(request),
        iid,
        body.body,
        client_ip=auth.client_ip(request),
        request_key=key.strip() if key is not None else None,
    )
    return _json(note, status=201 if new else 200)


@auth.signed_in
@auth.describe(
    "WebSocket of live events. Messages: {type: hello|caught_up|event, cursor, ...}. Reconnect with "
    "?cursor=<cursor of the last event seen> to receive everything missed.",
    query={"cursor": "resume after this event cursor"},
    params={"cursor": {"type": "string", "pattern": r"^\d+\.\d+$"}},
    tags=["events"],
    ok={101: "switching to the WebSocket protocol"},
    errors={
        400: "not a WebSocket upgrade request, or a cursor that is not of the form 123.456",
        403: "a browser's WebSocket from another site (Origin)",
    },
)
async def event_stream(request: web.Request) -> web.StreamResponse:
    if not web.WebSocketResponse().can_prepare(request).ok:
        # else aiohttp's plain-text 400 from deep inside prepare()
        return auth.json_error(400, "websocket_required", "Alamat ini hanya melayani WebSocket.")
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
@auth.describe(
    "Replace the routing rules",
    request=RoutingRules,
    response=RoutingRules,
    tags=["admin"],
    errors={422: "agency_kind given without target agency_kind, or missing with it"},
)
async def put_rules(request: web.Request) -> web.Response:
    body = await params.read_model(request, RoutingRules)
    for rule in body.rules:
        if (rule.target == "agency_kind") != (rule.agency_kind is not None):
            return auth.json_error(422, "invalid", "agency_kind wajib diisi tepat untuk target agency_kind.")
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        # one replacement at a time (two at once deadlocked on each other's deleted rows, a 500);
        # this mode lets the router keep reading the rules meanwhile
        await conn.execute("LOCK TABLE routing_rule IN SHARE ROW EXCLUSIVE MODE")
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
    r.add_get(f"{PREFIX}/complaint-categories", complaint_categories)
    r.add_get(f"{PREFIX}/stream", event_stream)
    r.add_get(f"{PREFIX}/routing-rules", get_rules)
    r.add_put(f"{PREFIX}/routing-rules", put_rules)
    r.add_get(f"{PREFIX}/openapi.json", openapi)


# --- OpenAPI ----------------------------------------------------------------------------------

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every refusal: a stable code for programs and a sentence for people (Bahasa Indonesia); "
    "some carry more (detail, errors, retry_after, attempts_left)",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable code, e.g. not_found"},
        "message": {"type": "string", "description": "for people, in Bahasa Indonesia"},
    },
    "additionalProperties": True,
}

# The statuses the middlewares answer for a route, not its handler: the door refuses a NUL or
# control character in the path, query or body (siaga/webapp.py), core/auth.py the session, the
# role and the CSRF token, and a body above the limit is refused before any handler parses it.
_BAD_INPUT = "refused input: a control character (NUL, ...) or a malformed value in the path, query or body"
_UNAUTHENTICATED = "not signed in: no session, or an expired or revoked one"
_FORBIDDEN = "this role may not call the route"
_CSRF = "a cookie session without its CSRF token (X-CSRF-Token)"
_TOO_LARGE = "the body is larger than the route accepts"
_NO_ROUTE = "the path matches no route"


def _schema(model: Any, components: dict[str, Any], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return schema


def _error_response(description: str) -> dict[str, Any]:
    # the router's own 404/405 too: core.params' input_guard answers them in this shape
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    return {"description": description, "content": {"application/json": error}}


def _responses(
    method: str, path_params: list[str], doc: auth.ApiDoc | None, rule: auth.Access | None, components: dict[str, Any]
) -> dict[str, Any]:
    errors: dict[int, list[str]] = {400: [_BAD_INPUT]}
    if rule is None or not rule.public:
        errors.setdefault(401, []).append(_UNAUTHENTICATED)
        errors.setdefault(403, []).append(_FORBIDDEN)
        if method not in ("GET", "HEAD", "OPTIONS"):
            errors[403].append(_CSRF)
    if method in _BODY_METHODS and doc is not None and doc.request is not None:
        errors.setdefault(413, []).append(_TOO_LARGE)
        if doc.request_type == "application/json":
            errors.setdefault(doc.body_status, []).append("the body is not JSON or does not match the request schema")
    for status, why in (doc.errors if doc else {}).items():
        errors.setdefault(status, []).append(why)
    if path_params:
        errors.setdefault(404, []).append(_NO_ROUTE)
    responses: dict[str, Any] = {}
    for status, text in (doc.ok if doc else {200: "OK"}).items():
        ok: dict[str, Any] = {"description": text}
        if doc and doc.response is not None and status != 101:
            schema = (
                _schema(doc.response, components, "serialization")
                if doc.response_type == "application/json"
                else {"type": "string"}
            )
            ok["content"] = {doc.response_type: {"schema": schema}}
        responses[str(status)] = ok
    for status in sorted(errors):
        responses[str(status)] = _error_response("; ".join(errors[status]))
    return responses


def openapi_document(app: web.Application) -> dict[str, Any]:
    """OpenAPI 3.1 for every /api/ route, from each handler's access rule and description: every
    status the route can answer (its handler's and the middlewares'), each refusal with the
    ``Error`` body."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
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
        }
        given = doc.params if doc else {}
        path_params = _PARAM.findall(path)
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": given.get(name, {"type": "string", "minLength": 1}),
            }
            for name in path_params
        ]
        if doc:
            params += [
                {
                    "name": k,
                    "in": "query",
                    "required": False,
                    "description": v,
                    "schema": given.get(k, {"type": "string"}),
                }
                for k, v in doc.query.items()
            ]
        if params:
            op["parameters"] = params
        if doc and doc.request is not None:
            schema = (
                _schema(doc.request, components, "validation")
                if doc.request_type == "application/json"
                else {"type": "string"}
            )
            op["requestBody"] = {"required": True, "content": {doc.request_type: {"schema": schema}}}
        op["responses"] = _responses(route.method, path_params, doc, rule, components)
        if doc and doc.security:
            op["security"] = [{doc.security: []}]
        elif rule is None or not rule.public:
            op["security"] = [{"bearer": []}, {"session": []}]
            op["x-roles"] = sorted(r.value for r in (rule.roles or ())) if rule else []
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "SIAGA API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a user session (POST /api/v1/login)"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE},
                "appToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the citizen app's install token (POST /api/v1/apps/verify)",
                },
            },
        },
    }
