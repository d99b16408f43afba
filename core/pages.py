"""Every HTML page SIAGA serves: one Jinja2 environment (autoescape on), one layout, the
navigation and start page of each role, and refusal pages for browsers.

Packages bring their own templates with :func:`add_templates` (``dispatch/console.html`` is the
file ``console.html`` under the directory dispatch registered as ``dispatch``); every page extends
``core/base.html``, which shows the signed-in user, the role's navigation and "Keluar". The
security headers (one Content-Security-Policy) are set for every response by the web app.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from core import auth, labels
from core.roles import Role

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

_LOADERS: web.AppKey[dict[str, jinja2.BaseLoader]] = web.AppKey("page_template_loaders", dict)

# Each role's navigation, first entry = its start page. Paths only: the pages themselves check
# access, the menu only spares people links that would refuse them.
NAV: Mapping[Role, tuple[tuple[str, str], ...]] = {
    Role.OPERATOR: (("Konsol", "/console"), ("Piket", "/piket")),
    Role.SUPERVISOR: (("Konsol", "/console"), ("Piket", "/piket")),
    Role.COMMAND_CENTRE: (("Konsol", "/console"), ("Piket", "/piket")),
    Role.COMPLAINT_STAFF: (("Antrean verifikasi", "/pengaduan"), ("Cari status", "/status")),
    Role.OPD_OFFICER: (("Kotak masuk OPD", "/pengaduan/opd"), ("Laporan mingguan", "/dasbor/laporan")),
    Role.LEADER: (("Dasbor", "/dasbor"), ("Laporan", "/dasbor/laporan"), ("Konsol", "/console"), ("Piket", "/piket")),
    Role.ADMIN: (
        ("Beranda admin", "/admin"),
        ("Konsol", "/console"),
        ("Pengaduan", "/pengaduan"),
        ("Dasbor", "/dasbor"),
        ("Piket", "/piket"),
    ),
}
# What a visitor who is not signed in is offered.
PUBLIC_NAV: tuple[tuple[str, str], ...] = (("Lapor", "/lapor"), ("Cek status laporan", "/status"), ("Masuk", "/login"))


def home_of(role: Role | str) -> str:
    """Where a role lands after signing in (and on ``/``)."""
    return NAV[Role(role)][0][1]


def setup(app: web.Application) -> jinja2.Environment:
    """Install the one environment (idempotent: each package's setup may call it first)."""
    if aiohttp_jinja2.APP_KEY in app:
        return app[aiohttp_jinja2.APP_KEY]
    loaders: dict[str, jinja2.BaseLoader] = {"core": jinja2.FileSystemLoader(TEMPLATE_DIR)}
    app[_LOADERS] = loaders
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PrefixLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing value is a bug to see, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
        default_helpers=False,
    )
    env.filters["wib"] = labels.wib
    env.filters["label"] = lambda code, group: labels.label(group, code)
    env.globals["labels"] = labels
    app.router.add_get("/static/siaga/{path:.+}", serve_static(STATIC_DIR))
    return env


def add_templates(app: web.Application, prefix: str, directory: Path) -> None:
    """Templates under ``directory`` are found as ``prefix/<name>``."""
    setup(app)
    app[_LOADERS][prefix] = jinja2.FileSystemLoader(directory)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The page ``template`` with the layout's context: the user, their navigation and the CSRF
    token every form of theirs carries."""
    user = auth.optional_user(request)
    session = request.get(auth.SESSION)
    base: dict[str, Any] = {
        "user": user,
        "role_label": labels.label("role", user.role.value) if user else "",
        "nav": NAV.get(user.role, ()) if user else PUBLIC_NAV,
        "current": request.path,
        "csrf_field": auth.CSRF_FIELD,
        "csrf": session.csrf_token if session is not None else "",
    }
    base.update(context or {})
    resp = aiohttp_jinja2.render_template(template, request, base, status=status)
    return resp  # no-store, framing and the page policy: the app's security-headers hook


def refusal_page(request: web.Request, message: str, *, status: int, title: str | None = None) -> web.Response:
    """A refused browser request: why, in Bahasa Indonesia, and a way back."""
    return render(
        request,
        "core/refusal.html",
        {"title": title or _TITLES.get(status, "Permintaan ditolak"), "message": message, "back": _way_back(request)},
        status=status,
    )


_TITLES = {
    400: "Isian tidak dapat diterima",
    401: "Silakan masuk",
    403: "Tidak diizinkan",
    404: "Tidak ditemukan",
    405: "Tidak dapat dilakukan",
    409: "Sudah diubah orang lain",
    413: "Terlalu besar",
    414: "Alamat terlalu panjang",
    415: "Jenis isi tidak didukung",
    422: "Isian tidak dapat diterima",
    429: "Terlalu sering",
}


def _way_back(request: web.Request) -> str:
    """The page the person came from when it is ours, else their start page."""
    referer = request.headers.get("Referer", "")
    parts = urlsplit(referer)
    if referer and parts.netloc == request.host and parts.path.startswith("/") and parts.path != request.path:
        return parts.path + (f"?{parts.query}" if parts.query else "")
    user = auth.optional_user(request)
    if user is None:
        return "/login"
    home = home_of(user.role)
    return home if home != request.path else "/"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Refusal = Callable[[web.Request, Any], "web.StreamResponse | Awaitable[web.StreamResponse]"]


def answering(refusals: Mapping[type[Exception], Refusal]) -> Callable[[Handler], Handler]:
    """Wrap page handlers so each listed error becomes its page (the first matching class in
    ``refusals`` answers); the wrapper keeps the handler's access rule and API description."""

    def wrap(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except tuple(refusals) as err:
                render = next(r for kind, r in refusals.items() if isinstance(err, kind))
                out = render(request, err)
                return await out if inspect.isawaitable(out) else out

        for attr in ("__siaga_access__", "__siaga_api__"):
            if hasattr(handler, attr):
                setattr(wrapped, attr, getattr(handler, attr))
        wrapped.__name__ = handler.__name__
        return wrapped

    return wrap


def wants_page(request: web.Request) -> bool:
    """A browser navigating (a link, a form), as opposed to a script or an API client: those keep
    the JSON refusal they can read."""
    if request.path.startswith("/api/"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def browser_refusals(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn a JSON refusal (sign-in, access, CSRF, parameters) into a page when a browser asked,
    so nobody is shown ``{"error": ...}``; the status stays the same."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "application/json" or not wants_page(request):
            raise
        return refusal_page(request, _message_of(exc.text), status=exc.status)
    if (
        400 <= response.status < 500
        and isinstance(response, web.Response)
        and response.content_type == "application/json"
        and wants_page(request)
    ):
        page = refusal_page(request, _message_of(response.text), status=response.status)
        for header in ("Retry-After", "Allow"):
            if header in response.headers:
                page.headers[header] = response.headers[header]
        return page
    return response


def _message_of(body: str | None) -> str:
    try:
        message = json.loads(body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return message if isinstance(message, str) and message else "Permintaan ditolak."


def file_under(base: Path, rel: str) -> Path:
    """The file ``rel`` names under ``base``, or a 404: nothing outside ``base`` is ever served."""
    try:
        target = (base / rel).resolve()
        found = target.is_relative_to(base.resolve()) and target.is_file()
    except OSError:  # a name longer than the file system allows (ENAMETOOLONG) names no file either
        found = False
    if not found:
        raise web.HTTPNotFound()
    return target


def serve_static(base: Path) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """A public handler for the files under ``base`` (a package's stylesheets and scripts)."""

    @auth.public
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(file_under(base, request.match_info["path"]))

    return handler
