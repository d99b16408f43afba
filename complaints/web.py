"""The complaint desk, the citizen's pages and Open311, mounted by ``setup(app)``.

Pages are Jinja2 templates under ``complaints/templates`` (autoescaped, in the one layout of
core/pages.py), every word from core/labels.py. Times are shown in WIB, stored in UTC. Access
rules are core.auth's: verification staff work the queue, an OPD officer sees the inbox of their
own OPD, a leader reads and issues teguran; citizens use the public form and the status page: the
tracking id shows the public status, the complaint's secret (complaints/citizen.py) lets the
reporter act.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import asyncpg
from aiohttp import web

from complaints import admin_web, citizen, model, open311_web, runner, store
from complaints.clock import colour_at
from complaints.model import (
    Actor,
    ComplaintError,
    Forbidden,
    InvalidAction,
    InvalidTransition,
    Kind,
    NotFound,
    SlaLimits,
)
from core import appkeys, auth, labels, pages, params, ratelimit
from core.roles import Role

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_FILES = frozenset({"lapor.js", "complaints.css"})
STAFF = (Role.COMPLAINT_STAFF, Role.ADMIN)
DESK_READERS = (Role.COMPLAINT_STAFF, Role.ADMIN, Role.OPD_OFFICER, Role.LEADER, Role.COMMAND_CENTRE)


def actor_of(user: auth.User) -> Actor:
    return Actor(role=user.role.value, user_id=user.id, name=user.username, agency_id=user.agency_id)


def _now() -> datetime:
    return open311_web.open311.now_utc()


# --- refusals ----------------------------------------------------------------------------------------------


def actor_words(name: str | None, role: str) -> str:
    """Who did something, as a person reads it: the name and the role's label (``budi
    (Verifikator pengaduan)``), the label alone where the name only repeats it (``Sistem``)."""
    role_label = labels.label("role", role)
    if not name or name.lower() == role_label.lower():
        return role_label
    return f"{name} ({role_label})"


async def _conflict_message(request: web.Request) -> str:
    """Why an action no longer applies: who changed the complaint last, and when."""
    pool = request.app[appkeys.POOL]
    async with pool.acquire() as conn:
        cid: int | None = None
        if "id" in request.match_info:
            cid = _int(request.match_info["id"], "pengaduan")
        elif "tracking" in request.match_info:
            found = await store.get_by_tracking(conn, request.match_info["tracking"])
            cid = found["id"] if found is not None else None
        last = await store.latest_history(conn, cid) if cid is not None else None
    if last is None:
        return "Tindakan ini tidak berlaku untuk status laporan sekarang; muat ulang halaman."
    return (
        f"Laporan ini sudah diubah oleh {actor_words(last['actor_name'], last['actor_role'])} "
        f"pada {labels.wib(last['at'])}; muat ulang halaman."
    )


async def _error_page(request: web.Request, err: ComplaintError) -> web.Response:
    status = {Forbidden: 403, InvalidTransition: 409, NotFound: 404}.get(type(err), 400)
    if isinstance(err, InvalidTransition):
        message = await _conflict_message(request)
    elif isinstance(err, NotFound):
        what = str(err).strip()
        message = f"{what[:1].upper()}{what[1:]} tidak ditemukan." if what else "Tidak ditemukan."
    elif isinstance(err, Forbidden):
        message = "Anda tidak berwenang melakukan ini."
    elif isinstance(err, InvalidAction):
        message = str(err).rstrip(".") + "."
    else:
        message = "Isian tidak dapat diterima."
    return pages.refusal_page(request, message, status=status)




def _refusal_page(request: web.Request, err: params.BadParam) -> web.Response:
    """A parameter refused by core.params, as this module's error page."""
    message = err.message
    # core.params quotes the field by its form name ("isian 'description' ..."); the reader gets
    # the field's own name where the catalogue has one ("Isi laporan berisi ...")
    quoted, name = f"isian {err.name!r}", labels.COMPLAINT_FIELD.get(err.name)
    if name is not None and message.startswith(quoted):
        message = name + message[len(quoted) :]
    message = message[:1].upper() + message[1:]
    return pages.refusal_page(request, message.rstrip(".") + ".", status=err.status)


# the complaint errors as pages (the access rule stays on the handler); core.params' guard turns
# a BadParam into the same page, this keeps it for a handler mounted without the guard
_guarded = pages.answering({ComplaintError: _error_page, params.BadParam: _refusal_page})


