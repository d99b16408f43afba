"""The admin's pages of the complaint pipeline: the categories (Open311 services, their
attributes, the CSV), the cuti bersama that stop the working-day clock, and the Open311 clients.

Templates under complaints/templates (``admin_*.html``), every change audited, every refusal an
Indonesian page with a way back (400, 404 or 409), never JSON to a browser.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
from aiohttp import web

from complaints import categories, store
from complaints.clock import WIB
from complaints.model import Actor, ComplaintError, Forbidden, InvalidAction, InvalidTransition, NotFound, SlaLimits
from core import appkeys, audit, auth, pages, params
from core.roles import Role

Handler = pages.Handler

TEMPLATES = Path(__file__).parent / "templates"
MAX_ATTRIBUTES_TEXT = categories.MAX_ATTRIBUTES_TEXT
# What the page says after a change (the redirect carries the key, never the words).
DONE = {
    "tambah": "Kategori ditambahkan.",
    "ubah": "Kategori disimpan.",
    "atribut": "Atribut Open311 disimpan.",
    "nonaktif": "Kategori dinonaktifkan.",
    "aktif": "Kategori diaktifkan lagi.",
    "cuti": "Cuti bersama disimpan; batas waktu laporan yang berjalan dihitung ulang.",
    "cuti-hapus": "Cuti bersama dihapus; batas waktu laporan yang berjalan dihitung ulang.",
    "klien-nonaktif": "Klien Open311 dinonaktifkan; kuncinya tidak diterima lagi.",
}


def _message(err: ComplaintError) -> str:
    if isinstance(err, InvalidAction):
        return str(err).removeprefix(f"{err.field}: ")
    if isinstance(err, NotFound):
        return f"{err} tidak ditemukan."
    if isinstance(err, Forbidden):
        return "Anda tidak berwenang melakukan ini."
    return "Tindakan ini tidak dapat dilakukan sekarang."


def _status(err: ComplaintError) -> int:
    return {Forbidden: 403, InvalidTransition: 409, NotFound: 404}.get(type(err), 400)


def _refusal(request: web.Request, err: params.BadParam) -> web.Response:
    return pages.refusal_page(request, err.message, status=err.status)


# complaint, CSV and parameter refusals as the refusal page (the access rule stays on the handler)
_answering = pages.answering(
    {
        ComplaintError: lambda request, err: pages.refusal_page(request, _message(err), status=_status(err)),
        categories.CategoryCsvError: lambda request, err: pages.refusal_page(
            request, f"Kategori tidak dimuat, {err}", status=400
        ),
        params.BadParam: _refusal,
    }
)


def _actors(request: web.Request) -> tuple[Actor, audit.Actor]:
    """The admin as the complaint store and as the audit log know them."""
    user = auth.current_user(request)
    ip = auth.client_ip(request)
    return Actor(role=user.role.value, user_id=user.id, name=user.username, client_ip=ip), user.actor(ip)


def _back(path: str, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=f"{path}?{urlencode({'ok': done})}")


def _done(request: web.Request) -> str:
    return DONE.get(request.query.get("ok", ""), "")


async def _opds(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, name FROM agency WHERE kind = 'opd' AND active ORDER BY name")


async def _opd_id(conn: asyncpg.Connection, value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    opd_id = params.reference(text, "OPD")
    # checked here: the foreign key would refuse it too, but as a 500
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agency WHERE id = $1 AND kind = 'opd')", opd_id):
        raise InvalidAction("default_opd_id", "OPD itu tidak ada")
    return opd_id


def _category_fields(form: Any) -> dict[str, str]:
    return {
        "name": params.text(form.get("name"), "nama", max_length=categories.LIMITS["name"], required=True),
        "group_name": params.text(form.get("group_name"), "kelompok", max_length=categories.LIMITS["group_name"]),
        "description": params.text(
            form.get("description"), "keterangan", max_length=categories.LIMITS["description"], multiline=True
        ),
    }


def _snapshot(row: asyncpg.Record) -> dict[str, Any]:
    keys = ("name", "group_name", "description", "default_opd_id", "active")
    return {k: row[k] for k in keys}


# --- categories -------------------------------------------------------------------------------------


@auth.allow(Role.ADMIN)
async def category_page(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        cats = await conn.fetch(
            """SELECT c.*, a.name AS opd_name, jsonb_array_length(c.attributes) AS n_attributes
                 FROM complaint_category c LEFT JOIN agency a ON a.id = c.default_opd_id
                ORDER BY c.active DESC, c.group_name, c.name"""
        )
        opds = await _opds(conn)
    return pages.render(
        request,
        "complaints/admin_kategori.html",
        {"title": "Kategori pengaduan", "categories": cats, "opds": opds, "done": _done(request)},
    )


@auth.allow(Role.ADMIN)
async def category_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    fields = _category_fields(form)
    code = params.text(form.get("code"), "kode", max_length=categories.LIMITS["code"], required=True)
    _, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        opd_id = await _opd_id(conn, form.get("default_opd_id"))
        category_id = await store.create_category(conn, code, default_opd_id=opd_id, **fields)
        row = await store.get_category(conn, category_id)
        assert row is not None
        await audit.record(
            conn, who, "category.create", object_type="complaint_category", object_id=code, after=_snapshot(row)
        )
    raise _back("/admin/kategori", "tambah")


def _category_id(request: web.Request) -> int:
    return params.reference(request.match_info["id"], "kategori")


async def _category(conn: asyncpg.Connection, category_id: int) -> asyncpg.Record:
    row = await store.get_category(conn, category_id)
    if row is None:
        raise NotFound("Kategori")
    return row


@auth.allow(Role.ADMIN)
async def category_edit_page(request: web.Request) -> web.Response:
    category_id = _category_id(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        cat = await _category(conn, category_id)
        opds = await _opds(conn)
    attributes = orjson.dumps(cat["attributes"] or [], option=orjson.OPT_INDENT_2).decode()
    return pages.render(
        request,
        "complaints/admin_kategori_edit.html",
        {
            "title": f"Kategori {cat['name']}",
            "category": cat,
            "opds": opds,
            "attributes": attributes,
            "done": _done(request),
        },
    )


async def _update(request: web.Request, category_id: int, action: str, **changes: Any) -> None:
    _, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        before = await _category(conn, category_id)
        if "default_opd_id" in changes:
            changes["default_opd_id"] = await _opd_id(conn, changes["default_opd_id"])
        await store.update_category(conn, category_id, **changes)
        after = await _category(conn, category_id)
        if _snapshot(before) != _snapshot(after):
            await audit.record(
                conn,
                who,
                action,
                object_type="complaint_category",
                object_id=before["code"],
                before=_snapshot(before),
                after=_snapshot(after),
            )


@auth.allow(Role.ADMIN)
async def category_edit(request: web.Request) -> web.StreamResponse:
    category_id = _category_id(request)
    form = await request.post()
    await _update(
        request,
        category_id,
        "category.update",
        default_opd_id=form.get("default_opd_id", ""),
        **_category_fields(form),
    )
    raise web.HTTPSeeOther(location=f"/admin/kategori/{category_id}?ok=ubah")


def _set_active(active: bool) -> Handler:
    @auth.allow(Role.ADMIN)
    async def handler(request: web.Request) -> web.StreamResponse:
        await _update(
            request, _category_id(request), "category.enable" if active else "category.disable", active=active
        )
        raise _back("/admin/kategori", "aktif" if active else "nonaktif")

    handler.__name__ = "category_enable" if active else "category_disable"
    return handler


@auth.allow(Role.ADMIN)
async def category_attributes(request: web.Request) -> web.StreamResponse:
    category_id = _category_id(request)
    form = await request.post()
    text = form.get("attributes")
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > MAX_ATTRIBUTES_TEXT:
        raise InvalidAction("attributes", f"daftar atribut lebih dari {MAX_ATTRIBUTES_TEXT} karakter")
    try:
        attributes = orjson.loads(text or "[]")
    except orjson.JSONDecodeError:
        raise InvalidAction("attributes", "daftar atribut bukan JSON yang sah") from None
    actor, _ = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        await store.set_category_attributes(conn, actor, category_id, attributes)
    raise web.HTTPSeeOther(location=f"/admin/kategori/{category_id}?ok=atribut")


@auth.allow(Role.ADMIN)
async def category_csv(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        text = categories.to_csv(await categories.export_rows(conn))
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="kategori_pengaduan.csv"'},
    )


@auth.allow(Role.ADMIN)
async def category_import(request: web.Request) -> web.Response:
    form = await request.post()
    text = params.uploaded_text(form, "berkas")
    if not text.strip():
        raise InvalidAction("berkas", "pilih berkas CSV kategori")
    rows = categories.parse_categories_csv(text)
    actor, _ = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        summary = await categories.load_categories(conn, actor, rows, replace=form.get("replace") == "1")
    return pages.render(
        request,
        "complaints/admin_kategori_imported.html",
        {"title": "Kategori dimuat", "summary": summary},
    )


# --- cuti bersama -------------------------------------------------------------------------------------


def _this_year() -> int:
    return datetime.now(WIB).year


@auth.allow(Role.ADMIN)
async def leave_page(request: web.Request) -> web.Response:
    year = _this_year()
    async with request.app[appkeys.POOL].acquire() as conn:
        days = await store.list_collective_leave(conn, year) + await store.list_collective_leave(conn, year + 1)
    return pages.render(
        request,
        "complaints/admin_cuti.html",
        {"title": "Cuti bersama", "days": days, "year": year, "done": _done(request)},
    )


async def _recompute(request: web.Request) -> None:
    # open stages get due dates under the new calendar
    pool = request.app[appkeys.POOL]
    await store.recompute_due(
        pool, await store.load_clock(pool), limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS])
    )


@auth.allow(Role.ADMIN)
async def leave_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    day = params.day(form.get("day"), "tanggal")
    note = params.text(form.get("note"), "keterangan", max_length=200)
    actor, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        await store.set_collective_leave(conn, [day], note=note, actor=actor)
        await audit.record(
            conn,
            who,
            "collective_leave.add",
            object_type="collective_leave",
            object_id=day.isoformat(),
            after={"note": note},
        )
    await _recompute(request)
    raise _back("/admin/cuti", "cuti")


@auth.allow(Role.ADMIN)
async def leave_remove(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    day = params.day(form.get("day"), "tanggal")
    _, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        if not await store.remove_collective_leave(conn, day):
            raise NotFound(f"Cuti bersama {day.strftime('%d-%m-%Y')}")
        await audit.record(
            conn, who, "collective_leave.remove", object_type="collective_leave", object_id=day.isoformat()
        )
    await _recompute(request)
    raise _back("/admin/cuti", "cuti-hapus")


# --- Open311 clients ---------------------------------------------------------------------------------


async def _client_page(request: web.Request, *, new_key: str = "", new_name: str = "") -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        clients = await store.list_open311_clients(conn)
    return pages.render(
        request,
        "complaints/admin_open311.html",
        {
            "title": "Klien Open311",
            "clients": clients,
            "new_key": new_key,
            "new_name": new_name,
            "done": _done(request),
        },
    )


@auth.allow(Role.ADMIN)
async def client_page(request: web.Request) -> web.Response:
    return await _client_page(request)


@auth.allow(Role.ADMIN)
async def client_add(request: web.Request) -> web.Response:
    form = await request.post()
    name = params.text(form.get("name"), "nama klien", max_length=200, required=True)
    _, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        client_id, key = await store.create_open311_client(conn, name)
        await audit.record(
            conn,
            who,
            "open311_client.add",
            object_type="open311_client",
            object_id=str(client_id),
            after={"name": name},
        )
    # the one time the key is shown: the page answers the post itself (no redirect that could be reloaded)
    return await _client_page(request, new_key=key, new_name=name)


@auth.allow(Role.ADMIN)
async def client_disable(request: web.Request) -> web.StreamResponse:
    client_id = params.reference(request.match_info["id"], "klien")
    _, who = _actors(request)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        before = await store.set_open311_client_active(conn, client_id, False)
        if before is None:
            raise NotFound("Klien Open311")
        if before["active"]:
            await audit.record(
                conn,
                who,
                "open311_client.disable",
                object_type="open311_client",
                object_id=str(client_id),
                before={"name": before["name"], "active": True},
                after={"name": before["name"], "active": False},
            )
    raise _back("/admin/open311", "klien-nonaktif")


@auth.allow(Role.ADMIN)
async def old_admin_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(location="/admin/kategori")


def setup(app: web.Application) -> None:
    """Mount the admin pages (and the old ``/pengaduan/admin`` addresses, which lead to them)."""
    pages.add_templates(app, "complaints", TEMPLATES)
    for prefix in ("/admin/kategori", "/admin/cuti", "/admin/open311"):
        params.register_error_page(app, prefix, _refusal)
    r = app.router
    a = _answering
    r.add_get("/admin/kategori", a(category_page))
    r.add_post("/admin/kategori", a(category_add))
    r.add_get("/admin/kategori.csv", a(category_csv))
    r.add_post("/admin/kategori/impor", a(category_import))
    r.add_get("/admin/kategori/{id}", a(category_edit_page))
    r.add_post("/admin/kategori/{id}", a(category_edit))
    r.add_post("/admin/kategori/{id}/atribut", a(category_attributes))
    r.add_post("/admin/kategori/{id}/nonaktif", a(_set_active(False)))
    r.add_post("/admin/kategori/{id}/aktif", a(_set_active(True)))
    r.add_get("/admin/cuti", a(leave_page))
    r.add_post("/admin/cuti", a(leave_add))
    r.add_post("/admin/cuti/hapus", a(leave_remove))
    r.add_get("/admin/open311", a(client_page))
    r.add_post("/admin/open311", a(client_add))
    r.add_post("/admin/open311/{id}/nonaktif", a(client_disable))
    # the addresses before the admin pages moved: forms posted from an old page still work
    r.add_get("/pengaduan/admin", old_admin_page)
    r.add_post("/pengaduan/admin/kategori", a(category_add))
    r.add_post("/pengaduan/admin/cuti", a(leave_add))
