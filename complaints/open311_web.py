"""Open311 GeoReport v2 handlers under ``/open311/v2`` (the pure part is complaints/open311.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web

from complaints import citizen, open311, store
from complaints.model import Actor, InvalidAction, Kind, SlaLimits
from core import appkeys, auth, params, refusal
from core.roles import Role
from core.sender import LoggingSender

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
# GET requests without dates answers the last 90 days (the spec's default window), at most 1000.
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _respond(data: Any, fmt: str, root: str, status: int = 200) -> web.Response:
    body, ctype = open311.render(data, fmt, root)
    return web.Response(status=status, body=body, content_type=ctype, charset="utf-8")


# how each kind of refusal is answered; the spec knows only 400, 403 and 404
_STATUS = {
    refusal.Kind.UNREADABLE: 400,
    refusal.Kind.INVALID: 400,
    refusal.Kind.FORBIDDEN: 403,
    refusal.Kind.NOT_FOUND: 404,
    refusal.Kind.CONFLICT: 400,
}


def _answer(status: int, description: str, fmt: str) -> web.Response:
    return _respond(open311.errors(status, description), fmt, "errors", status)


def _error(err: open311.Open311Error, fmt: str) -> web.Response:
    return _answer(_STATUS[err.kind], err.description, fmt)


def _format_of(request: web.Request) -> str:
    fmt = request.match_info.get("fmt", "xml").lower()
    if fmt not in open311.FORMATS:
        raise open311.bad(f"Format {fmt[:20]!r} tidak didukung; pakai json atau xml.")
    return fmt


def _endpoint(handler: Callable[[web.Request, str], Awaitable[web.Response]]) -> Handler:
    """Public route; bad input of any kind answers the spec's error document, never a 500."""

    @auth.public
    async def wrapped(request: web.Request) -> web.StreamResponse:
        fmt = "xml"
        try:
            fmt = _format_of(request)
            return await handler(request, fmt)
        except open311.Open311Error as e:
            return _error(e, fmt)
        except InvalidAction as e:
            return _error(open311.bad(str(e)), fmt)
        except (asyncpg.DataError, UnicodeDecodeError, ValueError) as e:
            log.info("open311 bad input on %s: %s", request.path, e)
            return _error(open311.bad("Permintaan tidak dapat dibaca."), fmt)

    wrapped.__name__ = handler.__name__
    return wrapped


async def discovery(request: web.Request, fmt: str) -> web.Response:
    base = f"{request.scheme}://{request.host}{PREFIX}/"
    return _respond(open311.discovery(base), fmt, "discovery")


async def services(request: web.Request, fmt: str) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        cats = await store.list_categories(conn)
    return _respond([open311.service(c) for c in cats], fmt, "services")


async def service_definition(request: web.Request, fmt: str) -> web.Response:
    code = request.match_info["code"]
    async with request.app[appkeys.POOL].acquire() as conn:
        cat = await store.category_by_code(conn, code[:64])
    if cat is None or not cat["active"]:
        raise open311.Open311Error(refusal.Kind.NOT_FOUND, f"Layanan {code[:64]!r} tidak ada.")
    return _respond(open311.service_definition(cat), fmt, "service_definition")


async def post_request(request: web.Request, fmt: str) -> web.Response:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        raise open311.bad("Kirim isian sebagai formulir (form-encoded).")
    form = await request.post()
    pairs = list(form.items())
    key = form.get("api_key") or request.query.get("api_key")
    pool = request.app[appkeys.POOL]
    async with pool.acquire() as conn:
        client_id = await store.open311_client_for_key(conn, key) if isinstance(key, str) and key else None
        if client_id is None:
            raise open311.Open311Error(refusal.Kind.FORBIDDEN, "api_key tidak ada atau tidak sah.")
        req = open311.parse_post([(k, v) for k, v in pairs if k != "api_key"])  # type: ignore[misc]
        cat = await store.category_by_code(conn, req.service_code)
        if cat is None or not cat["active"]:
            raise open311.bad(f"service_code {req.service_code!r} tidak ditemukan.")
        open311.check_attributes(cat["attributes"], req.attributes)
        area = await locate(request.app, req.lat, req.lon)
        new = store.NewComplaint(
            description=req.description,
            kind=Kind.PENGADUAN,
            channel="open311",
            category_id=cat["id"],
            lat=req.lat,
            lon=req.lon,
            address=req.address_string or req.address_id,
            reporter_name=req.reporter_name,
            reporter_email=req.email,
            reporter_phone=req.phone,
            media_url=req.media_url,
            attributes={
                "open311": req.attributes,
                **({"device_id": req.device_id} if req.device_id else {}),
                **({"account_id": req.account_id} if req.account_id else {}),
            },
            open311_client_id=client_id,
            **area,
        )
        clock = await store.load_clock(conn)
        secret = citizen.new_secret()
        row = await store.create(
            conn,
            new,
            Actor(Role.CITIZEN, name=f"open311:{client_id}"),
            clock=clock,
            limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS]),
            citizen_secret=secret,
        )
    await send_link(request, row, secret)
    notice = (
        f"Laporan diterima. Nomor pelacakan {row['tracking_id']}. Berikan kode rahasia (siaga_secret) hanya "
        "kepada pelapor: hanya dengan kode itu pelapor dapat menanggapi laporannya."
    )
    return _respond(
        [
            {
                "service_request_id": row["tracking_id"],
                "token": row["token"],
                "service_notice": notice,
                "account_id": req.account_id,
                # SIAGA's extension: the reporter's secret, answered this once and never again
                "siaga_secret": secret,
                "siaga_status_path": citizen.status_path(row["tracking_id"], secret),
            }
        ],
        fmt,
        "service_requests",
        201,
    )