def _int(value: str, what: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise NotFound(what) from None
    if not 0 < n < 2**63:
        raise NotFound(what)
    return n


# --- the desk ------------------------------------------------------------------------------------------


def _listed(rows: Iterable[asyncpg.Record], now: datetime) -> list[dict[str, Any]]:
    """Complaint rows with the colour of their running stage."""
    return [{"row": r, "colour": _colour(r, now)} for r in rows]


def _colour(row: Mapping[str, Any], now: datetime) -> str | None:
    """The running stage's colour; none when closed or paused (no deadline runs then)."""
    if not row["stage"] or row["due_at"] is None:
        return None
    return colour_at(now, row["yellow_at"], row["due_at"]).value


def _history_lines(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """History rows with who wrote them in words (:func:`actor_words`)."""
    return [{**dict(h), "who": actor_words(h["actor_name"], h["actor_role"])} for h in rows]


@auth.allow(*STAFF)
async def verification_queue(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await store.verification_queue(conn)
    return pages.render(
        request, "complaints/queue.html", {"title": "Antrean verifikasi", "items": _listed(rows, _now())}
    )


@auth.allow(Role.OPD_OFFICER)
async def opd_inbox(request: web.Request) -> web.Response:
    user = auth.current_user(request)
    if user.agency_id is None:
        raise Forbidden("opd_inbox", user.role.value, "akun tidak terikat ke OPD")
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await store.opd_inbox(conn, user.agency_id)
        teguran = await store.list_teguran(conn, user.agency_id, limit=20)
        opd_name = await conn.fetchval("SELECT name FROM agency WHERE id = $1", user.agency_id)
    return pages.render(
        request,
        "complaints/opd_inbox.html",
        {"title": "Kotak masuk OPD", "items": _listed(rows, _now()), "teguran": teguran, "opd_name": opd_name},
    )


async def _may_read(conn: asyncpg.Connection, user: auth.User, row: asyncpg.Record) -> Literal["all", "own"] | None:
    """How much of a complaint ``user`` may read: all of it, only their OPD's own part (it was
    disposed to them once and has moved on: their disposition and what they wrote), or nothing
    (None: the complaint is answered as missing, so its existence is not told)."""
    if user.role in (Role.COMPLAINT_STAFF, Role.ADMIN, Role.LEADER, Role.COMMAND_CENTRE):
        return "all"
    if user.role == Role.OPD_OFFICER and user.agency_id is not None:
        if row["opd_id"] == user.agency_id:
            return "all"
        past = await conn.fetchval(
            "SELECT true FROM complaint_disposition WHERE complaint_id = $1 AND opd_id = $2 LIMIT 1",
            row["id"],
            user.agency_id,
        )
        return "own" if past else None
    return None


async def _own_part(
    request: web.Request, conn: asyncpg.Connection, user: auth.User, row: asyncpg.Record
) -> web.Response:
    """What an OPD that no longer holds a complaint still sees: its own dispositions and its own
    entries in the history, nothing of what came after or of other OPDs."""
    assert user.agency_id is not None
    disps = [d for d in await store.dispositions(conn, row["id"]) if d["opd_id"] == user.agency_id]
    hist = await store.history_by_agency(conn, row["id"], user.agency_id)
    return pages.render(
        request,
        "complaints/own_part.html",
        {
            "title": f"Laporan {row['tracking_id']}",
            "row": row,
            "dispositions": disps,
            "history": _history_lines(hist),
        },
    )


@auth.allow(*DESK_READERS)
async def detail(request: web.Request) -> web.Response:
    user = auth.current_user(request)
    actor = actor_of(user)
    cid = _int(request.match_info["id"], "pengaduan")
    async with request.app[appkeys.POOL].acquire() as conn:
        row = await store.get(conn, cid)
        if row is None:
            raise NotFound("pengaduan")
        scope = await _may_read(conn, user, row)
        if scope is None:
            raise NotFound("pengaduan")
        if scope == "own":
            return await _own_part(request, conn, user, row)
        hist = await store.history(conn, cid)
        disps = await store.dispositions(conn, cid)
        reporter: dict[str, Any] | None = None
        if model.may_see_reporter_contact(actor):
            reporter = await store.reporter_identity(conn, cid, actor, client_ip=auth.client_ip(request))
        opds = await conn.fetch("SELECT id, name FROM agency WHERE kind = 'opd' AND active ORDER BY name")
        cats = await store.list_categories(conn)
        incident = None
        if row["incident_id"] is not None:
            incident = await conn.fetchrow("SELECT id, number FROM incident WHERE id = $1", row["incident_id"])
    allowed = model.allowed_actions(store.state_of(row), actor)
    default_opd = next((c["default_opd_id"] for c in cats if c["id"] == row["category_id"]), None)
    privacy = ", ".join(words for words, on in (("Anonim", row["anonim"]), ("Rahasia", row["rahasia"])) if on)
    return pages.render(
        request,
        "complaints/detail.html",
        {
            "title": f"Laporan {row['tracking_id']}",
            "row": row,
            "place": ", ".join(x for x in (row["address"], row["desa_name"], row["kecamatan_name"]) if x),
            "reporter": reporter,
            "show_name": model.may_see_reporter_name(actor, row["anonim"]),
            "privacy": privacy,
            "colour": _colour(row, _now()),
            "incident": incident,
            "dispositions": disps,
            "history": _history_lines(hist),
            "allowed": allowed,
            "opds": opds,
            "categories": cats,
            "default_opd": default_opd,
        },
    )


@auth.allow(Role.COMPLAINT_STAFF, Role.ADMIN, Role.OPD_OFFICER)
async def act(request: web.Request) -> web.StreamResponse:
    user = auth.current_user(request)
    cid = _int(request.match_info["id"], "pengaduan")
    form = await request.post()
    data: dict[str, object] = {k: v for k, v in form.items() if isinstance(v, str)}
    action = model.parse_action(str(data.get("action", "")), data)
    photo = None
    upload = form.get("photo")
    if isinstance(upload, web.FileField):
        content = upload.file.read(store.MAX_PHOTO_BYTES + 1)
        if content:
            if upload.content_type not in ("image/jpeg", "image/png"):
                raise InvalidAction("photo", "foto harus JPEG atau PNG")
            photo = (content, upload.content_type)
            if isinstance(action, model.FollowUp):
                action = model.FollowUp(text=action.text, has_photo=True)
    async with request.app[appkeys.POOL].acquire() as conn:
        if user.role == Role.OPD_OFFICER:
            row = await store.get(conn, cid)
            if row is None or await _may_read(conn, user, row) is None:
                raise NotFound("pengaduan")
        clock = await store.load_clock(conn)
        await store.act(
            conn,
            cid,
            action,
            actor_of(user),
            clock=clock,
            limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS]),
            photo=photo,
        )
    raise web.HTTPSeeOther(location=f"/pengaduan/{cid}")


@auth.allow(*DESK_READERS)
async def photo(request: web.Request) -> web.Response:
    user = auth.current_user(request)
    did = _int(request.match_info["id"], "foto")
    async with request.app[appkeys.POOL].acquire() as conn:
        opd = await conn.fetchval("SELECT opd_id FROM complaint_disposition WHERE id = $1", did)
        if opd is None:
            raise NotFound("foto")
        if user.role == Role.OPD_OFFICER and user.agency_id != opd:
            raise NotFound("foto")  # another OPD's photo: as if there were none
        found = await store.followup_photo(conn, did)
    if found is None:
        raise NotFound("foto")
    resp = web.Response(body=found[0], content_type=found[1])
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'"
    return resp


@auth.allow(Role.OPD_OFFICER)
async def teguran_read(request: web.Request) -> web.StreamResponse:
    tid = _int(request.match_info["id"], "teguran")
    async with request.app[appkeys.POOL].acquire() as conn:
        await store.mark_teguran_read(conn, tid, actor_of(auth.current_user(request)))
    raise web.HTTPSeeOther(location="/pengaduan/opd")


@auth.allow(Role.LEADER)
async def teguran_issue(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    opd = _int(str(form.get("opd_id", "")), "OPD")
    text = str(form.get("text", ""))
    async with request.app[appkeys.POOL].acquire() as conn:
        await store.issue_teguran(conn, opd, text, actor_of(auth.current_user(request)))
    raise web.HTTPSeeOther(location="/dasbor")


# --- the citizen's pages --------------------------------------------------------------------------------


@auth.public
async def citizen_form(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        cats = await store.list_categories(conn)
    return pages.render(request, "complaints/lapor.html", {"title": "Sampaikan laporan", "categories": cats})


def _opt_float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidAction("lat", "tidak sah") from None


def _contact_key(phone: str | None, email: str | None) -> str | None:
    """The reporter's contact as the per-contact limit counts it (however it is spelled)."""
    if phone:
        digits = "".join(ch for ch in phone if ch.isdigit())
        # 0812..., 62812... and +62 812... are one number
        if digits.startswith("62"):
            digits = "0" + digits[2:]
        if digits:
            return "tel:" + digits[:20]
    if email:
        return "mail:" + email.strip().lower()[:254]
    return None


def _too_many(request: web.Request, retry_after: float, text: str) -> web.Response:
    minutes = max(1, round(retry_after / 60))
    resp = pages.refusal_page(
        request, f"{text} Silakan coba lagi dalam {minutes} menit.", status=429, title="Terlalu banyak permintaan"
    )
    resp.headers["Retry-After"] = str(int(retry_after))
    return resp


def _citizen_page(resp: web.Response) -> web.Response:
    # the status link carries the secret in its query: no Referer may take it to another site
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@auth.public
async def citizen_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()

    def text(name: str) -> str | None:
        v = form.get(name)
        return v.strip() or None if isinstance(v, str) else None

    settings = request.app[appkeys.SETTINGS]
    limits = [
        ratelimit.Limit("lapor.ip", auth.client_ip(request) or "?", settings.lapor_ip_max, settings.lapor_ip_window_s)
    ]
    contact = _contact_key(text("reporter_phone"), text("reporter_email"))
    if contact:
        limits.append(
            ratelimit.Limit("lapor.contact", contact, settings.lapor_contact_max, settings.lapor_contact_window_s)
        )
    async with request.app[appkeys.POOL].acquire() as conn:
        wait = await ratelimit.take(conn, limits)
    if wait is not None:
        return _too_many(request, wait, "Terlalu banyak laporan dari alamat atau kontak ini.")
    try:
        kind = Kind(text("kind") or "pengaduan")
    except ValueError:
        raise InvalidAction("kind", "tidak dikenal") from None
    cat = text("category_id")
    lat, lon = _opt_float(text("lat")), _opt_float(text("lon"))
    new = store.NewComplaint(
        description=text("description") or "",
        kind=kind,
        channel="web",
        title=text("title") or "",
        category_id=_int(cat, "kategori") if cat else None,
        lat=lat,
        lon=lon,
        address=text("address"),
        reporter_name=text("reporter_name"),
        reporter_email=text("reporter_email"),
        reporter_phone=text("reporter_phone"),
        anonim=bool(text("anonim")),
        rahasia=bool(text("rahasia")),
    )
    new.validate()
    area = await open311_web.locate(request.app, lat, lon)
    if area:
        new = dataclasses.replace(new, **area)
    secret = citizen.new_secret()
    async with request.app[appkeys.POOL].acquire() as conn:
        clock = await store.load_clock(conn)
        row = await store.create(
            conn,
            new,
            Actor.citizen(),
            clock=clock,
            limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS]),
            citizen_secret=secret,
        )
    await open311_web.send_link(request, row, secret)
    # the one time the secret is shown unasked: the confirmation is the status page opened by its link
    raise web.HTTPSeeOther(location=citizen.status_path(row["tracking_id"], secret) + "&baru=1")


@auth.public
async def status_lookup(request: web.Request) -> web.StreamResponse:
    tid = request.query.get("nomor", "").strip()
    if tid:
        raise web.HTTPSeeOther(location="/status/" + quote(tid.upper()[:40], safe=""))
    return pages.render(request, "complaints/status_lookup.html", {"title": "Cek status laporan"})


# What the history shows anyone with the tracking number: the steps, never their notes.
PUBLIC_ACTIONS = frozenset(
    {"create", "dispose", "hold", "resume", "not_authority", "archive", "follow_up", "accept", "dispute", "auto_close"}
)
# Notes the reporter reads with their secret: what they were asked, and why it was refused.
REPORTER_NOTES = frozenset({"hold", "not_authority"})


def _secret_refused(request: web.Request) -> web.Response:
    message = (
        "Tautan atau kode rahasia tidak cocok dengan laporan ini. Tidak ada yang diubah. "
        "Tindakan atas laporan hanya dengan tautan rahasia yang diberikan saat laporan dikirim. "
        "Kehilangan tautan? Hubungi petugas pengaduan, yang dapat mencatat tanggapan Anda."
    )
    return _citizen_page(pages.refusal_page(request, message, status=403, title="Tidak diizinkan"))


@auth.public
async def status_page(request: web.Request) -> web.Response:
    """The public status by tracking id; with the complaint's secret (``?k=``), the reporter's view
    and the forms to answer."""
    tid = request.match_info["tracking"]
    given = request.query.get("k")
    async with request.app[appkeys.POOL].acquire() as conn:
        row = await store.get_by_tracking(conn, tid)
        if row is None:
            raise NotFound("laporan")
        hist = await store.history(conn, row["id"])
        disps = await store.dispositions(conn, row["id"])
    reporter = given is not None and citizen.secret_matches(row["citizen_secret_hash"], given)
    if given is not None and not reporter:
        return _secret_refused(request)
    latest = next((d for d in reversed(disps) if d["outcome"] == "followed_up"), None)
    new_link = None
    if reporter and request.query.get("baru") == "1":
        new_link = citizen.status_path(row["tracking_id"], given or "")
    history = [
        {"at": h["at"], "action": h["action"], "note": h["note"] if reporter and h["action"] in REPORTER_NOTES else ""}
        for h in hist
        if h["action"] in PUBLIC_ACTIONS
    ]
    context = {
        "title": f"Status laporan {row['tracking_id']}",
        "row": row,
        "reporter": reporter,
        "secret": given if reporter else "",
        "new_link": new_link,
        "show_text": reporter or model.public_text_visible(row["rahasia"], row["anonim"]),
        "followup": latest["followup_text"] if reporter and latest is not None else None,
        "history": history,
        "url": "/status/" + quote(row["tracking_id"], safe=""),
    }
    return _citizen_page(pages.render(request, "complaints/status.html", context))


# What a reporter may do with their secret (model.py: the actions open to Role.CITIZEN).
CITIZEN_ACTIONS = frozenset(name for name, cls in model.ACTIONS.items() if Role.CITIZEN in cls.roles)


@auth.public
async def status_act(request: web.Request) -> web.StreamResponse:
    """The reporter answers a tunda, or accepts/disputes a follow-up, with the complaint's secret."""
    tid = request.match_info["tracking"]
    settings = request.app[appkeys.SETTINGS]
    limits = [
        ratelimit.Limit(
            "status.ip", auth.client_ip(request) or "?", settings.status_act_ip_max, settings.status_act_ip_window_s
        ),
        ratelimit.Limit(
            "status.complaint",
            tid.strip().upper()[:40],
            settings.status_act_complaint_max,
            settings.status_act_complaint_window_s,
        ),
    ]
    async with request.app[appkeys.POOL].acquire() as conn:
        wait = await ratelimit.take(conn, limits)
    if wait is not None:
        return _too_many(request, wait, "Terlalu banyak percobaan untuk laporan ini atau dari alamat ini.")
    form = await request.post()
    data: dict[str, object] = {k: v for k, v in form.items() if isinstance(v, str)}
    given = data.pop("k", None)
    async with request.app[appkeys.POOL].acquire() as conn:
        row = await store.get_by_tracking(conn, tid)
        if row is None:
            raise NotFound("laporan")
        # the secret first: without it nothing about the request is looked at, so a refusal
        # says no more than the public page does
        if not citizen.secret_matches(row["citizen_secret_hash"], given if isinstance(given, str) else None):
            return _secret_refused(request)
        name = str(data.get("action", ""))
        if name not in CITIZEN_ACTIONS:
            raise InvalidAction("action", "tidak dikenal")
        action = model.parse_action(name, data)
        clock = await store.load_clock(conn)
        await store.act(
            conn,
            row["id"],
            action,
            citizen.by_secret(auth.client_ip(request)),
            clock=clock,
            limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS]),
        )
    raise web.HTTPSeeOther(location=citizen.status_path(row["tracking_id"], str(given)))


