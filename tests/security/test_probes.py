"""Hostile input on every route, enumerated from the router: each hostile value sent ALONE to each
parameter of each route (path, query, form, multipart and JSON; the other parameters valid where
the test can make them so), never a 500, every refusal with a message, tables intact, the server
still serving; path traversal on the static files; oversize bodies on every route that takes one.

The parameters of a route come from the router (path), the OpenAPI document (query parameters and
request bodies of /api routes) and the source of the handler and of every project function it
calls, followed three calls deep (``query.get("x")``, ``form.get("x")``, ``_field(form, "x")``),
so a parameter a new handler reads is probed without a list to keep."""

from __future__ import annotations

import asyncio
import copy
import csv
import html
import inspect
import io
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from pydantic import BaseModel
from yarl import URL

from core import auth
from tests.security.conftest import Site, bearer
from tests.security.routes import SAMPLE, SAMPLE_FOR, AppRoute, app_routes

# The hostile values: control characters, sizes, numbers that str.isdigit() or int()
# accept but no column holds, non-finite numbers, dates at the edge of Python's range with offsets,
# SQL injection, a right-to-left override, empty, a reference to nothing.
HOSTILE: list[str] = [
    "\u0000",
    "a\u0000b",
    "\u0001\u0002\u001b[31m",
    "\u007f",
    "\u0085",
    "\ud800",
    "x" * 5000,
    "²",
    "١٢",
    "1" * 25,
    "-1",
    "0",
    str(2**63),
    str(-(2**63) - 1),
    "nan",
    "inf",
    "-inf",
    "1e400",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01",
    "9999-12",
    "' OR 1=1 --",
    "1; DROP TABLE incident",
    "Wonosobo ☂ 日本 \u202egnp.exe ẞ",
    "",
    "999999999",
]
# sent as it is (not percent-encoded again): not UTF-8 once decoded
BAD_UTF8 = "%ff%fe%c0%ae"
# JSON values beside the strings above: numbers no column holds, and the wrong types
HOSTILE_JSON: list[object] = [*HOSTILE, -1, 2**63, 10**25, -(2**63) - 1, 1e308, None, [], {}, True]
# the fields of a multipart form get fewer values: it shares the form's parser
HOSTILE_MULTIPART = ["\u0000", "\u0001", "x" * 5000, "1" * 25, "' OR 1=1 --"]

_PROJECT = ("core", "dispatch", "complaints", "gateway", "siaga")
_NAME = r"([A-Za-z_][A-Za-z0-9_\[\]]{0,40})"
_READS = [
    re.compile(rf"""\.get\(\s*["']{_NAME}["']"""),
    re.compile(rf"""(?:query|form|data|body|payload|match_info)\[\s*["']{_NAME}["']\s*\]"""),
    re.compile(rf"""["']{_NAME}["']\s+(?:not\s+)?in\s+(?:request\.)?(?:query|form|data|body)\b"""),
    re.compile(rf"""\b_field\(\s*form\s*,\s*["']{_NAME}["']"""),
    re.compile(rf"""\b_?(?:need_)?text\(\s*(?:[a-z_]+\s*,\s*)?["']{_NAME}["']"""),
]


def _action_fields() -> set[str]:
    from complaints import model

    return {f for cls in model.ACTIONS.values() for f in cls.__dataclass_fields__} - {"name", "sources", "roles"}


# functions that read their fields from a table rather than by name
_FIELD_TABLES = {"complaints.model.parse_action": _action_fields}
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\(")


def _called(fn: Any) -> list[Any]:
    """The project functions ``fn`` calls by name (``helper(...)`` or ``module.helper(...)``)."""
    out = []
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return out
    scope = {**fn.__globals__, **inspect.getclosurevars(fn).nonlocals}  # wrappers call their handler by closure
    for first, second in _CALL.findall(source):
        target = scope.get(first)
        if second:
            target = getattr(target, second, None) if inspect.ismodule(target) else None
        if inspect.isfunction(target) and target.__module__.split(".")[0] in _PROJECT and target is not fn:
            out.append(inspect.unwrap(target))
    return out


def handler_reads(handler: Any, depth: int = 3) -> set[str]:
    """Every parameter name the handler, or a project function it calls (``depth`` calls deep),
    reads from the query, a form or a JSON body."""
    names: set[str] = set()
    seen: set[Any] = set()
    todo = [(inspect.unwrap(handler), 0)]
    while todo:
        fn, level = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            continue
        for pattern in _READS:
            names.update(pattern.findall(source))
        table = _FIELD_TABLES.get(f"{fn.__module__}.{fn.__qualname__}")
        if table is not None:
            names.update(table())
        if level < depth:
            todo += [(f, level + 1) for f in _called(fn)]
    return names - {"csrf_token"}


@dataclass
class Plan:
    """What the probe knows of one route: its parameters and a valid request to vary."""

    route: AppRoute
    path: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    csv: list[list[str]] | None = None  # a valid CSV upload (header and rows), for the import routes
    fields: set[str] = field(default_factory=set)  # names read from the query or a body
    # for a route whose valid request changes its object (a transition, a disposition): a new
    # object per probe, so that every probe reaches the code past the state check
    fresh: Callable[[], Awaitable[dict[str, str]]] | None = None
    role: str | None = None  # who calls it, when not the first of _ROLE_PREFERENCE the route allows


def _leaves(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*where, k))] or [where]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaves(v, (*where, i))]
    return [where]


