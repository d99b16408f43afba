"""The aiohttp application: one port for the consoles, the JSON API, complaint pages and ingress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
from aiohttp import WSCloseCode, web

from complaints import web as complaints_web
from complaints.store import create_from_incident
from core import appkeys, auth, pages, params
from core.db import open_pool
from core.settings import Settings
from dashboard import web as dashboard_web
from dispatch import api, console, units_web
from dispatch.stream import EventHub
from gateway import app_api
from siaga import admin_web, observability

if TYPE_CHECKING:
    from gateway.mqtt_gateway import MqttGateway
    from gateway.store import AlertPipeline

log = logging.getLogger(__name__)


async def _own_pool(app: web.Application) -> AsyncIterator[None]:
    dsn = app[appkeys.SETTINGS].database_url
    if dsn is None:
        raise RuntimeError("create_app without a pool needs SIAGA_DATABASE_URL")
    async with open_pool(dsn) as pool:
        app[appkeys.POOL] = pool
        yield


def _report_crash(task: asyncio.Task[None]) -> None:
    # the hub only ends by cancellation; anything else means the consoles went quiet
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: consoles get no live events", task.get_name(), exc_info=task.exception())


async def _event_hub(app: web.Application) -> AsyncIterator[None]:
    hub = EventHub(app[appkeys.POOL])
    app[appkeys.EVENT_FANOUT] = hub
    task = asyncio.create_task(hub.run(), name="event-hub")
    task.add_done_callback(_report_crash)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_websockets(app: web.Application) -> None:
    sockets = app[appkeys.WEBSOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def page_policy(settings: Settings) -> str:
    """The one Content-Security-Policy of every HTML page (sign-in, console, complaint desk,
    citizen pages, roster, dashboard). Scripts only from SIAGA itself; inline style for the map
    library's positioning and the complaint pages' own sheet; images from SIAGA, data:/blob:
    (the photo preview) and the console's tile server when one is set."""
    images = ["'self'", "data:", "blob:"]
    tiles = _tile_source(settings.console_tile_url)
    if tiles:
        images.append(tiles)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _tile_source(url: str | None) -> str | None:
    """The CSP source of a tile URL template such as ``https://{s}.tile.example.org/{z}/{x}/{y}.png``."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.netloc
    if host.startswith("{") and "}." in host:
        host = "*." + host.split("}.", 1)[1]  # a subdomain template: CSP allows a leftmost wildcard
    if not host or "{" in host or parts.scheme not in ("http", "https"):
        return f"{parts.scheme}:" if parts.scheme in ("http", "https") else None
    return f"{parts.scheme}://{host}"


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set once, for every response the app sends (handlers, raised HTTP errors, static files):
    no MIME sniffing anywhere; on HTML pages the one policy and no framing; nothing a signed-in
    request receives (pages, JSON, CSV exports) kept by a browser or a shared cache."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if response.content_type == "text/html":
        headers["Content-Security-Policy"] = page_policy(request.app[appkeys.SETTINGS])
        headers["X-Frame-Options"] = "DENY"
        headers["Cache-Control"] = "no-store"
    if request.get(auth.SESSION) is not None:
        headers["Cache-Control"] = "no-store"


@auth.public
async def _root(request: web.Request) -> web.Response:
    user = auth.optional_user(request)
    raise web.HTTPSeeOther(location=pages.home_of(user.role) if user is not None else "/login")


def create_app(settings: Settings, pool: asyncpg.Pool | None = None, *, extras: bool = True) -> web.Application:
    """The whole web role. Given a pool, the caller owns it; without one the app opens its own
    from ``settings.database_url`` at startup and closes it at cleanup. ``extras=False`` mounts
    only dispatch (the complaint desk and the app API are left out)."""
    # 6 MiB: the complaint desk takes follow-up photos up to 5 MB; JSON routes bound their own bodies
    # params.input_guard after the access check (a caller who may not use a route learns nothing of
    # its parameters) and before every handler: control characters in the path, the query or the
    # body are refused with a 400, so a new route is protected without asking
    # pages.browser_refusals outermost: any JSON refusal a browser's navigation receives (sign-in,
    # access, CSRF, parameters) becomes an Indonesian page with a way back; scripts keep the JSON
    app = web.Application(
        middlewares=[pages.browser_refusals, auth.auth_middleware, params.input_guard],
        client_max_size=6 * 1024 * 1024,
    )
    app[appkeys.SETTINGS] = settings
    app.on_response_prepare.append(_security_headers)
    pages.setup(app)
    if pool is not None:
        app[appkeys.POOL] = pool
    else:
        app.cleanup_ctx.append(_own_pool)
    app[appkeys.WEBSOCKETS] = set()
    if extras:
        app[appkeys.HANDOVER_HOOK] = create_from_incident
    app.cleanup_ctx.append(_event_hub)
    app.on_shutdown.append(_close_websockets)

    api.setup(app)
    console.setup(app)
    units_web.setup(app)
    if extras:
        complaints_web.setup(app)
        dashboard_web.setup(app)
        admin_web.setup(app)
        app_api.setup(app)
    if not any(
        r.method == "GET" and r.resource is not None and r.resource.canonical == "/" for r in app.router.routes()
    ):
        app.router.add_get("/", _root)
    return app


def web_role_app(
    settings: Settings,
    pool: asyncpg.Pool | None,
    pipeline: AlertPipeline | None = None,
    gateway: MqttGateway | None = None,
) -> web.Application:
    """The web role as ``siaga run`` serves it: the whole app, ``/metrics`` and ``/healthz``, the
    app API's alert pipeline and, when they share a process, the gateway's counters. The security
    suite enumerates the routes of exactly this app."""
    app = create_app(settings, pool)
    observability.setup(app)
    if pipeline is not None:
        app[appkeys.ALERT_PIPELINE] = pipeline
        app[appkeys.PIPELINE_STATS] = pipeline
    if gateway is not None:
        app[appkeys.GATEWAY_STATS] = gateway
    return app