@auth.public
async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC_DIR / name)


def setup(app: web.Application) -> None:
    """Mount the complaint pages and Open311 on the web app."""
    pages.add_templates(app, "complaints", TEMPLATE_DIR)
    r = app.router
    g = _guarded
    r.add_get("/pengaduan", g(verification_queue))
    r.add_get("/pengaduan/opd", g(opd_inbox))
    r.add_get("/pengaduan/foto/{id}", g(photo))
    r.add_post("/pengaduan/teguran", g(teguran_issue))
    r.add_post("/pengaduan/teguran/{id}/dibaca", g(teguran_read))
    r.add_get("/pengaduan/{id}", g(detail))
    r.add_post("/pengaduan/{id}/aksi", g(act))
    r.add_get("/lapor", g(citizen_form))
    r.add_post("/lapor", g(citizen_submit))
    r.add_get("/status", g(status_lookup))
    r.add_get("/status/{tracking}", g(status_page))
    r.add_post("/status/{tracking}", g(status_act))
    r.add_get("/static/complaints/{name}", static_file)
    for prefix in ("/pengaduan", "/lapor", "/status"):
        params.register_error_page(app, prefix, _refusal_page)
    admin_web.setup(app)
    open311_web.add_routes(app)
    app.cleanup_ctx.append(runner.sweeper_ctx)
