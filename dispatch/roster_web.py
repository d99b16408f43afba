"""The duty-roster page (/piket) and its JSON API: shift patterns, the monthly roster with CSV
import/export and swaps, who is at a console now, and the shift report. Mounted by
``dispatch.console.setup``.

Supervisors and admins edit; the command centre and leaders read; an operator reads the roster
of their own agency. Pages are Bahasa Indonesia, times WIB; failed changes re-show the page with
the reason (status 200, so the browser logs no error) and change nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from core import appkeys, audit, auth, pages, params
from core.auth import User
from core.refusal import Kind
from core.roles import Role
from dispatch import presence, refusals, roster, roster_rules
from dispatch.roster_rules import WIB, RosterError

EDITORS = (Role.SUPERVISOR, Role.ADMIN)
READERS = (Role.SUPERVISOR, Role.ADMIN, Role.COMMAND_CENTRE, Role.LEADER, Role.OPERATOR)
DESK = (Role.SUPERVISOR, Role.ADMIN, Role.COMMAND_CENTRE, Role.LEADER)
API = "/api/v1"


def this_month() -> str:
    return datetime.now(UTC).astimezone(WIB).strftime("%Y-%m")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data, default=str), content_type="application/json")


def _error(err: RosterError) -> web.Response:
    return auth.json_error(refusals.STATUS[err.kind], err.code, str(err), errors=err.errors)


_answers_refusals = refusals.answering(RosterError, _error)


def _api(roles: tuple[Role, ...], summary: str, **doc: Any) -> Callable[[refusals.ApiHandler], refusals.ApiHandler]:
    """Declare a roster API route: who may call it, its OpenAPI entry (tagged roster, ``doc`` as
    for ``auth.describe``), and its refusals answered as JSON errors."""

    def declare(handler: refusals.ApiHandler) -> refusals.ApiHandler:
        return auth.allow(*roles)(auth.describe(summary, tags=["roster"], **doc)(_answers_refusals(handler)))

    return declare


@contextlib.asynccontextmanager
async def _changing(
    request: web.Request, agency_ref: str
) -> AsyncIterator[tuple[asyncpg.Connection, audit.Actor, int]]:
    """For a change to an agency's roster (by id or code): a connection, who to audit, and the
    agency's id (refused when there is no such agency)."""
    actor = auth.current_user(request).actor(auth.client_ip(request))
    async with request.app[appkeys.POOL].acquire() as conn:
        yield conn, actor, await roster.agency_id_of(conn, agency_ref)


def _may_read(user: User, agency_id: int) -> bool:
    return user.role is not Role.OPERATOR or user.agency_id == agency_id


