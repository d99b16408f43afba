"""Every route of the whole app, enumerated from the router, against tests/security/route_rules.py:
each has an explicit rule, and the running app lets in exactly the roles the table names."""

from __future__ import annotations

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core import auth
from core.settings import Settings
from gateway.store import AlertPipeline
from siaga.webapp import page_policy
from tests.ingress.conftest import place_by_gps
from tests.security.conftest import USER_OF_ROLE, Site, bearer, build_web_app
from tests.security.route_rules import ROLES
from tests.security.routes import AppRoute, app_routes, refusal, table_problems
from tests.support import free_port


def _routes(extra: web.RouteTableDef | None = None) -> list[AppRoute]:
    """The routes of the whole web app; building it needs no database (nothing is served)."""
    settings = Settings(database_url="postgresql://127.0.0.1:1/unused")
    app = build_web_app(settings, None, AlertPipeline(None, settings, place_by_gps))  # type: ignore[arg-type]
    if extra is not None:
        app.router.add_routes(extra)
    return app_routes(app)


def test_every_route_has_a_rule_and_a_line_in_the_table() -> None:
    routes = _routes()
    assert len(routes) > 40  # the whole app, not only dispatch
    problems = table_problems(routes)
    assert not problems, "\n".join(problems)


def test_a_new_route_without_a_rule_fails_and_says_what_to_add() -> None:
    extra = web.RouteTableDef()

    @extra.post("/api/v1/roster-baru")
    async def forgotten(request: web.Request) -> web.Response:  # no access rule at all
        return web.Response()

    @extra.get("/api/v1/roster-baru")
    @auth.allow(auth.Role.SUPERVISOR, auth.Role.ADMIN)
    async def ruled(request: web.Request) -> web.Response:  # a rule, but no line in the table
        return web.Response()

    problems = "\n".join(table_problems(_routes(extra)))
    assert '("POST", "/api/v1/roster-baru"): signed_in(frozenset({...}))' in problems
    assert "POST /api/v1/roster-baru: the handler has no @auth.allow" in problems
    assert '("GET", "/api/v1/roster-baru"): signed_in(frozenset({"admin", "supervisor"}))' in problems


async def test_every_route_against_every_role_and_anonymous_and_every_page_headers(site: Site) -> None:
    routes = app_routes(site.app)
    tokens = {role: (await site.mint(role))[0] for role in ROLES}
    wrong: list[str] = []
    async with aiohttp.ClientSession(base_url=site.url) as http:
        # routes that end the session go last, each with a session of its own
        for r in sorted(routes, key=lambda r: r.rule is not None and r.rule.ends_session):
            rule = r.rule
            assert rule is not None, table_problems(routes)
            for role in (None, *ROLES):
                headers = {}
                if role is not None:
                    headers = bearer((await site.mint(role))[0] if rule.ends_session else tokens[role])
                async with http.request(
                    r.request_method(), r.url(), headers=headers, json={} if r.unsafe else None, allow_redirects=False
                ) as resp:
                    got, status = await refusal(resp), resp.status
                if r.path == "/" and got == "login":
                    got = None  # the start-page redirect: with no cookie session the start is the sign-in page
                if rule.roles is None or (role is not None and role in rule.roles):
                    expected = None
                elif role is None:
                    page = r.method == "GET" and not r.path.startswith("/api/")
                    expected = "login" if page else "unauthenticated"
                else:
                    expected = "forbidden"
                who = f"{role} ({USER_OF_ROLE[role]})" if role else "anonymous"
                if got != expected:
                    wrong.append(f"{r.method} {r.path} as {who}: {status} {got}, expected {expected or 'let in'}")
                if status >= 500:
                    wrong.append(f"{r.method} {r.path} as {who}: {status}")
    assert not wrong, "\n".join(wrong)
    await _html_pages_refuse_framing_sniffing_and_caching(site)


