"""Hostile input on every route, enumerated from the router: SQL injection probes in every path,
query and form/JSON parameter (4xx with a message or a normal answer, never a 500, tables intact),
path traversal on the static files, and oversize bodies on every route that takes one."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp
from pydantic import BaseModel

from core import auth
from tests.security.conftest import Site, bearer
from tests.security.routes import AppRoute, app_routes

PROBES = ["' OR 1=1 --", "1; DROP TABLE incident", "Wonosobo ☂ 日本 \u202e ẞ", "\u0000"]

# modules whose handlers read parameters through helpers (Open311 query parsing, complaint actions)
_HELPER_MODULES = ("complaints.open311", "complaints.model")
_GET_NAME = re.compile(r"""\.get\(\s*["']([A-Za-z_][A-Za-z0-9_\[\]]{0,40})["']""")
_FORM_NAME = re.compile(r"""name=["']([A-Za-z_][A-Za-z0-9_\[\]]{0,40})["']""")


def parameter_names(routes: list[AppRoute]) -> list[str]:
    """Every parameter name the app reads: documented API queries and request models, and every
    ``.get("name")`` in the modules that define the handlers (query, form and JSON alike)."""
    names: set[str] = set()
    modules = set(_HELPER_MODULES)
    for r in routes:
        doc = auth.doc_of(r.handler)
        if doc is not None:
            names.update(doc.query)
            if isinstance(doc.request, type) and issubclass(doc.request, BaseModel):
                names.update(doc.request.model_fields)
        modules.add(inspect.unwrap(r.handler).__module__)
    for name in modules:
        source = Path(inspect.getfile(importlib.import_module(name))).read_text(encoding="utf-8")
        names.update(_GET_NAME.findall(source))
        names.update(_FORM_NAME.findall(source))
    return sorted(names)


async def _principal(site: Site, r: AppRoute, tokens: dict[str, str]) -> dict[str, str]:
    rule = r.rule
    assert rule is not None
    if rule.roles is None:
        return {}
    role = sorted(rule.roles)[0]
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
            await conn.fetchval("SELECT count(*) FROM incident"),
            tuple(await conn.fetch("SELECT id, username, password_hash, role, active FROM app_user ORDER BY id")),
            await conn.fetchval("SELECT count(*) FROM agency"),
        )


async def test_injection_probes_in_every_parameter_of_every_route(site: Site) -> None:
    routes = app_routes(site.app)
    names = parameter_names(routes)
    assert {"state", "limit", "body", "to", "description", "service_code", "phone", "reason"} <= set(names), names
    tokens: dict[str, str] = {}
    before = await _integrity(site)
    failures: list[str] = []
    sent = 0
    async with aiohttp.ClientSession(base_url=site.url) as http:

        async def call(r: AppRoute, what: str, url: str, **kw: object) -> None:
            nonlocal sent
            headers = {**await _principal(site, r, tokens), **kw.pop("headers", {})}  # type: ignore[dict-item]
            async with http.request(r.request_method(), url, headers=headers, allow_redirects=False, **kw) as resp:  # type: ignore[arg-type]
                text = await resp.read()
                sent += 1
                if resp.status >= 500:
                    failures.append(f"{r.method} {r.path} {what}: {resp.status} {text[:200]!r}")
                elif 400 <= resp.status < 500 and not text.strip():
                    failures.append(f"{r.method} {r.path} {what}: {resp.status} without a message")

        for r in routes:
            for probe in PROBES:
                if r.params:
                    await call(r, f"path={probe!r}", r.url(**dict.fromkeys(r.params, probe)))
                query = urlencode(dict.fromkeys(names, probe))
                await call(r, f"query={probe!r}", f"{r.url()}?{query}")
                if r.unsafe:
                    await call(r, f"form={probe!r}", r.url(), data=dict.fromkeys(names, probe))
                    await call(r, f"json={probe!r}", r.url(), json=dict.fromkeys(names, probe))
        assert (await http.get("/healthz")).status == 200
    assert not failures, f"{len(failures)} of {sent} probes failed:\n" + "\n".join(failures)
    assert await _integrity(site) == before


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
