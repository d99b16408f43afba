"""The regency IT admin's pages: the admin home (one card per thing an admin looks after, each
with its figure), users, devices and the audit chain check.

Top floor: it reads the tables of every area for the home's figures and calls each area's own
functions for changes (users: core.auth, devices: gateway.devices, the broker files:
siaga.mosquitto), so the page and the CLI change things the same way.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from core import appkeys, audit, auth, labels, pages, params
from core.roles import USER_ROLES, Role
from gateway.devices import DeviceConflict, DeviceError, NoSuchDevice, add_device, disable_device, list_devices
from siaga.mosquitto import BrokerFilesError, sync_broker_files

log = logging.getLogger(__name__)

PREFIX = "siaga"
TEMPLATES = Path(__file__).parent / "templates"

# What the admin registers here; app installs register themselves through the citizen app.
REGISTRABLE_KINDS = ("button", "osmand", "gt06")
# How long a device may stay silent before the home counts it as not heard from.
SILENT_AFTER_S = 24 * 3600
AUDIT_SHOWN = 50

_HOME_FIGURES = """
SELECT (SELECT count(*) FROM app_user WHERE active) AS users,
       (SELECT count(*) FROM device WHERE active) AS devices,
       (SELECT count(*) FROM device
         WHERE active AND (NOT online OR last_seen_at IS NULL
                           OR last_seen_at < now() - make_interval(secs => $1))) AS devices_quiet,
       (SELECT count(*) FROM agency_unit WHERE active) AS units,
       (SELECT count(*) FROM agency WHERE active) AS agencies,
       (SELECT count(*) FROM complaint_category WHERE active) AS categories,
       (SELECT count(*) FROM collective_leave WHERE day >= current_date) AS leave_days,
       (SELECT count(*) FROM open311_client WHERE active) AS open311_clients,
       (SELECT count(*) FROM audit_log) AS audit_entries,
       (SELECT count(*) FROM shift_pattern WHERE active) AS shifts