def _csv_response(text: str, name: str) -> web.Response:
    resp = web.Response(text=text, content_type="text/csv", charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


# --- the page -------------------------------------------------------------------------------------


async def _render(
    request: web.Request,
    agency_ref: str | None,
    month: str,
    *,
    message: str = "",
    errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    user = auth.current_user(request)
    settings = request.app[appkeys.SETTINGS]
    errors = list(errors or [])
    async with request.app[appkeys.POOL].acquire() as conn:
        agencies = await conn.fetch(
            """SELECT id, code, name, kind FROM agency WHERE active AND kind <> 'opd'
                ORDER BY (kind <> 'command_centre'), kind, name"""
        )
        if user.role is Role.OPERATOR:
            agency_ref = str(user.agency_id)
        agency_id = None
        if agency_ref:
            try:
                agency_id = await roster.agency_id_of(conn, agency_ref)
            except RosterError as err:
                errors.append(str(err))
        if agency_id is None and agencies:
            agency_id = agencies[0]["id"] if user.role is not Role.OPERATOR else user.agency_id
        try:
            roster_rules.parse_month(month)
        except RosterError as err:
            errors.append(str(err))
            month = this_month()
        attendance = await presence.present(conn, settings.presence_stale_s) if user.role in DESK else []
        shifts = await roster.shifts(conn, agency_id) if agency_id else []
        entries = await roster.month_entries(conn, agency_id, month) if agency_id else []
        duty = await roster.on_duty(conn, agency_id) if agency_id else []
        since, until = _period(month)
        report = (
            await roster.shift_report(conn, since, until, settings.presence_stale_s, agency_id)
            if agency_id and user.role in DESK
            else []
        )
    return pages.render(
        request,
        "dispatch/roster.html",
        {
            "title": "Piket",
            "message": message,
            "errors": errors,
            "agencies": [a for a in agencies if user.role is not Role.OPERATOR or a["id"] == user.agency_id],
            "agency_id": agency_id,
            "month": month,
            "query": urlencode({"instansi": agency_id or "", "bulan": month}),
            "editor": user.role in EDITORS,
            "attendance": attendance,
            "duty": duty,
            "shifts": shifts,
            "entries": entries,
            "csv_columns": ",".join(roster_rules.CSV_COLUMNS),
            "report_columns": roster.REPORT_COLUMNS,
            "report": roster.report_values(report),
        },
        status=status,
    )


@auth.allow(*READERS)
async def roster_page(request: web.Request) -> web.Response:
    return await _render(
        request,
        request.query.get("instansi"),
        request.query.get("bulan") or this_month(),
        message=request.query.get("pesan", "")[:200],
    )


async def _form_change(request: web.Request, change: Any, done: str) -> web.Response:
    """Run one change from a form; on success back to the page (303), else the page with why."""
    form = await request.post()
    agency_ref = str(form.get("instansi", ""))
    month = str(form.get("bulan", "")) or this_month()
    try:
        async with _changing(request, agency_ref) as (conn, actor, agency_id):
            await change(conn, actor, agency_id, form)
    except (RosterError, params.BadParam) as err:
        errors = err.errors if isinstance(err, RosterError) else []
        return await _render(request, agency_ref, month, errors=errors or [str(err)])
    raise web.HTTPSeeOther(location="/piket?" + urlencode({"instansi": agency_id, "bulan": month, "pesan": done}))


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        # PostgreSQL refuses NUL in text: say so here instead of failing there with a 500
        raise RosterError("bad_field", f"isian {name!r} berisi karakter NUL", kind=Kind.UNREADABLE)
    return value.strip()


@auth.allow(*EDITORS)
async def shift_submit(request: web.Request) -> web.Response:
    async def change(conn: Any, actor: Any, agency_id: int, form: Any) -> None:
        # finite and within a day: float() takes nan, inf and 1e400, which timedelta cannot
        hours = params.number(_field(form, "jam"), "jam", lo=0, hi=24)
        await roster.save_shift(
            conn,
            actor,
            agency_id,
            roster_rules.make_shift(_field(form, "kode"), _field(form, "nama"), _field(form, "mulai"), hours),
        )

    return await _form_change(request, change, "Shift disimpan.")


def _day(text: str) -> date:
    return params.day(text, "tanggal")


def _int(text: str, what: str) -> int:
    return params.reference(text, what)


@auth.allow(*EDITORS)
async def entry_submit(request: web.Request) -> web.Response:
    async def change(conn: Any, actor: Any, agency_id: int, form: Any) -> None:
        await roster.assign(
            conn,
            actor,
            agency_id,
            _field(form, "shift"),
            _day(_field(form, "tanggal")),
            _field(form, "pengguna"),
            _field(form, "siaga") == "ya",
        )

    return await _form_change(request, change, "Petugas ditambahkan.")


@auth.allow(*EDITORS)
async def entry_remove(request: web.Request) -> web.Response:
    async def change(conn: Any, actor: Any, agency_id: int, form: Any) -> None:
        await roster.unassign(conn, actor, agency_id, _int(_field(form, "id"), "nomor jadwal"))

    return await _form_change(request, change, "Jadwal dihapus.")


@auth.allow(*EDITORS)
async def swap_submit(request: web.Request) -> web.Response:
    async def change(conn: Any, actor: Any, agency_id: int, form: Any) -> None:
        other = _field(form, "dengan")
        await roster.swap(
            conn,
            actor,
            agency_id,
            _int(_field(form, "id"), "nomor jadwal"),
            other_entry_id=_int(other, "nomor jadwal lawan") if other else None,
            username=None if other else (_field(form, "pengguna") or None),
        )

    return await _form_change(request, change, "Jadwal ditukar.")


@auth.allow(*EDITORS)
async def import_submit(request: web.Request) -> web.Response:
    async def change(conn: Any, actor: Any, agency_id: int, form: Any) -> None:
        upload = form.get("berkas")
        data = b""
        if isinstance(upload, web.FileField):
            data = upload.file.read(2 * 1024 * 1024)
        elif isinstance(upload, bytes | bytearray):  # an empty file input arrives as bytes
            data = bytes(upload)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RosterError("bad_encoding", "berkas CSV harus UTF-8") from None
        text = text or _field(form, "csv")
        if not text:
            raise RosterError("empty_csv", "pilih berkas CSV atau tempel isinya")
        await roster.import_month(conn, actor, agency_id, _field(form, "bulan") or this_month(), text)

    return await _form_change(request, change, "Jadwal bulan ini diganti dari CSV.")


async def _read_agency(request: web.Request, ref: str) -> int:
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        agency_id = await roster.agency_id_of(conn, ref)
    if not _may_read(user, agency_id):
        raise RosterError("no_such_agency", "instansi itu tidak ada", kind=Kind.NOT_FOUND)
    return agency_id


@auth.allow(*READERS)
@_answers_refusals
async def roster_csv(request: web.Request) -> web.Response:
    month = request.query.get("bulan") or this_month()
    agency_id = await _read_agency(request, request.query.get("instansi", ""))
    async with request.app[appkeys.POOL].acquire() as conn:
        text = await roster.export_month(conn, agency_id, month)
    return _csv_response(text, f"piket-{agency_id}-{month}.csv")


def _period(month: str) -> tuple[datetime, datetime]:
    first, nxt = roster_rules.parse_month(month)
    return (
        datetime.combine(first, datetime.min.time(), tzinfo=WIB),
        datetime.combine(nxt, datetime.min.time(), tzinfo=WIB),
    )


@auth.allow(*DESK)
@_answers_refusals
async def report_csv(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    ref = request.query.get("instansi", "")
    since, until = _period(request.query.get("bulan") or this_month())
    agency_id = await _read_agency(request, ref) if ref else None
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await roster.shift_report(conn, since, until, settings.presence_stale_s, agency_id)
    return _csv_response(roster.to_csv(roster.REPORT_COLUMNS, roster.report_rows(rows)), "laporan-shift.csv")


# --- the JSON API ---------------------------------------------------------------------------------


class ShiftIn(BaseModel):
    name: params.Line = Field(max_length=100)
    starts: params.Line = Field(description="WIB wall clock, HH:MM", max_length=8)
    hours: params.Finite = Field(gt=0, le=24)


class ShiftOut(BaseModel):
    id: int | None
    code: str
    name: str
    starts: str
    hours: float


class EntryIn(BaseModel):
    day: params.Day
    shift: params.Line = Field(max_length=16)
    username: params.Line = Field(max_length=64)
    on_call: bool = False


class SwapIn(BaseModel):
    entry_id: params.Id
    other_entry_id: params.Id | None = None
    username: params.Line | None = Field(default=None, max_length=64)


# response shapes, for the OpenAPI document
class EntryOut(BaseModel):
    id: int
    day: date
    shift: str
    shift_name: str
    username: str
    full_name: str
    on_call: bool
    starts_at: datetime
    ends_at: datetime


class PresenceOut(BaseModel):
    agencies: list[dict[str, Any]]


class MonthOut(BaseModel):
    agency_id: int
    month: str
    entries: list[EntryOut]


class SwapOut(BaseModel):
    entries: list[EntryOut]


class ShiftRemoved(BaseModel):
    removed: str


class EntryRemoved(BaseModel):
    removed: int


class Imported(BaseModel):
    imported: int


class ReportOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    rows: list[dict[str, Any]]


_AGENCY = "an agency by id or code"
_AGENCY_PARAMS: dict[str, dict[str, Any]] = {"agency": {"type": "string", "minLength": 1, "description": _AGENCY}}
_MONTH_PARAMS = _AGENCY_PARAMS | {"month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}}
_NO_AGENCY = "no such agency, or (for an operator) not their own"


@_api(DESK, "Who is at a console now, per agency", response=PresenceOut)
async def api_presence(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await presence.present(conn, request.app[appkeys.SETTINGS].presence_stale_s)
    return _json({"agencies": rows})


@_api(
    READERS,
    "An agency's shift patterns (agency by id or code)",
    response=list[ShiftOut],
    params=_AGENCY_PARAMS,
    errors={404: _NO_AGENCY},
)
async def api_shifts(request: web.Request) -> web.Response:
    agency_id = await _read_agency(request, request.match_info["agency"])
    async with request.app[appkeys.POOL].acquire() as conn:
        return _json([roster.shift_public(s) for s in await roster.shifts(conn, agency_id)])


@_api(
    EDITORS,
    "Add or change one shift (refused if it overlaps another)",
    request=ShiftIn,
    response=ShiftOut,
    params=_AGENCY_PARAMS,
    errors={404: "no such agency", 422: "a bad shift code, name, start or length, or an overlap with another shift"},
)
async def api_put_shift(request: web.Request) -> web.Response:
    body = await params.read_model(request, ShiftIn)
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        shift = roster_rules.make_shift(request.match_info["code"], body.name, body.starts, body.hours)
        saved = await roster.save_shift(conn, actor, agency_id, shift)
    return _json(roster.shift_public(saved))


@_api(
    EDITORS,
    "Retire a shift",
    response=ShiftRemoved,
    params=_AGENCY_PARAMS,
    errors={404: "no such agency or shift"},
)
async def api_delete_shift(request: web.Request) -> web.Response:
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        await roster.remove_shift(conn, actor, agency_id, request.match_info["code"])
    return _json({"removed": request.match_info["code"]})


@_api(
    READERS,
    "The roster of a month (YYYY-MM)",
    response=MonthOut,
    params=_MONTH_PARAMS,
    errors={404: _NO_AGENCY, 422: "not a month of the years 2000-2099"},
)
async def api_month(request: web.Request) -> web.Response:
    agency_id = await _read_agency(request, request.match_info["agency"])
    async with request.app[appkeys.POOL].acquire() as conn:
        entries = await roster.month_entries(conn, agency_id, request.match_info["month"])
    return _json(
        {"agency_id": agency_id, "month": request.match_info["month"], "entries": [x.public() for x in entries]}
    )


@_api(
    READERS,
    "The roster of a month as CSV (tanggal,shift,pengguna,siaga)",
    response=str,
    response_type="text/csv",
    params=_MONTH_PARAMS,
    errors={404: _NO_AGENCY, 422: "not a month of the years 2000-2099"},
)
async def api_month_csv(request: web.Request) -> web.Response:
    month = request.match_info["month"]
    agency_id = await _read_agency(request, request.match_info["agency"])
    async with request.app[appkeys.POOL].acquire() as conn:
        text = await roster.export_month(conn, agency_id, month)
    return _csv_response(text, f"piket-{agency_id}-{month}.csv")


@_api(
    EDITORS,
    "Replace the month's roster from CSV (text/csv body); line-numbered errors, all or nothing",
    request=str,
    request_type="text/csv",
    response=Imported,
    params=_MONTH_PARAMS,
    errors={404: "no such agency", 422: "not UTF-8, not a month of 2000-2099, or line-numbered errors in the CSV"},
)
async def api_import_csv(request: web.Request) -> web.Response:
    raw = await params.read_body(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return auth.json_error(422, "bad_encoding", "Berkas CSV harus UTF-8.")
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        n = await roster.import_month(conn, actor, agency_id, request.match_info["month"], text)
    return _json({"imported": n})


@_api(
    EDITORS,
    "Put one person on a shift",
    request=EntryIn,
    response=EntryOut,
    params=_AGENCY_PARAMS,
    ok={201: "the new roster entry"},
    errors={
        404: "no such agency",
        409: "that person is already on that shift",
        422: "no such shift or user, or the user is not of this agency",
    },
)
async def api_add_entry(request: web.Request) -> web.Response:
    body = await params.read_model(request, EntryIn)
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        entry = await roster.assign(conn, actor, agency_id, body.shift, body.day, body.username, body.on_call)
    return _json(entry.public(), status=201)


@_api(
    EDITORS,
    "Remove one roster entry",
    response=EntryRemoved,
    params=_AGENCY_PARAMS | {"entry_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    errors={404: "no such agency or entry", 422: "the entry id is not a whole number from 1 to 2^63-1"},
)
async def api_remove_entry(request: web.Request) -> web.Response:
    entry_id = _int(request.match_info["entry_id"], "entry id")
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        await roster.unassign(conn, actor, agency_id, entry_id)
    return _json({"removed": entry_id})


@_api(
    EDITORS,
    "Swap the people of two entries, or give an entry to someone else (audited)",
    request=SwapIn,
    response=SwapOut,
    params=_AGENCY_PARAMS,
    errors={
        404: "no such agency or entry",
        409: "the swap would put one person on a shift twice",
        422: "neither another entry nor a user, the same entry or shift, or no such user of this agency",
    },
)
async def api_swap(request: web.Request) -> web.Response:
    body = await params.read_model(request, SwapIn)
    async with _changing(request, request.match_info["agency"]) as (conn, actor, agency_id):
        entries = await roster.swap(
            conn,
            actor,
            agency_id,
            body.entry_id,
            other_entry_id=body.other_entry_id,
            username=body.username,
        )
    return _json({"entries": [x.public() for x in entries]})


def _report_period(request: web.Request) -> tuple[datetime, datetime]:
    if "month" in request.query:
        return _period(request.query["month"])
    # within 1900-2100 and with an offset: year 1 at +14:00 or 9999 at -14:00 overflows when shifted
    until = params.instant(request.query["to"], "to") if "to" in request.query else datetime.now(UTC)
    since = params.instant(request.query["from"], "from") if "from" in request.query else until - timedelta(days=7)
    if not since < until or until - since > timedelta(days=400):
        raise RosterError("bad_period", "Awal periode (from) harus sebelum akhirnya (to), paling jauh 400 hari.")
    return since, until


@_api(
    DESK,
    "Shift report: per agency and shift, alerts, time to acknowledge, unacknowledged escalations, hours unattended",
    query={"month": "YYYY-MM (WIB)", "from": "ISO-8601 instant", "to": "ISO-8601 instant", "agency": "id or code"},
    params={
        "month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
    },
    response=ReportOut,
    errors={
        404: _NO_AGENCY,
        422: "a bad month, from/to not ISO-8601 with an offset, from not before to, or more than 400 days apart",
    },
)
async def api_report(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    since, until = _report_period(request)
    ref = request.query.get("agency")
    agency_id = await _read_agency(request, ref) if ref else None
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await roster.shift_report(conn, since, until, settings.presence_stale_s, agency_id)
    return _json({"from": since.isoformat(), "to": until.isoformat(), "rows": rows})


async def _refusal_page(request: web.Request, err: params.BadParam) -> web.Response:
    """A parameter refused by core.params on a roster page: the page, with why, and the refusal's
    status. Anything else under /piket (no such address, a visitor not signed in, a role without
    the roster) has no roster to show: the refusal page."""
    user = auth.optional_user(request)
    if user is not None and user.role in READERS and err.status in (400, 422):
        return await _render(request, None, this_month(), errors=[err.message], status=err.status)
    return pages.refusal_page(request, err.message, status=err.status)


def setup(app: web.Application) -> None:
    params.register_error_page(app, "/piket", _refusal_page)
    r = app.router
    r.add_get("/piket", roster_page)
    r.add_post("/piket/shift", shift_submit)
    r.add_post("/piket/jadwal", entry_submit)
    r.add_post("/piket/jadwal/hapus", entry_remove)
    r.add_post("/piket/tukar", swap_submit)
    r.add_post("/piket/impor", import_submit)
    r.add_get("/piket/jadwal.csv", roster_csv)
    r.add_get("/piket/laporan.csv", report_csv)
    r.add_get(f"{API}/presence", api_presence)
    r.add_get(f"{API}/roster-report", api_report)
    r.add_get(API + "/roster/{agency}/shifts", api_shifts)
    r.add_put(API + "/roster/{agency}/shifts/{code}", api_put_shift)
    r.add_delete(API + "/roster/{agency}/shifts/{code}", api_delete_shift)
    r.add_post(API + "/roster/{agency}/entries", api_add_entry)
    r.add_delete(API + "/roster/{agency}/entries/{entry_id}", api_remove_entry)
    r.add_post(API + "/roster/{agency}/swap", api_swap)
    r.add_get(API + r"/roster/{agency}/{month:\d{4}-\d{2}}.csv", api_month_csv)
    r.add_put(API + r"/roster/{agency}/{month:\d{4}-\d{2}}.csv", api_import_csv)
    r.add_get(API + r"/roster/{agency}/{month:\d{4}-\d{2}}", api_month)
