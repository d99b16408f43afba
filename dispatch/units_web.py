"""The admin's pages for the units registry (``/admin/unit``) and the agencies
(``/admin/instansi``): server-rendered templates, every change through dispatch/units.py (audited),
every refusal an Indonesian page with a way back."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from core import appkeys, audit, auth, pages, params
from core.refusal import Kind
from core.roles import Role
from dispatch import units

Handler = pages.Handler

STATUS = {Kind.UNREADABLE: 400, Kind.INVALID: 400, Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404, Kind.CONFLICT: 409}
# What the page says after a change (the redirect carries the key, never the words).
DONE = {
    "tambah": "Unit ditambahkan.",
    "ubah": "Unit diubah.",
    "nonaktif": "Unit dinonaktifkan.",
    "aktif": "Unit diaktifkan lagi.",
    "instansi": "Instansi disimpan.",
}


# a refused change as the refusal page (the access rule stays on the handler)
_answering = pages.answering(
    {units.UnitError: lambda request, err: pages.refusal_page(request, err.message, status=STATUS[err.kind])}
)


def _refusal(request: web.Request, err: params.BadParam) -> web.Response:
    return pages.refusal_page(request, err.message, status=err.status)


def _actor(request: web.Request) -> audit.Actor:
    return auth.current_user(request).actor(auth.client_ip(request))


def _back(path: str, done: str, **query: Any) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=path + "?" + urlencode({**{k: v for k, v in query.items() if v}, "ok": done}))


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _unit_id(request: web.Request) -> int:
    return params.reference(request.match_info["id"], "unit")


@auth.allow(Role.ADMIN)
async def unit_page(request: web.Request) -> web.Response:
    wanted = request.query.get("instansi", "")
    agency_id = params.reference(wanted, "instansi") if wanted else None
    async with request.app[appkeys.POOL].acquire() as conn:
        agencies = await units.list_agencies(conn)
        rows = await units.list_units(conn, agency_id)
    groups: dict[int, dict[str, Any]] = {}
    for r in rows:
        groups.setdefault(r["agency_id"], {"name": r["agency_name"], "units": []})["units"].append(r)
    return pages.render(
        request,
        "dispatch/admin_unit.html",
        {
            "title": "Unit instansi",
            "agencies": agencies,
            "selected": agency_id,
            "groups": list(groups.values()),
            "kinds": units.UNIT_KINDS,
            "done": DONE.get(request.query.get("ok", ""), ""),
        },
    )


@auth.allow(Role.ADMIN)
async def unit_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    agency_id = params.reference(form.get("agency_id"), "instansi")
    async with request.app[appkeys.POOL].acquire() as conn:
        await units.add_unit(conn, _actor(request), agency_id, _field(form, "name"), _field(form, "kind"))
    raise _back("/admin/unit", "tambah", instansi=agency_id)


@auth.allow(Role.ADMIN)
async def unit_edit(request: web.Request) -> web.StreamResponse:
    unit_id = _unit_id(request)
    form = await request.post()
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        unit = await units.get_unit(conn, unit_id)
        await units.rename_unit(conn, _actor(request), unit_id, _field(form, "name"))
        await units.set_kind(conn, _actor(request), unit_id, _field(form, "kind"))
    raise _back("/admin/unit", "ubah", instansi=unit["agency_id"])


def _set_active(active: bool) -> Handler:
    @auth.allow(Role.ADMIN)
    async def handler(request: web.Request) -> web.StreamResponse:
        unit_id = _unit_id(request)
        async with request.app[appkeys.POOL].acquire() as conn:
            unit = await units.get_unit(conn, unit_id)
            await units.set_active(conn, _actor(request), unit_id, active)
        raise _back("/admin/unit", "aktif" if active else "nonaktif", instansi=unit["agency_id"])

    handler.__name__ = "unit_enable" if active else "unit_disable"
    return handler


@auth.allow(Role.ADMIN)
async def unit_import(request: web.Request) -> web.Response:
    form = await request.post()
    text = params.uploaded_text(form, "berkas")
    if not text.strip():
        raise units.UnitError(Kind.INVALID, "pilih berkas CSV (kolom agency_code,name,kind)")
    rows = units.parse_units_csv(text)
    async with request.app[appkeys.POOL].acquire() as conn:
        summary = await units.import_units(conn, _actor(request), rows)
    return pages.render(
        request,
        "dispatch/admin_unit_imported.html",
        {"title": "Impor unit", "summary": summary.summary()},
    )


@auth.allow(Role.ADMIN)
async def agency_page(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        agencies = await units.list_agencies(conn)
    return pages.render(
        request,
        "dispatch/admin_instansi.html",
        {"title": "Instansi", "agencies": agencies, "done": DONE.get(request.query.get("ok", ""), "")},
    )


@auth.allow(Role.ADMIN)
async def agency_edit_page(request: web.Request) -> web.Response:
    agency_id = params.reference(request.match_info["id"], "instansi")
    async with request.app[appkeys.POOL].acquire() as conn:
        agency = next((a for a in await units.list_agencies(conn) if a["id"] == agency_id), None)
    if agency is None:
        raise units.UnitError(Kind.NOT_FOUND, f"instansi {agency_id} tidak ada")
    return pages.render(
        request,
        "dispatch/admin_instansi_edit.html",
        {"title": f"Ubah instansi {agency['name']}", "agency": agency},
    )


@auth.allow(Role.ADMIN)
async def agency_edit(request: web.Request) -> web.StreamResponse:
    agency_id = params.reference(request.match_info["id"], "instansi")
    form = await request.post()
    async with request.app[appkeys.POOL].acquire() as conn:
        await units.update_agency(
            conn,
            _actor(request),
            agency_id,
            name=_field(form, "name"),
            short_name=_field(form, "short_name"),
            active=form.get("active") == "1",
        )
    raise _back("/admin/instansi", "instansi")


def setup(app: web.Application) -> None:
    pages.add_templates(app, "dispatch", Path(__file__).parent / "templates")
    for prefix in ("/admin/unit", "/admin/instansi"):
        params.register_error_page(app, prefix, _refusal)
    r = app.router
    a = _answering
    r.add_get("/admin/unit", a(unit_page))
    r.add_post("/admin/unit", a(unit_add))
    r.add_post("/admin/unit/impor", a(unit_import))
    r.add_post("/admin/unit/{id}", a(unit_edit))
    r.add_post("/admin/unit/{id}/nonaktif", a(_set_active(False)))
    r.add_post("/admin/unit/{id}/aktif", a(_set_active(True)))
    r.add_get("/admin/instansi", a(agency_page))
    r.add_get("/admin/instansi/{id}", a(agency_edit_page))
    r.add_post("/admin/instansi/{id}", a(agency_edit))