"""


def _actor(request: web.Request) -> audit.Actor:
    return auth.current_user(request).actor(auth.client_ip(request))


@auth.allow(Role.ADMIN)
async def home(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        f = await conn.fetchrow(_HOME_FIGURES, float(SILENT_AFTER_S))
    cards = [
        ("card-pengguna", "Pengguna", "/admin/pengguna", f"{f['users']} aktif"),
        (
            "card-perangkat",
            "Perangkat",
            "/admin/perangkat",
            f"{f['devices']} aktif, {f['devices_quiet']} luring atau tak terdengar 24 jam",
        ),
        ("card-unit", "Unit", "/admin/unit", f"{f['units']} unit"),
        ("card-instansi", "Instansi", "/admin/instansi", f"{f['agencies']} instansi"),
        ("card-kategori", "Kategori pengaduan", "/admin/kategori", f"{f['categories']} kategori"),
        ("card-cuti", "Cuti bersama", "/admin/cuti", f"{f['leave_days']} hari mendatang"),
        ("card-open311", "Klien Open311", "/admin/open311", f"{f['open311_clients']} klien aktif"),
        ("card-audit", "Rantai audit", "/admin/audit", f"{f['audit_entries']} entri"),
        ("card-piket", "Piket", "/piket", f"{f['shifts']} pola giliran"),
    ]
    return pages.render(request, "siaga/admin_home.html", {"title": "Beranda admin", "cards": cards})


# --- users ------------------------------------------------------------------------------------

_USERS = """
SELECT u.id, u.username, u.full_name, u.role, u.active, g.name AS agency_name,
       (SELECT max(s.created_at) FROM user_session s WHERE s.user_id = u.id) AS last_sign_in
  FROM app_user u LEFT JOIN agency g ON g.id = u.agency_id
 ORDER BY u.active DESC, u.username"""


async def _users_page(
    request: web.Request,
    *,
    error: str = "",
    notice: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        users = await conn.fetch(_USERS)
        agencies = await conn.fetch("SELECT id, name, kind FROM agency WHERE active ORDER BY name")
    roles = [(r.value, labels.label("role", r.value)) for r in Role if r in USER_ROLES]
    return pages.render(
        request,
        "siaga/admin_users.html",
        {
            "title": "Pengguna",
            "users": users,
            "agencies": agencies,
            "roles": roles,
            "error": error,
            "notice": notice,
            "form": form or {},
            "me": auth.current_user(request).id,
        },
        status=status,
    )


# A refusal of auth's user functions, as the page's status: a clash with what exists is 409.
_CONFLICTS = frozenset({"username_taken", "unchanged", "self_deactivate"})


def _status_of(err: auth.AuthError) -> int:
    if err.code == "no_such_user":
        return 404
    return 409 if err.code in _CONFLICTS else 400


@auth.allow(Role.ADMIN)
async def users(request: web.Request) -> web.Response:
    return await _users_page(request)


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


@auth.allow(Role.ADMIN)
async def add_user(request: web.Request) -> web.Response:
    form = await request.post()
    kept = {k: _text(form, k) for k in ("username", "full_name", "role", "agency_id")}
    password = form.get("password", "")
    agency = kept["agency_id"]
    if kept["role"] not in {r.value for r in USER_ROLES}:
        return await _users_page(request, error="Pilih peran pengguna.", form=kept, status=400)
    agency_id = params.as_id(agency) if agency else None
    if agency and agency_id is None:
        return await _users_page(request, error="Instansi tidak dikenal.", form=kept, status=400)
    try:
        async with request.app[appkeys.POOL].acquire() as conn:
            user = await auth.create_user(
                conn,
                kept["username"],
                password if isinstance(password, str) else "",
                kept["role"],
                agency_id,
                kept["full_name"] or kept["username"],
                actor=_actor(request),
            )
    except auth.AuthError as e:
        return await _users_page(request, error=str(e), form=kept, status=_status_of(e))
    return await _users_page(request, notice=f"Pengguna {user.username} dibuat.")


async def _set_active(request: web.Request, active: bool) -> web.Response:
    user_id = params.reference(request.match_info["user_id"], "pengguna")
    try:
        async with request.app[appkeys.POOL].acquire() as conn:
            await auth.set_user_active(conn, user_id, active, actor=_actor(request))
    except auth.AuthError as e:
        return await _users_page(request, error=str(e), status=_status_of(e))
    return await _users_page(request, notice="Pengguna diaktifkan kembali." if active else "Pengguna dinonaktifkan.")


@auth.allow(Role.ADMIN)
async def deactivate_user(request: web.Request) -> web.Response:
    return await _set_active(request, False)


@auth.allow(Role.ADMIN)
async def reactivate_user(request: web.Request) -> web.Response:
    return await _set_active(request, True)


@auth.allow(Role.ADMIN)
async def reset_password(request: web.Request) -> web.Response:
    user_id = params.reference(request.match_info["user_id"], "pengguna")
    form = await request.post()
    password = form.get("password", "")
    try:
        async with request.app[appkeys.POOL].acquire() as conn:
            await auth.reset_password(
                conn, user_id, password if isinstance(password, str) else "", actor=_actor(request)
            )
    except auth.AuthError as e:
        return await _users_page(request, error=str(e), status=_status_of(e))
    return await _users_page(request, notice="Kata sandi diatur ulang; sesi pengguna itu diakhiri.")


# --- devices ----------------------------------------------------------------------------------


async def _devices_page(
    request: web.Request,
    *,
    error: str = "",
    notice: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        devices = await list_devices(conn)
    return pages.render(
        request,
        "siaga/admin_devices.html",
        {
            "title": "Perangkat",
            "devices": devices,
            "kinds": [(k, labels.DEVICE_KIND[k]) for k in REGISTRABLE_KINDS],
            "error": error,
            "notice": notice,
            "form": form or {},
        },
        status=status,
    )


@auth.allow(Role.ADMIN)
async def devices(request: web.Request) -> web.Response:
    return await _devices_page(request)


def _coordinate(value: str, what: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise DeviceError(f"{what} harus berupa angka") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise DeviceError(f"{what} harus berupa angka")
    return number


async def _refresh_broker(conn: asyncpg.Connection, request: web.Request) -> str:
    """Rewrite the broker files as the CLI does; a word for the page when they could not be."""
    try:
        await sync_broker_files(conn, request.app[appkeys.SETTINGS])
    except (BrokerFilesError, OSError) as e:
        log.error("broker files not written: %s", e)
        return f"Berkas broker tidak dapat ditulis: {e}"
    return ""


@auth.allow(Role.ADMIN)
async def add_device_form(request: web.Request) -> web.Response:
    form = await request.post()
    kept = {k: _text(form, k) for k in ("device_id", "name", "kind", "description", "lat", "lon", "imei")}
    kept["fixed"] = "1" if form.get("fixed") else ""
    try:
        if kept["kind"] not in REGISTRABLE_KINDS:
            raise DeviceError("pilih jenis perangkat")
        if not kept["name"]:
            raise DeviceError("nama perangkat wajib diisi")
        async with request.app[appkeys.POOL].acquire() as conn:
            new = await add_device(
                conn,
                kept["device_id"],
                kept["name"],
                description=kept["description"] or None,
                kind=kept["kind"],
                fixed=bool(kept["fixed"]),
                lat=_coordinate(kept["lat"], "Lintang"),
                lon=_coordinate(kept["lon"], "Bujur"),
                imei=kept["imei"] or None,
                actor=_actor(request),
            )
            warning = await _refresh_broker(conn, request)
    except DeviceError as e:
        message = str(e)
        status = 409 if isinstance(e, DeviceConflict) else 400
        return await _devices_page(request, error=message[:1].upper() + message[1:] + ".", form=kept, status=status)
    # the secret is in this response only: it is stored hashed and no page shows it again
    return pages.render(
        request,
        "siaga/admin_device_secret.html",
        {"title": "Perangkat terdaftar", "device_id": new.device_id, "secret": new.secret, "warning": warning},
    )


@auth.allow(Role.ADMIN)
async def disable_device_form(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    try:
        async with request.app[appkeys.POOL].acquire() as conn:
            await disable_device(conn, device_id, actor=_actor(request))
            warning = await _refresh_broker(conn, request)
    except DeviceError as e:
        message = str(e)
        status = 404 if isinstance(e, NoSuchDevice) else 409
        return await _devices_page(request, error=message[:1].upper() + message[1:] + ".", status=status)
    return await _devices_page(request, notice=f"Perangkat {device_id} dinonaktifkan.", error=warning)


# --- the audit chain --------------------------------------------------------------------------


async def _audit_page(request: web.Request, check: dict[str, Any] | None = None) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        entries = await conn.fetch(
            """SELECT id, at, username, role, action, object_type, object_id
                 FROM audit_log ORDER BY id DESC LIMIT $1""",
            AUDIT_SHOWN,
        )
    return pages.render(
        request,
        "siaga/admin_audit.html",
        {"title": "Rantai audit", "entries": entries, "check": check, "shown": AUDIT_SHOWN},
    )


@auth.allow(Role.ADMIN)
async def audit_log(request: web.Request) -> web.Response:
    return await _audit_page(request)


@auth.allow(Role.ADMIN)
async def audit_check(request: web.Request) -> web.Response:
    """The same check as ``siaga audit verify``: seal what is committed, then walk the chain."""
    started = time.monotonic()
    async with request.app[appkeys.POOL].acquire() as conn:
        await audit.seal(conn)
        result = await audit.verify_chain(conn)
    check = {
        "intact": result.intact,
        "checked": result.checked,
        "broken_id": result.broken_id,
        "pending": result.pending,
        "head": result.head.hex() if result.head else "",
        "seconds": f"{time.monotonic() - started:.2f}".replace(".", ","),
    }
    return await _audit_page(request, check)


def setup(app: web.Application) -> None:
    pages.add_templates(app, PREFIX, TEMPLATES)
    app.router.add_get("/admin", home)
    app.router.add_get("/admin/pengguna", users)
    app.router.add_post("/admin/pengguna", add_user)
    app.router.add_post("/admin/pengguna/{user_id}/nonaktifkan", deactivate_user)
    app.router.add_post("/admin/pengguna/{user_id}/aktifkan", reactivate_user)
    app.router.add_post("/admin/pengguna/{user_id}/sandi", reset_password)
    app.router.add_get("/admin/perangkat", devices)
    app.router.add_post("/admin/perangkat", add_device_form)
    app.router.add_post("/admin/perangkat/{device_id}/nonaktifkan", disable_device_form)
    app.router.add_get("/admin/audit", audit_log)
    app.router.add_post("/admin/audit/periksa", audit_check)
