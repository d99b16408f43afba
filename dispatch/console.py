"""The operator console pages: sign-in form, the console shell, its static files and map data.

Everything is served by SIAGA itself (Leaflet from the xstatic-leaflet package, boundaries from
the repository), so the console works in a command centre with no internet.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

import orjson
import xstatic.pkg.leaflet
from aiohttp import web
from markupsafe import Markup

from core import appkeys, auth, labels, pages, params
from dispatch import roster_web, states

STATIC_DIR = Path(__file__).parent / "static"
LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
# boundaries shipped by the geolocation work (core/data/wonosobo/); served when present
GEO_DIR = Path(__file__).resolve().parent.parent / "core" / "data" / "wonosobo"
GEO_FILES = frozenset({"desa.geojson", "kecamatan_from_desa.geojson", "kabupaten.geojson"})


def _login_page(
    csrf: str, *, message: str = "", username: str = "", status: int = 200, request: web.Request
) -> web.Response:
    resp = pages.render(
        request,
        "core/login.html",
        {"title": "Masuk", "message": message, "username": username, "login_csrf": csrf},
        status=status,
    )
    resp.set_cookie(auth.LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/login")
    return resp


@auth.public
async def login_form(request: web.Request) -> web.Response:
    user = auth.optional_user(request)
    if user is not None:
        raise web.HTTPSeeOther(location=pages.home_of(user.role))
    return _login_page(secrets.token_urlsafe(24), request=request)


@auth.public
async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    sent = form.get(auth.CSRF_FIELD)
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    username = str(form.get("username", ""))[:64]
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        return _login_page(
            secrets.token_urlsafe(24),
            message="Sesi formulir kedaluwarsa, silakan ulangi.",
            username=username,
            status=403,
            request=request,
        )
    settings = request.app[appkeys.SETTINGS]
    async with request.app[appkeys.POOL].acquire() as conn:
        try:
            token, session = await auth.login(
                conn,
                settings,
                username,
                str(form.get("password", "")),
                kind="web",
                client_ip=auth.client_ip(request),
                user_agent=request.headers.get("User-Agent"),
            )
        except auth.AuthError as e:
            # the form is shown again with the reason (a 4xx would only add noise in the browser)
            return _login_page(secrets.token_urlsafe(24), message=str(e), username=username, request=request)
    resp = web.HTTPSeeOther(location=pages.home_of(session.user.role))
    resp.set_cookie(
        auth.SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
        path="/",
        max_age=settings.session_max_s,
    )
    resp.del_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    raise resp


@auth.signed_in
async def logout_submit(request: web.Request) -> web.Response:
    token, _ = auth.token_of(request)
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        await auth.logout(conn, token or "", user.actor(auth.client_ip(request)))
    resp = web.HTTPSeeOther(location="/login")
    resp.del_cookie(auth.SESSION_COOKIE, path="/")
    raise resp


@auth.allow(*states.READERS)
async def console_page(request: web.Request) -> web.Response:
    session = request[auth.SESSION]
    settings = request.app[appkeys.SETTINGS]
    config = {
        "user": session.user.public(),
        "csrf": session.csrf_token,
        "labels": labels.for_browser(),
        "tileUrl": settings.console_tile_url,
        "tileAttribution": settings.console_tile_attribution,
        # the waiting timer on each card turns at the same moments the escalation timers fire
        "escalateSupervisorS": settings.escalate_supervisor_s,
        "escalateCommandCentreS": settings.escalate_command_centre_s,
        "geo": "/geo/desa.geojson" if (GEO_DIR / "desa.geojson").is_file() else None,
    }
    # JSON inside <script>: escape '<' so no value can close the element (autoescape would turn
    # the quotes into entities, which a JSON parser does not read)
    config_json = Markup(orjson.dumps(config).decode().replace("<", "\\u003c"))
    return pages.render(request, "dispatch/console.html", {"title": "Konsol", "config_json": config_json})


@auth.public
async def geo_file(request: web.Request) -> web.FileResponse:
    # public: the citizen form draws these outlines for anonymous visitors; they hold only the
    # published names and codes of the regency, kecamatan and desa, nothing SIAGA records
    name = request.match_info["name"]
    if name not in GEO_FILES:
        raise web.HTTPNotFound()
    resp = web.FileResponse(pages.file_under(GEO_DIR, name))
    # the outlines change only with a release; a signed-in response is still made no-store by the
    # security-headers middleware
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def _refusal_page(request: web.Request, err: params.BadParam) -> web.Response:
    """A parameter refused by core.params on the sign-in form: the form again, with why."""
    return _login_page(secrets.token_urlsafe(24), message=err.message, status=err.status, request=request)


def setup(app: web.Application) -> None:
    pages.add_templates(app, "dispatch", Path(__file__).parent / "templates")
    params.register_error_page(app, "/login", _refusal_page)
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout_submit)
    r.add_get("/console", console_page)
    r.add_get("/static/dispatch/{path:.+}", pages.serve_static(STATIC_DIR))
    r.add_get("/vendor/leaflet/{path:.+}", pages.serve_static(LEAFLET_DIR))
    r.add_get("/geo/{name}", geo_file)
    roster_web.setup(app)