async def send_link(request: web.Request, row: asyncpg.Record, secret: str) -> None:
    """Give the reporter their status link through the contact they left, if any (the web form and
    Open311 both call this). A failure to send is logged: the link is also in the answer."""
    settings = request.app[appkeys.SETTINGS]
    if row["reporter_phone"]:
        sender = request.app.get(appkeys.PHONE_SENDER) or LoggingSender()
        text = citizen.link_message(row["tracking_id"], secret, settings.public_url)
        try:
            async with asyncio.timeout(10):
                await sender.send_text(row["reporter_phone"], text)
        except (OSError, TimeoutError) as err:
            log.warning("could not send the status link of %s: %r", row["tracking_id"], err)
    elif row["reporter_email"]:
        # notifications by mail are a later issue; nothing pretends to have sent one
        log.info("no mail channel yet: the status link of %s was given in the answer only", row["tracking_id"])


async def get_requests(request: web.Request, fmt: str) -> web.Response:
    q = open311.parse_query(request.query)
    start, end = q.start, q.end
    if not q.ids and start is None and end is None:
        start = open311.now_utc() - DEFAULT_WINDOW
    return await _answer_requests(request, fmt, dataclasses.replace(q, start=start, end=end, limit=MAX_RESULTS))


async def get_request(request: web.Request, fmt: str) -> web.Response:
    rid = request.match_info["id"].strip().upper()
    if not rid or len(rid) > 40:
        raise open311.bad("service_request_id tidak sah.")
    return await _answer_requests(request, fmt, store.RequestFilter(ids=(rid,), limit=1), missing_404=True)


async def _answer_requests(
    request: web.Request, fmt: str, f: store.RequestFilter, *, missing_404: bool = False
) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await store.search(conn, f)
        clock = await store.load_clock(conn)
    if missing_404 and not rows:
        raise open311.Open311Error(refusal.Kind.NOT_FOUND, "Laporan tidak ditemukan.")
    now = open311.now_utc()
    limits = SlaLimits.from_settings(request.app[appkeys.SETTINGS])
    return _respond([open311.service_request(r, clock, limits, now) for r in rows], fmt, "service_requests")


async def token(request: web.Request, fmt: str) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        row = await store.get_by_token(conn, request.match_info["token"])
    if row is None:
        raise open311.Open311Error(refusal.Kind.NOT_FOUND, "Token tidak ditemukan.")
    return _respond([{"service_request_id": row["tracking_id"], "token": row["token"]}], fmt, "service_requests")


class AreaLookup:
    """The desa boundaries, loaded once per app on first use (in a thread: it reads and indexes
    the shipped GeoJSON)."""

    def __init__(self, index: Any = None) -> None:
        # an AreaIndex already loaded (shared by tests), else loaded on first use
        self._index: Any = index
        self._lock = asyncio.Lock()

    async def locate(self, lat: float | None, lon: float | None) -> dict[str, str | None]:
        """desa/kecamatan of a point ({} without a point, or outside the regency)."""
        if lat is None or lon is None:
            return {}
        if self._index is None:
            async with self._lock:
                if self._index is None:
                    from core.areas import AreaIndex

                    self._index = await asyncio.to_thread(AreaIndex.load, "desa")
        m = self._index.lookup(lat, lon)
        if m.outside:
            return {}
        return {
            "desa_code": m.desa_code,
            "desa_name": m.desa_name,
            "kecamatan_code": m.kecamatan_code,
            "kecamatan_name": m.kecamatan_name,
        }


async def locate(app: web.Application, lat: float | None, lon: float | None) -> dict[str, str | None]:
    return await app[appkeys.AREAS].locate(lat, lon)


async def not_found(request: web.Request, fmt: str) -> web.Response:
    raise open311.Open311Error(refusal.Kind.NOT_FOUND, "Alamat ini tidak ada; lihat discovery.xml.")


def _refusal(request: web.Request, err: params.BadParam) -> web.Response:
    """A parameter refused by core.params, as the spec's error document."""
    fmt = request.match_info.get("fmt", "xml").lower()
    return _answer(err.status, err.message, fmt if fmt in open311.FORMATS else "xml")


def add_routes(app: web.Application) -> None:
    params.register_error_page(app, PREFIX, _refusal)
    if appkeys.AREAS not in app:
        app[appkeys.AREAS] = AreaLookup()
    r = app.router
    r.add_get(PREFIX + "/discovery.{fmt}", _endpoint(discovery))
    r.add_get(PREFIX + "/services.{fmt}", _endpoint(services))
    r.add_get(PREFIX + "/services/{code}.{fmt}", _endpoint(service_definition))
    r.add_get(PREFIX + "/requests.{fmt}", _endpoint(get_requests))
    r.add_post(PREFIX + "/requests.{fmt}", _endpoint(post_request))
    r.add_get(PREFIX + "/requests/{id}.{fmt}", _endpoint(get_request))
    r.add_get(PREFIX + "/tokens/{token}.{fmt}", _endpoint(token))
    r.add_route("*", PREFIX + "/{tail:.*}", _endpoint(not_found))
