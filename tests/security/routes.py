"""Enumerating the app's routes and calling them: shared by the security tests."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
from aiohttp import web

from core import auth
from tests.security.route_rules import RULES, Rule

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE", "*"})
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

# a harmless, existing value for each path parameter name; anything else gets "1"
SAMPLE = {
    "incident_id": str(uuid.UUID(int=7)),
    "id": "999999",
    "tracking": "WSB-0000-0000",
    "fmt": "json",
    "path": "console.css",
    "name": "lapor.js",
    "table": "sla",
    "code": "tidak-ada",
    "token": "tidak-ada",
    "tail": "tidak-ada",
    "agency": "1",
    "month": "2026-11",
    "entry_id": "999999",
    "user_id": "999999",
    "device_id": "tidak-ada",
}
# per-route exceptions where the generic sample would point at another area's file
SAMPLE_FOR = {
    "/vendor/leaflet/{path}": {"path": "leaflet.css"},
    "/geo/{name}": {"name": "kabupaten.geojson"},
}


@dataclass(frozen=True)
class AppRoute:
    method: str
    path: str  # canonical, e.g. /api/v1/incidents/{incident_id}
    handler: Any

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def access(self) -> auth.Access | None:
        return auth.access_of(self.handler)

    @property
    def rule(self) -> Rule | None:
        return RULES.get(self.key)

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def url(self, **values: str) -> str:
        """The route's path with its parameters filled (``values`` first, then the samples), quoted."""
        chosen = {**SAMPLE, **SAMPLE_FOR.get(self.path, {}), **values}

        def fill(m: re.Match[str]) -> str:
            return quote(chosen.get(m.group(1), "1"), safe="")

        return _PARAM.sub(fill, self.path)

    def request_method(self) -> str:
        return "GET" if self.method == "*" else self.method


def app_routes(app: web.Application) -> list[AppRoute]:
    """Every route of the app and its sub-apps, HEAD folded into GET (checked to share its handler)."""
    out: dict[tuple[str, str], AppRoute] = {}
    heads: list[AppRoute] = []
    for route in _all_routes(app):
        path = route.resource.canonical if route.resource is not None else "?"
        item = AppRoute(route.method, path, route.handler)
        if route.method == "HEAD":
            heads.append(item)
        else:
            out.setdefault(item.key, item)
    for head in heads:
        get = out.get(("GET", head.path))
        if get is None or auth.access_of(get.handler) != auth.access_of(head.handler):
            out[head.key] = head  # a HEAD of its own: the table must name it
    return sorted(out.values(), key=lambda r: (r.path, r.method))


def _all_routes(app: web.Application) -> list[web.AbstractRoute]:
    routes: list[web.AbstractRoute] = []
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)  # add_subapp / add_domain
        if isinstance(sub, web.Application):
            routes += _all_routes(sub)
            continue
        routes += list(resource)
    return routes


def suggestion(route: AppRoute) -> str:
    access = route.access
    if access is None:
        code = "the handler has no @auth.allow/@auth.signed_in/@auth.public rule either"
        roles = "frozenset({...})"
    elif access.public:
        code = "the handler is @auth.public"
        return f'    ("{route.method}", "{route.path}"): public("<why anyone may call it>"),  # {code}'
    else:
        names = sorted(r.value for r in access.roles or ())
        code = f"the handler allows {names}"
        roles = "frozenset({" + ", ".join(f'"{n}"' for n in names) + "})"
    return f'    ("{route.method}", "{route.path}"): signed_in({roles}),  # {code}'


def table_problems(routes: list[AppRoute]) -> list[str]:
    """What is wrong between the app's routes and the table, each with what to do about it."""
    problems = []
    missing = [r for r in routes if r.rule is None]
    if missing:
        problems.append(
            "routes with no line in tests/security/route_rules.py RULES; add (with the roles you intend):\n"
            + "\n".join(suggestion(r) for r in missing)
        )
    for r in routes:
        rule, access = r.rule, r.access
        where = f"{r.method} {r.path}"
        if access is None:
            problems.append(f"{where}: the handler has no @auth.allow/@auth.signed_in/@auth.public (refused)")
            continue
        if not access.csrf:
            problems.append(f"{where}: the code turns the CSRF check off")
        if rule is None:
            continue
        code = None if access.public else frozenset(x.value for x in access.roles or ())
        if code != rule.roles:
            problems.append(f"{where}: table {sorted(rule.roles or ['PUBLIC'])}, code {sorted(code or ['PUBLIC'])}")
        if rule.roles is None and not rule.public_because:
            problems.append(f"{where}: public without a reason in the table")
        if rule.roles is None and r.unsafe and not rule.csrf_exempt:
            problems.append(f"{where}: public and state-changing; say in csrf_exempt why a forged post gains nothing")
    present = {r.key for r in routes}
    stale = sorted(k for k in RULES if k not in present)
    if stale:
        problems.append(f"route_rules.py names routes the app no longer has; remove them: {stale}")
    return problems


async def refusal(resp: aiohttp.ClientResponse) -> str | None:
    """The auth middleware's refusal in this answer ('unauthenticated', 'login', 'forbidden',
    'csrf', 'no_rule'), or None if the request reached the handler."""
    # the middleware sends a page request (GET) without a session to the sign-in form
    if resp.method == "GET" and resp.status in (302, 303) and resp.headers.get("Location") == "/login":
        return "login"
    if resp.status in (401, 403) and resp.content_type == "application/json":
        body = await resp.json()
        if isinstance(body, dict) and body.get("error") in ("unauthenticated", "forbidden", "no_rule", "csrf"):
            return str(body["error"])
    return None


# sessions and sign-in attempts change by design while a test signs in; everything else must not
_DIGEST_SKIP = frozenset({"user_session", "login_attempt"})


async def database_digest(pool: asyncpg.Pool) -> dict[str, str]:
    """An md5 of every table's content (by table), to show that refused requests changed nothing."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            """SELECT quote_ident(table_name) AS t FROM information_schema.tables
                WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"""
        )
        out = {}
        for row in tables:
            if row["t"] in _DIGEST_SKIP:
                continue
            out[row["t"]] = await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {row['t']} x"
            )
    return out