def _with(value: Any, where: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of ``value`` with the leaf at ``where`` replaced."""
    out = copy.deepcopy(value)
    if not where:
        return new
    target = out
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = new
    return out


async def _world_objects(site: Site) -> dict[str, str]:
    """Real objects for the path parameters (an incident, a complaint, a shift and its entry), so
    that a probe reaches the code behind the lookup."""
    from complaints import store
    from complaints.model import Actor
    from dispatch import roster, roster_rules
    from tests.dispatch import factory

    w = site.world
    async with site.pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=w.polsek_wonosobo)
        await store.create_category(conn, "jalan-rusak", "Jalan rusak", default_opd_id=w.opd)
        clock = await store.load_clock(conn)
        complaint = await store.create(
            conn, store.NewComplaint(description="Lampu jalan mati"), Actor.system(), clock=clock
        )
        actor = site.world.users["admin"].actor()
        await roster.save_shift(conn, actor, w.polsek_wonosobo, roster_rules.make_shift("P", "Pagi", "07:00", 8))
        today = datetime.now(roster_rules.WIB).date()
        entry = await roster.assign(conn, actor, w.polsek_wonosobo, "P", today, "op-polsek", False)
    return {
        "incident_id": str(made.incident_id),
        "id": str(complaint["id"]),
        "tracking": complaint["tracking_id"],
        "agency": str(w.polsek_wonosobo),
        "entry_id": str(entry.id),
        "code": "P",
        "month": today.strftime("%Y-%m"),
        "unit_id": str(w.patrol_unit),
        "opd": str(w.opd),
        "day": today.isoformat(),
    }


def _valid(objects: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid request for the routes that need more than their path to get past the first check."""
    agency, month, day = objects["agency"], objects["month"], objects["day"]
    entry, unit = int(objects["entry_id"]), int(objects["unit_id"])
    piket = {"instansi": agency, "bulan": month}
    return {
        ("GET", "/status"): {"query": {"nomor": objects["tracking"]}},
        ("GET", "/piket"): {"query": piket},
        ("GET", "/piket/jadwal.csv"): {"query": piket},
        ("GET", "/piket/laporan.csv"): {"query": piket},
        ("GET", "/api/v1/roster-report"): {"query": {"month": month, "agency": agency}},
        ("POST", "/piket/shift"): {"form": {**piket, "kode": "S", "nama": "Siang", "mulai": "14:00", "jam": "8"}},
        ("POST", "/piket/jadwal"): {
            "form": {**piket, "shift": "P", "tanggal": day, "pengguna": "op-polsek", "siaga": ""}
        },
        ("POST", "/piket/jadwal/hapus"): {"form": {**piket, "id": str(entry)}},
        ("POST", "/piket/tukar"): {"form": {**piket, "id": str(entry), "pengguna": "supervisor"}},
        ("POST", "/lapor"): {"form": {"description": "Jalan berlubang di depan pasar", "kind": "pengaduan"}},
        ("POST", "/status/{tracking}"): {"form": {"action": "dispute", "note": "belum selesai"}},
        ("POST", "/pengaduan/{id}/aksi"): {"form": {"action": "dispose", "opd_id": objects["opd"], "note": "x"}},
        ("POST", "/pengaduan/admin/kategori"): {
            "form": {"code": "k-{n}", "name": "Baru", "group_name": "G", "default_opd_id": objects["opd"]}
        },
        ("POST", "/pengaduan/admin/cuti"): {"form": {"day": "2026-12-24", "note": "cuti"}},
        ("POST", "/pengaduan/teguran"): {"form": {"opd_id": objects["opd"], "text": "segera tindak lanjuti"}},
        ("POST", "/open311/v2/requests.{fmt}"): {
            "form": {"api_key": "tidak-ada", "service_code": "jalan-rusak", "description": "x", "lat": "-7.36"}
        },
        ("POST", "/api/v1/login"): {"json": {"username": "tidak-ada", "password": "salah-sekali"}},
        ("POST", "/api/v1/incidents/{incident_id}/transition"): {
            "json": {"to": "dispatched", "note": "berangkat", "unit_id": unit, "unit": "Patroli 1"}
        },
        ("POST", "/api/v1/incidents/{incident_id}/notes"): {"json": {"body": "catatan"}},
        ("PUT", "/api/v1/routing-rules"): {
            "json": {
                "rules": [
                    {"alert_type": "panic", "target": "covering_police", "note": "polisi"},
                    {"alert_type": "fire", "target": "agency_kind", "agency_kind": "damkar", "note": "damkar"},
                ]
            }
        },
        ("PUT", "/api/v1/roster/{agency}/shifts/{code}"): {"json": {"name": "Malam", "starts": "22:00", "hours": 8}},
        ("POST", "/api/v1/roster/{agency}/entries"): {
            "json": {"day": day, "shift": "P", "username": "supervisor", "on_call": False}
        },
        ("POST", "/api/v1/roster/{agency}/swap"): {"json": {"entry_id": entry, "username": "supervisor"}},
        ("PUT", "/api/v1/roster/{agency}/{month}.csv"): {
            "csv": [["tanggal", "shift", "pengguna", "siaga"], [day, "P", "op-polsek", "tidak"]]
        },
        ("POST", "/api/v1/apps/register"): {"json": {"phone": "+6281234567890", "name": "Warga"}},
        ("POST", "/api/v1/apps/verify"): {"json": {"phone": "+6281234567890", "code": "123456"}},
        ("POST", "/api/v1/alerts"): {
            "json": {"seq": 1, "ts": 1764270000, "type": "panic", "loc": {"lat": -7.36, "lon": 109.9, "acc": 8.0}}
        },
    }


def _documented(openapi: dict[str, Any], r: AppRoute) -> tuple[set[str], set[str]]:
    """(query names, top-level JSON body fields) the OpenAPI document gives the route."""
    op = openapi["paths"].get(re.sub(r"{([^}:]+):[^}]*}", r"{\1}", r.path), {}).get(r.method.lower(), {})
    query = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    body: set[str] = set()
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        schema = openapi["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    body.update(schema.get("properties", {}))
    return query, body


def _fresh_objects(site: Site) -> dict[tuple[str, str], Callable[[], Awaitable[dict[str, str]]]]:
    from complaints import store
    from complaints.model import Actor
    from tests.dispatch import factory

    async def incident() -> dict[str, str]:
        async with site.pool.acquire() as conn:
            made = await factory.incident(conn, police_agency_id=site.world.polsek_wonosobo)
            # acknowledged, so that the probe's "dispatched" reaches the unit it names
            await conn.execute("UPDATE incident SET state = 'acknowledged' WHERE id = $1", made.incident_id)
        return {"incident_id": str(made.incident_id)}

    async def complaint() -> dict[str, str]:
        async with site.pool.acquire() as conn:
            new = store.NewComplaint(description="Lampu jalan mati")
            row = await store.create(conn, new, Actor.system(), clock=await store.load_clock(conn))
        return {"id": str(row["id"]), "tracking": row["tracking_id"]}

    async def disposed() -> dict[str, str]:
        from complaints.model import Dispose

        made = await complaint()
        async with site.pool.acquire() as conn:
            staff = Actor(role="complaint_staff", user_id=site.world.users["complaints"].id, name="complaints")
            await store.act(
                conn, int(made["id"]), Dispose(opd_id=site.world.opd), staff, clock=await store.load_clock(conn)
            )
        return made

    return {
        ("POST", "/api/v1/incidents/{incident_id}/transition"): incident,
        ("POST", "/pengaduan/{id}/aksi"): complaint,
        ("opd_officer", "/pengaduan/{id}/aksi"): disposed,
    }


# a route probed a second time as another role, on other objects: the OPD's follow-up (with a photo)
_VARIANTS = [
    (("POST", "/pengaduan/{id}/aksi"), "opd_officer", {"form": {"action": "follow_up", "text": "sudah diperbaiki"}}),
]
# photo uploads of the follow-up: (bytes, content type)
_PHOTOS = [
    (b"", "image/jpeg"),
    (b"bukan gambar", "image/png"),
    (b"<script>alert(1)</script>", "text/html"),
    (b"\x00" * 64, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n" + b"\xff" * 1000, "image/png"),
]


def plans(
    routes: list[AppRoute],
    openapi: dict[str, Any],
    objects: dict[str, str],
    fresh: dict[tuple[str, str], Callable[[], Awaitable[dict[str, str]]]],
) -> list[Plan]:
    valid = _valid(objects)
    out = []
    for r in routes:
        given = valid.get(r.key, {})
        query, body = _documented(openapi, r)
        doc = auth.doc_of(r.handler)
        model_fields: set[str] = set()
        if doc is not None and isinstance(doc.request, type) and issubclass(doc.request, BaseModel):
            model_fields = set(doc.request.model_fields)
        plan = Plan(
            r,
            path={p: objects.get(p, SAMPLE.get(p, "1")) for p in r.params},
            query=dict(given.get("query", {})),
            form=dict(given.get("form", {})),
            json=given.get("json"),
            csv=given.get("csv"),
            fields=handler_reads(r.handler) | query | body | model_fields,
            fresh=fresh.get(r.key),
        )
        plan.path.update(SAMPLE_FOR.get(r.path, {}))
        if r.path.endswith(".{fmt}") or "{fmt}" in r.path:
            plan.path["fmt"] = "json"
        out.append(plan)
        for key, role, variant in _VARIANTS:
            if key == r.key:
                other = copy.copy(plan)
                other.role, other.form, other.fresh = role, dict(variant.get("form", {})), fresh.get((role, r.path))
                out.append(other)
    return out


@dataclass
class Probe:
    plan: Plan
    where: str  # "path", "query", "form", "multipart", "json", "csv" or "photo"
    name: str
    value: Any

    def describe(self) -> str:
        shown = repr(self.value)
        return f"{self.where} {self.name}={shown[:40]}{'…' if len(shown) > 40 else ''}"


def _q(value: str) -> str:
    # a lone surrogate goes out as the bytes of its code point: one more kind of invalid UTF-8
    return BAD_UTF8 if value == BAD_UTF8 else quote(value.encode("utf-8", "surrogatepass"), safe="")


def _urlencoded(pairs: dict[str, str]) -> str:
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs.items())


def probes(plan: Plan) -> list[Probe]:
    """Every hostile value in every parameter where the route reads it; where it does not (a
    query on a POST, a form on a JSON route) the few values that the guard refuses for all."""
    r = plan.route
    values = [*HOSTILE, BAD_UTF8]
    few = HOSTILE_MULTIPART
    out = [Probe(plan, "path", p, v) for p in plan.path for v in values]
    # a parameter no handler reads: the guard's part, on every route
    out += [Probe(plan, "query", "siaga_probe", v) for v in few]
    unsafe = r.unsafe and r.method != "*"
    query_fields = sorted((set() if unsafe else plan.fields) | set(plan.query))
    out += [Probe(plan, "query", n, v) for n in query_fields for v in values]
    if unsafe:
        out += [Probe(plan, "query", n, v) for n in sorted(plan.fields - set(plan.query)) for v in few]
        takes_json = plan.json is not None or r.path.startswith("/api/")
        body_fields = sorted(plan.fields | set(plan.form))
        out += [Probe(plan, "form", n, v) for n in body_fields for v in (few if takes_json else values)]
        out += [Probe(plan, "multipart", n, v) for n in body_fields for v in few]
        if plan.json is not None:
            for leaf in _leaves(plan.json):
                out += [Probe(plan, "json", ".".join(map(str, leaf)), v) for v in HOSTILE_JSON]
        out += [
            Probe(plan, "json", n, v)
            for n in sorted(plan.fields - (set(plan.json) if isinstance(plan.json, dict) else set()))
            for v in (HOSTILE_JSON if takes_json else few)
        ]
        if "photo" in plan.fields:
            out += [Probe(plan, "photo", "photo", v) for v in _PHOTOS]
        if plan.csv is not None:
            cells = [(i, j) for i, row in enumerate(plan.csv) for j in range(len(row))]
            out += [Probe(plan, "csv", f"{i}.{j}", v) for i, j in cells for v in values]
    return out


def _request(probe: Probe, objects: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(URL already percent-encoded, keyword arguments of the request) for one probe."""
    plan, name, value = probe.plan, probe.name, probe.value
    path_values = {**plan.path, **{k: v for k, v in objects.items() if k in plan.path}}
    query = dict(plan.query)
    kw: dict[str, Any] = {}
    if probe.where == "path":
        path_values[name] = value
    elif probe.where == "query":
        query[name] = value
    path = _PATH_PARAM.sub(lambda m: _q(path_values.get(m.group(1), "1")), plan.route.path)
    url = path + (f"?{_urlencoded(query)}" if query else "")
    form_values = {k: v.replace("{n}", str(next(_UNIQUE))) for k, v in plan.form.items()}
    if probe.where == "form":
        kw["data"] = _urlencoded({**form_values, name: value}).encode()
        kw["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    elif probe.where == "photo":
        form = aiohttp.FormData()
        for k, v in form_values.items():
            form.add_field(k, v)
        content, ctype = value
        form.add_field("photo", content, filename="foto.jpg", content_type=ctype)
        kw["data"] = form
    elif probe.where == "multipart":
        form = aiohttp.FormData()
        for k, v in {**form_values, name: value}.items():
            form.add_field(k, v)
        kw["data"] = form
    elif probe.where == "json":
        if plan.json is not None and name in {".".join(map(str, leaf)) for leaf in _leaves(plan.json)}:
            leaf = next(leaf for leaf in _leaves(plan.json) if ".".join(map(str, leaf)) == name)
            doc = _with(plan.json, leaf, value)
        else:
            doc = {**(plan.json if isinstance(plan.json, dict) else {}), name: value}
        kw["data"] = json.dumps(doc, ensure_ascii=True).encode()
        kw["headers"] = {"Content-Type": "application/json"}
    elif probe.where == "csv":
        i, j = map(int, name.split("."))
        rows = copy.deepcopy(plan.csv or [])
        rows[i][j] = value
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        kw["data"] = buf.getvalue().encode("utf-8", "surrogatepass")
        kw["headers"] = {"Content-Type": "text/csv"}
    elif plan.route.unsafe and plan.json is not None:
        kw["data"] = json.dumps(plan.json).encode()
        kw["headers"] = {"Content-Type": "application/json"}
    elif plan.route.unsafe and plan.form:
        kw["data"] = _urlencoded(form_values).encode()
        kw["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    return url, kw


# "{n}" in a valid form value: a new number per request (a category code must be new to get past its check)
_UNIQUE = itertools.count(1)
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


_ROLE_PREFERENCE = ("supervisor", "complaint_staff", "operator", "admin", "leader", "opd_officer", "command_centre")


async def _principal(site: Site, r: AppRoute, tokens: dict[str, str], role: str | None = None) -> dict[str, str]:
    rule = r.rule
    assert rule is not None, r
    if rule.roles is None:
        return {}
    # the first allowed of the roles that own the test's objects, so a probe gets past the access check
    role = role or next(r for r in _ROLE_PREFERENCE if r in rule.roles)
    if rule.ends_session or role not in tokens:
        token = (await site.mint(role))[0]
        if rule.ends_session:
            return bearer(token)
        tokens[role] = token
    return bearer(tokens[role])


async def _integrity(site: Site) -> tuple[object, ...]:
    async with site.pool.acquire() as conn:
        return (
            tuple(
                r["t"]
                for r in await conn.fetch(
                    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
                )
            ),
            tuple(await conn.fetch("SELECT id, username, password_hash, role, active FROM app_user ORDER BY id")),
            await conn.fetchval("SELECT count(*) FROM agency"),
            # the probes add incidents and complaints (their fresh objects); none may go
            frozenset(r["id"] for r in await conn.fetch("SELECT id FROM incident")),
            frozenset(r["id"] for r in await conn.fetch("SELECT id FROM complaint")),
        )


# bounded, so the probes do not starve the rest of the machine (and stay under the pool's size)
_CONCURRENCY = 6

# Words of English that never occur in a sentence of Bahasa Indonesia: a refusal that holds one
# was written in English (every refusal is in Bahasa Indonesia).
ENGLISH = re.compile(
    r"\b(the|must|not|no such|invalid|missing|unknown|allowed|please|should|cannot|only|required|field"
    r"|expected|is|are|may|at least|at most|characters|or|wrong|password|too many|try again)\b",
    re.IGNORECASE,
)
# what a message may quote of the request (a value or a name, echoed as typed) and the names of
# characters (``U+202E RIGHT-TO-LEFT OVERRIDE``): not the message's own words
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|U\+[0-9A-F]{4,6}(?: [A-Z0-9 -]+)?")
# the main paragraph of an HTML error page: the sign-in form's, the complaint desk's (and the
# reason after it), the roster's list
_HTML_ERROR = re.compile(r"<(p|div) class=['\"](?:err|error)['\"][^>]*>(.*?)</\1>(?:\s*<p>(.*?)</p>)?", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_XML_DESCRIPTION = re.compile(r"<description>(.*?)</description>", re.DOTALL)


def human_messages(content_type: str, body: bytes) -> list[str]:
    """The words of a refusal a person reads: JSON ``message`` and ``detail[].msg`` (or a ``detail``
    sentence), Open311's ``description`` (JSON or XML), an HTML error page's main paragraph."""
    text = body.decode("utf-8", "replace")
    found: list[str] = []
    if content_type == "application/json":
        try:
            doc = json.loads(text)
        except ValueError:
            return [text]
        for item in doc if isinstance(doc, list) else [doc]:
            if not isinstance(item, dict):
                continue
            found += [item[k] for k in ("message", "description") if isinstance(item.get(k), str)]
            detail = item.get("detail")
            if isinstance(detail, str):
                found.append(detail)
            elif isinstance(detail, list):
                found += [d["msg"] for d in detail if isinstance(d, dict) and isinstance(d.get("msg"), str)]
    elif content_type in ("text/xml", "application/xml"):
        found += [html.unescape(m) for m in _XML_DESCRIPTION.findall(text)]
    elif content_type == "text/html":
        for m in _HTML_ERROR.finditer(text):
            found += [html.unescape(_TAG.sub(" ", part)) for part in m.groups()[1:] if part]
    return found


def english_in(message: str) -> str | None:
    """The first English word of ``message`` outside what it quotes, or None."""
    m = ENGLISH.search(_QUOTED.sub(" ", message))
    return m.group(0) if m else None


@pytest.mark.parametrize(
    ("content_type", "body", "word"),
    [
        # messages SIAGA used to send
        ("application/json", b'{"error": "not_found", "message": "no such incident"}', "no such"),
        ("application/json", b'{"error": "invalid", "message": "x", "detail": [{"msg": "Field required"}]}', "Field"),
        ("application/json", b'[{"code": 403, "description": "api_key is missing or not valid"}]', "is"),
        ("text/xml", b"<errors><error><description>no such token</description></error></errors>", "no such"),
        ("text/html", b'<p class="error" role="alert">wrong user name or password</p>', "wrong"),
        ("text/html", b"<p class='err'>Isian tidak sah.</p><p>action: unknown action 'x'</p>", "unknown"),
        ("application/json", b'{"error": "bad_period", "message": "from must be before to"}', "must"),
        # and what they say now; a quoted echo of the request is not the message's own words
        ("application/json", b'{"error": "not_found", "message": "Insiden tidak ditemukan."}', None),
        ("application/json", b'{"message": "isian \'the field\' berisi (U+202E RIGHT-TO-LEFT OVERRIDE)"}', None),
        ("text/html", b"<p class='err'>Isian tidak sah.</p><p>action: tindakan 'must not' tidak dikenal</p>", None),
    ],
)
def test_the_english_check_finds_the_old_messages_and_passes_the_new(
    content_type: str, body: bytes, word: str | None
) -> None:
    found = [w for m in human_messages(content_type, body) if (w := english_in(m))]
    assert found[:1] == ([word] if word else [])


async def test_every_hostile_value_alone_in_every_parameter_of_every_route(site: Site) -> None:
    routes = app_routes(site.app)
    objects = await _world_objects(site)
    async with aiohttp.ClientSession(base_url=site.url) as http:
        openapi = await (await http.get("/api/v1/openapi.json")).json()
        all_plans = plans(routes, openapi, objects, _fresh_objects(site))
        names = {n for p in all_plans for n in p.fields}
        # the enumeration finds what the handlers read, not a list kept by hand
        assert {"state", "limit", "body", "to", "unit_id", "description", "service_code", "phone", "reason"} <= names
        assert {"instansi", "bulan", "jam", "default_opd_id", "day", "opd_id", "note", "nomor", "from"} <= names
        todo = [p for plan in all_plans for p in probes(plan)]
        tokens: dict[str, str] = {}
        for r in routes:
            await _principal(site, r, tokens)
        before = await _integrity(site)
        failures: list[str] = []
        english: dict[tuple[str, str, str], str] = {}  # one line per route and message
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def send(probe: Probe) -> None:
            r = probe.plan.route
            async with gate:
                fresh = await probe.plan.fresh() if probe.plan.fresh is not None else {}
            url, kw = _request(probe, fresh)
            headers = {**await _principal(site, r, tokens, probe.plan.role), **kw.pop("headers", {})}
            async with gate:
                try:
                    async with http.request(
                        r.request_method(),
                        URL(site.url + url, encoded=True),
                        headers=headers,
                        allow_redirects=False,
                        **kw,
                    ) as resp:
                        text = await resp.read()
                except aiohttp.ClientError as e:
                    failures.append(f"{r.method} {r.path} {probe.describe()}: connection error {e!r}")
                    return
            if resp.status >= 500:
                failures.append(f"{r.method} {r.path} {probe.describe()}: {resp.status} {text[:160]!r}")
            elif 400 <= resp.status < 500 and not text.strip():
                failures.append(f"{r.method} {r.path} {probe.describe()}: {resp.status} without a message")
            elif 400 <= resp.status < 500:
                for message in human_messages(resp.content_type, text):
                    if (word := english_in(message)) is not None and len(english) < 200:
                        english.setdefault((r.method, r.path, message[:200]), f"{probe.describe()}: {word!r}")

        started = time.monotonic()
        await asyncio.gather(*(send(p) for p in todo))
        elapsed = time.monotonic() - started
        assert (await http.get("/healthz")).status == 200
    print(
        f"\nprobes: {len(todo)} requests over {len(routes)} routes and {len(names)} parameter names in {elapsed:.1f} s"
    )
    assert not failures, f"{len(failures)} of {len(todo)} probes failed:\n" + "\n".join(sorted(failures))
    assert not english, f"{len(english)} refusals in English:\n" + "\n".join(
        f"{m} {p} {msg!r} ({why})" for (m, p, msg), why in sorted(english.items())
    )
    after = await _integrity(site)
    assert after[:3] == before[:3]
    assert after[3] >= before[3] and after[4] >= before[4]


# --- path traversal ---------------------------------------------------------------------------------

_TRAVERSALS = [
    "../../../../../../etc/passwd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..\\..\\..\\..\\..\\..\\etc\\passwd",
    "..%5c..%5c..%5c..%5c..%5c..%5cetc%5cpasswd",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "....//....//....//....//etc/passwd",
    "..%00/..%00/etc/passwd",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    # one level up is the package's own source: never served either
    "../console.py",
    "%2e%2e/console.py",
    "..%2fconsole.py",
    "../web.py",
    "..%2fweb.py",
    "..%2f..%2fcore%2fsettings.py",
]
_LEAKS = (b"root:", b"import ", b"def ", b"SIAGA_", b"[boot loader]")


async def _raw_get(site: Site, target: str, token: str) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (a client library would normalise it)."""
    host, port = urlsplit(site.url).hostname, urlsplit(site.url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(10):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_static_files_never_leave_their_directory(site: Site) -> None:
    statics = [r for r in app_routes(site.app) if r.method == "GET" and re.search(r"{(path|name)}$", r.path)]
    assert {"/static/dispatch/{path}", "/vendor/leaflet/{path}", "/static/complaints/{name}", "/geo/{name}"} <= {
        r.path for r in statics
    }
    token = (await site.mint("admin"))[0]
    leaked: list[str] = []
    for r in statics:
        prefix = r.path.rsplit("{", 1)[0]
        for t in _TRAVERSALS:
            target = prefix + t
            status, body = await _raw_get(site, target, token)
            if status not in (400, 403, 404) or any(x in body for x in _LEAKS):
                leaked.append(f"{target}: {status} {body[:80]!r}")
    # the files that are meant to be served still are
    assert (await _raw_get(site, "/static/dispatch/console.js", token))[0] == 200
    assert not leaked, "\n".join(leaked)


# --- oversize bodies --------------------------------------------------------------------------------

OVERSIZE = 7 * 1024 * 1024  # the app's limit is 6 MiB (photo uploads); JSON-only routes stop lower


async def test_oversize_bodies_are_refused_and_the_server_keeps_serving(site: Site) -> None:
    routes = [r for r in app_routes(site.app) if r.unsafe and r.method != "*"]
    tokens: dict[str, str] = {}
    blob = b"x" * OVERSIZE
    wrong: list[str] = []
    async with aiohttp.ClientSession(base_url=site.url) as http:
        for r in routes:
            rule = r.rule
            assert rule is not None
            headers = await _principal(site, r, tokens)
            answers = []
            for ctype, body in (
                ("application/json", b'{"note": "' + blob + b'"}'),
                ("application/x-www-form-urlencoded", b"description=" + blob),
            ):
                try:
                    async with http.request(
                        r.method,
                        r.url(),
                        data=io.BytesIO(body),
                        headers={**headers, "Content-Type": ctype},
                        allow_redirects=False,
                    ) as resp:
                        answers.append((ctype, resp.status, await resp.read()))
                except aiohttp.ClientError as e:  # the server must answer, not drop the connection
                    wrong.append(f"{r.method} {r.path} {ctype}: connection error {e!r}")
            # a handler reads the body type it takes (JSON or a form) and leaves the other unread
            refused = [(c, s) for c, s, text in answers if 400 <= s < 500 and text.strip()]
            if any(s >= 500 for _, s, _ in answers) or not (refused or rule.ignores_body):
                wrong.append(f"{r.method} {r.path}: {[(c, s) for c, s, _ in answers]}")
            assert (await http.get("/healthz")).status == 200
    assert not wrong, "\n".join(wrong)


# --- one error shape per module -----------------------------------------------------------------------

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_SHAPES = [
    # (role or None, method, target, body, content type, status, shape, words of the message)
    ("supervisor", "GET", "/api/v1/incidents?state=%00", None, None, 400, "json", "karakter yang tidak diizinkan"),
    ("supervisor", "GET", "/api/v1/roster-report?from=0001-01-01T00:00:00%2B14:00", None, None, 400, "json", "tahun"),
    (None, "POST", "/api/v1/alerts", b'{"seq": 1, "x": "\\u0000", "y": 1e400}', _JSON, 400, "json", "U+0000"),
    ("admin", "PUT", "/api/v1/routing-rules", b'{"rules": [{"note": "\\ud800"}]}', _JSON, 400, "json", "U+D800"),
    (None, "GET", "/static/dispatch/" + "x" * 5000, None, None, 414, "json", "alamat terlalu panjang"),
    ("complaint_staff", "GET", "/pengaduan?q=%1b", None, None, 400, "html", "karakter yang tidak diizinkan"),
    (None, "POST", "/lapor", b"description=a%00b", _FORM, 400, "html", "Isi laporan berisi karakter"),
    ("supervisor", "GET", "/piket?instansi=%00", None, None, 400, "html", "berisi karakter"),
    ("supervisor", "POST", "/piket/shift", b"instansi=1&jam=nan", _FORM, 200, "html", "jam harus angka"),
    (None, "POST", "/login", b"username=a%00", _FORM, 400, "html", "isian &#39;username&#39; berisi"),
    (None, "GET", "/open311/v2/services.json?jurisdiction_id=%00", None, None, 400, "open311", "berisi karakter"),
    # the router's own refusals and a handler's bare HTTPNotFound, which aiohttp words in English
    (None, "GET", "/api/v1/tidak-ada", None, None, 404, "json", "tidak ditemukan"),
    (None, "GET", "/tidak-ada", None, None, 404, "json", "tidak ditemukan"),
    ("supervisor", "DELETE", "/api/v1/incidents", None, None, 405, "json", "tidak melayani"),
    (None, "GET", "/static/dispatch/tidak-ada.js", None, None, 404, "json", "tidak ditemukan"),
    ("complaint_staff", "GET", "/pengaduan/tidak/ada/sama/sekali", None, None, 404, "html", "tidak ditemukan"),
]


async def test_every_refusal_has_its_module_s_error_shape_and_an_indonesian_message(site: Site) -> None:
    wrong = []
    async with aiohttp.ClientSession(base_url=site.url) as http:
        for role, method, target, body, ctype, status, shape, words in _SHAPES:
            headers = bearer((await site.mint(role))[0]) if role else {}
            if ctype:
                headers["Content-Type"] = ctype
            url = URL(site.url + target, encoded=True)
            async with http.request(method, url, data=body, headers=headers, allow_redirects=False) as resp:
                text = await resp.text()
                got = resp.status, resp.content_type
            problem = got[0] != status
            if shape == "json":
                doc = json.loads(text) if got[1] == "application/json" else {}
                problem |= set(doc) < {"error", "message"} or not doc.get("message")
            elif shape == "open311":
                doc = json.loads(text) if got[1] == "application/json" else []
                problem |= not (isinstance(doc, list) and doc and doc[0].get("code") == status)
            else:
                problem |= got[1] != "text/html"
            problem |= words not in text  # the guard's words, in Bahasa Indonesia, reach the reader
            if problem:
                wrong.append(f"{method} {target[:60]}: {got} {text[:200]!r}")
    assert not wrong, "\n".join(wrong)