async def _html_pages_refuse_framing_sniffing_and_caching(site: Site) -> None:
    """Clickjacking (a page framed by another site), MIME sniffing, and signed-in pages kept in a
    shared cache: every GET route that answers HTML, as a role it admits. Every page has the one
    policy (the sign-in page too), and nothing a signed-in request gets (JSON, CSV exports) is
    cached."""
    wrong: list[str] = []
    pages = 0
    policies: dict[str, list[str]] = {}
    csv = 0
    async with aiohttp.ClientSession(base_url=site.url) as http:
        for r in app_routes(site.app):
            rule = r.rule
            if r.method != "GET" or rule is None:
                continue
            headers = bearer((await site.mint(sorted(rule.roles)[0]))[0]) if rule.roles else {}
            async with http.get(r.url(), headers=headers, allow_redirects=False) as resp:
                h = resp.headers
                if h.get("X-Content-Type-Options") != "nosniff":
                    wrong.append(f"{r.path}: no X-Content-Type-Options: nosniff ({resp.content_type})")
                if rule.roles is not None and "no-store" not in h.get("Cache-Control", ""):
                    wrong.append(f"{r.path}: {resp.content_type} to a signed-in request without no-store")
                csv += resp.content_type == "text/csv"
                if resp.content_type != "text/html":
                    continue
                pages += 1
                csp = h.get("Content-Security-Policy", "")
                policies.setdefault(csp, []).append(r.path)
                if h.get("X-Frame-Options") != "DENY" and "frame-ancestors 'none'" not in csp:
                    wrong.append(f"{r.path}: may be framed (no X-Frame-Options DENY / frame-ancestors)")
                if h.get("X-Content-Type-Options") != "nosniff":
                    wrong.append(f"{r.path}: no X-Content-Type-Options: nosniff")
                if rule.roles is not None and "no-store" not in h.get("Cache-Control", ""):
                    wrong.append(f"{r.path}: a signed-in page without Cache-Control: no-store")
    assert pages >= 8
    assert csv >= 1  # the exports were reached, not refused
    assert not wrong, "\n".join(wrong)
    # one policy for every page: the sign-in page's is the console's and the complaint desk's
    assert list(policies) == [page_policy(site.settings)], policies
    assert {"/login", "/console"} <= set(policies[page_policy(site.settings)])


@pytest.mark.parametrize(
    ("tile_url", "img_src"),
    [
        (None, "img-src 'self' data: blob:"),
        (
            "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
            "img-src 'self' data: blob: https://*.tile.openstreetmap.org",
        ),
        ("http://10.0.0.5:8081/tiles/{z}/{x}/{y}.png", "img-src 'self' data: blob: http://10.0.0.5:8081"),
        ("https://tiles-{s}.example.org/{z}/{x}/{y}.png", "img-src 'self' data: blob: https:"),
        ("javascript:alert(1)", "img-src 'self' data: blob:"),
    ],
)
def test_the_page_policy_admits_the_console_tile_server_only(tile_url: str | None, img_src: str) -> None:
    policy = page_policy(Settings(console_tile_url=tile_url)).split("; ")
    assert img_src in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_healthz_says_only_which_check_failed_never_the_exception() -> None:
    """/healthz is public: with the database unreachable it answers 503 with fixed words, while
    the exception (which names the host and port it tried) goes to the log only."""
    from core import appkeys
    from siaga import observability

    unreachable = f"postgresql://siaga-secret-user@127.0.0.1:{free_port()}/siaga_secret_db"
    async with asyncpg.create_pool(unreachable, min_size=0, max_size=1) as pool:
        app = web.Application(middlewares=[auth.auth_middleware])
        app[appkeys.SETTINGS] = Settings(database_url=unreachable)
        app[appkeys.POOL] = pool
        observability.setup(app)
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/healthz")
            text = await r.text()
    assert r.status == 503
    assert orjson.loads(text) == {"status": "error", "database": "unavailable", "broker": None}
    for leak in ("127.0.0.1", "siaga_secret", "Connect call failed", "Errno"):
        assert leak not in text
