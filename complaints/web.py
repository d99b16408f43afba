"""The complaint desk, the citizen's pages and Open311, mounted by ``setup(app)``.

Pages are server-rendered HTML in Bahasa Indonesia; every dynamic value goes through
:func:`e` (``html.escape``). Times are shown in WIB, stored in UTC. Access rules are core.auth's:
verification staff work the queue, an OPD officer sees the inbox of their own OPD, a leader reads
and issues teguran; citizens use the public form and the status page: the tracking id shows the
public status, the complaint's secret (complaints/citizen.py) lets the reporter act.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import asyncpg
from aiohttp import web

from complaints import citizen, dashboard, model, open311_web, runner, store
from complaints.clock import WIB, Colour, colour_at
from complaints.model import (
    LABEL,
    Actor,
    ComplaintError,
    Forbidden,
    InvalidAction,
    InvalidTransition,
    Kind,
    NotFound,
    SlaLimits,
    Status,
)
from core import appkeys, auth, params, ratelimit
from core.roles import Role

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STAFF = (Role.COMPLAINT_STAFF, Role.ADMIN)
DESK_READERS = (Role.COMPLAINT_STAFF, Role.ADMIN, Role.OPD_OFFICER, Role.LEADER, Role.COMMAND_CENTRE)
COLOUR_LABEL = {Colour.GREEN: "Hijau", Colour.YELLOW: "Kuning", Colour.RED: "Merah"}
ACTION_LABEL = {
    "create": "Laporan masuk",
    "dispose": "Didisposisikan",
    "hold": "Ditunda, pelapor diminta melengkapi",
    "resume": "Pelapor melengkapi",
    "not_authority": "Bukan kewenangan Pemkab",
    "archive": "Diarsipkan",
    "follow_up": "Ditindaklanjuti OPD",
    "return": "Dikembalikan OPD (bukan kewenangannya)",
    "accept": "Pelapor menerima tindak lanjut",
    "dispute": "Pelapor menyanggah tindak lanjut",
    "auto_close": "Ditutup otomatis (tidak ada tanggapan)",
    "red": "Kode merah (melewati batas waktu)",
    "escalate_sekda": "Dilaporkan ke Sekda",
    "teguran": "Teguran pimpinan",
}


def e(value: object) -> str:
    """Escaped text for HTML content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def wib(t: datetime | None) -> str:
    return t.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB") if t is not None else "—"


def actor_of(user: auth.User) -> Actor:
    return Actor(role=user.role.value, user_id=user.id, name=user.username, agency_id=user.agency_id)


# --- layout ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{background:#0b3d5c;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none;margin-right:.8rem}header h1{font-size:1.1rem;margin:0 1rem 0 0}
main{padding:1rem;max-width:1200px;margin:auto}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde3ea;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#e9eef3}.c-hijau{background:#d9f2dc}.c-kuning{background:#fff3c4}.c-merah{background:#f9d0cf}
.badge{padding:.1rem .4rem;border-radius:.3rem;font-weight:600}.box{background:#fff;padding:1rem;margin:.8rem 0;
border:1px solid #dde3ea}label{display:block;margin:.4rem 0}textarea{width:100%;min-height:6rem}
input[type=text],input:not([type]),select{min-width:18rem}.err{color:#a40000;font-weight:600}
.muted{color:#5b6b7a}form.inline{display:inline}#peta{height:320px;margin:.5rem 0}.pre{white-space:pre-wrap}
"""


def page(title: str, body: str, *, user: auth.User | None = None, status: int = 200, head: str = "") -> web.Response:
    nav = ""
    if user is not None:
        links = []
        if user.role in STAFF:
            links.append('<a href="/pengaduan">Antrian verifikasi</a>')
        if user.role == Role.OPD_OFFICER:
            links.append('<a href="/pengaduan/opd">Kotak masuk OPD</a>')
        if user.role in (Role.LEADER, Role.ADMIN):
            links.append('<a href="/dasbor">Dasbor</a>')
        if user.role in (Role.SUPERVISOR, Role.ADMIN, Role.COMMAND_CENTRE, Role.LEADER, Role.OPERATOR):
            links.append('<a href="/piket">Piket</a>')
        if user.role == Role.ADMIN:
            links.append('<a href="/pengaduan/admin">Pengaturan</a>')
        nav = " ".join(links) + f' <span class="muted">{e(user.username)} ({e(user.role.value)})</span>'
    text = f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} — SIAGA Wonosobo</title><style>{_CSS}</style>{head}</head>
<body><header><h1>SIAGA · Pengaduan</h1>{nav}</header><main><h2>{e(title)}</h2>
{body}</main></body></html>"""
    # no-store, framing and the one page policy: siaga.webapp._security_headers
    return web.Response(text=text, content_type="text/html", status=status)


def _csrf(request: web.Request) -> str:
    session = request.get(auth.SESSION)
    token = session.csrf_token if session is not None else ""
    return f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{e(token)}">'


def _colour_cell(row: asyncpg.Record, now: datetime) -> str:
    if not row["stage"]:
        return "<td></td>"
    c = colour_at(now, row["yellow_at"], row["due_at"])
    return f'<td class="c-{c.value}"><span class="badge">{COLOUR_LABEL[c]}</span></td>'


def _now() -> datetime:
    return open311_web.open311.now_utc()


def _error_page(request: web.Request, err: ComplaintError) -> web.Response:
    status = {Forbidden: 403, InvalidTransition: 409, NotFound: 404}.get(type(err), 400)
    user = auth.optional_user(request)
    text = {
        403: "Anda tidak berwenang melakukan ini.",
        404: "Tidak ditemukan.",
        409: "Tindakan ini tidak berlaku untuk status laporan sekarang.",
    }.get(status, "Isian tidak sah.")
    detail = f"<p class='err'>{e(text)}</p>"
    if isinstance(err, InvalidAction):
        detail += f"<p>{e(err)}</p>"
    return page("Gagal", detail + '<p><a href="/">Kembali</a></p>', user=user, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal_page(request: web.Request, err: params.BadParam) -> web.Response:
    """A parameter refused by core.params, as this module's error page."""
    detail = f"<p class='err'>{e(err.message)}</p>"
    return page("Gagal", detail + '<p><a href="/">Kembali</a></p>', user=auth.optional_user(request), status=err.status)


def _guarded(handler: Handler) -> Handler:
    """Translate the complaint errors into pages (the access rule stays on the handler)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ComplaintError as err:
            return _error_page(request, err)
        except params.BadParam as err:  # core.params' guard does the same; this keeps the page without it
            return _refusal_page(request, err)

    for attr in ("__siaga_access__", "__siaga_api__"):
        if hasattr(handler, attr):
            setattr(wrapped, attr, getattr(handler, attr))
    wrapped.__name__ = handler.__name__
    return wrapped


def _int(value: str, what: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise NotFound(what) from None
    if not 0 < n < 2**63:
        raise NotFound(what)
    return n


def _table(headers: Iterable[str], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f"<p class='muted'>{e(empty)}</p>"
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _queue_rows(rows: Iterable[asyncpg.Record], now: datetime, *, show_opd: bool) -> list[str]:
    out = []
    for r in rows:
        opd = f"<td>{e(r['opd_short_name'] or r['opd_name'] or '')}</td>" if show_opd else ""
        out.append(
            f"<tr><td><a href='/pengaduan/{r['id']}'>{e(r['tracking_id'])}</a></td>"
            f"<td>{e(wib(r['received_at']))}</td><td>{e(LABEL.get(r['kind'], r['kind']))}</td>"
            f"<td>{e(r['title'] or r['description'][:80])}</td><td>{e(r['category_name'] or '')}</td>"
            f"<td>{e(r['kecamatan_name'] or '')}</td>{opd}<td>{e(LABEL[Status(r['status'])])}</td>"
            f"{_colour_cell(r, now)}<td>{e(wib(r['due_at']))}</td></tr>"
        )
    return out


# --- the desk ------------------------------------------------------------------------------------------


@auth.allow(*STAFF)
async def verification_queue(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await store.verification_queue(conn)
    now = _now()
    table = _table(
        ["Nomor", "Masuk", "Jenis", "Judul", "Kategori", "Kecamatan", "Status", "Warna", "Batas waktu"],
        _queue_rows(rows, now, show_opd=False),
        "Tidak ada laporan yang menunggu verifikasi.",
    )
    return page("Antrian verifikasi", table, user=auth.current_user(request))


@auth.allow(Role.OPD_OFFICER)
async def opd_inbox(request: web.Request) -> web.Response:
    user = auth.current_user(request)
    if user.agency_id is None:
        raise Forbidden("opd_inbox", user.role.value, "akun tidak terikat ke OPD")
    async with request.app[appkeys.POOL].acquire() as conn:
        rows = await store.opd_inbox(conn, user.agency_id)
        teguran = await store.list_teguran(conn, user.agency_id, limit=20)
        opd_name = await conn.fetchval("SELECT name FROM agency WHERE id = $1", user.agency_id)
    now = _now()
    table = _table(
        ["Nomor", "Masuk", "Jenis", "Judul", "Kategori", "Kecamatan", "Status", "Warna", "Batas waktu"],
        _queue_rows(rows, now, show_opd=False),
        "Tidak ada laporan untuk OPD ini.",
    )
    tg = "".join(
        f"<tr><td>{e(wib(t['issued_at']))}</td><td>{e(t['issued_by_name'])}</td><td>{e(t['text'])}</td>"
        f"<td>{e(len(t['complaint_ids']))}</td><td>{'dibaca ' + e(wib(t['read_at'])) if t['read_at'] else ''}"
        + (
            ""
            if t["read_at"]
            else f"<form class='inline' method='post' action='/pengaduan/teguran/{t['id']}/dibaca'>{_csrf(request)}"
            "<button>Tandai dibaca</button></form>"
        )
        + "</td></tr>"
        for t in teguran
    )
    body = f"<p>{e(opd_name)}</p>{table}<h3>Teguran</h3>" + _table(
        ["Tanggal", "Dari", "Isi", "Jumlah laporan", ""], [tg] if tg else [], "Belum ada teguran."
    )
    return page("Kotak masuk OPD", body, user=user)


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


def _disposition_outcome_cells(d: asyncpg.Record) -> str:
    """A disposition row's cells from its deadline on, the same on the full and on an OPD's own view."""
    return (
        f"<td>{e(wib(d['due_at']))}</td><td>{e(wib(d['finished_at']))}</td><td>{e(d['outcome'] or 'berjalan')}</td>"
        f"<td>{e(d['followup_text'] or d['return_reason'] or '')}"
        + (f" <a href='/pengaduan/foto/{d['id']}'>foto</a>" if d["has_photo"] else "")
        + f"</td><td>{'' if d['on_time'] is None else ('ya' if d['on_time'] else 'tidak')}</td></tr>"
    )


async def _own_part(conn: asyncpg.Connection, user: auth.User, row: asyncpg.Record) -> web.Response:
    """What an OPD that no longer holds a complaint still sees: its own dispositions and its own
    entries in the history, nothing of what came after or of other OPDs."""
    assert user.agency_id is not None
    disps = [d for d in await store.dispositions(conn, row["id"]) if d["opd_id"] == user.agency_id]
    hist = await store.history_by_agency(conn, row["id"], user.agency_id)
    body = (
        "<p class='muted'>Laporan ini tidak lagi didisposisikan ke OPD Anda; yang tampil hanya bagian OPD Anda.</p>"
        f"<table><tr><th>Nomor</th><td>{e(row['tracking_id'])}</td></tr></table>"
        "<h3>Disposisi ke OPD Anda</h3>"
        + _table(
            ["Ke", "Didisposisikan", "Pesan disposisi", "Batas", "Selesai", "Hasil", "Catatan", "Tepat waktu"],
            [
                f"<tr><td>{d['round']}</td><td>{e(wib(d['disposed_at']))}</td><td class='pre'>{e(d['note'])}</td>"
                + _disposition_outcome_cells(d)
                for d in disps
            ],
            "—",
        )
        + "<h3>Riwayat oleh OPD Anda</h3>"
        + _table(
            ["Waktu", "Kejadian", "Oleh", "Catatan"],
            [
                f"<tr><td>{e(wib(h['at']))}</td><td>{e(ACTION_LABEL.get(h['action'], h['action']))}</td>"
                f"<td>{e(h['actor_name'])}</td><td class='pre'>{e(h['note'])}</td></tr>"
                for h in hist
            ],
            "—",
        )
    )
    return page(f"Laporan {row['tracking_id']}", body, user=user)


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
            return await _own_part(conn, user, row)
        hist = await store.history(conn, cid)
        disps = await store.dispositions(conn, cid)
        reporter: dict[str, Any] | None = None
        if model.may_see_reporter_contact(actor):
            reporter = await store.reporter_identity(conn, cid, actor, client_ip=auth.client_ip(request))
        opds = await conn.fetch("SELECT id, name FROM agency WHERE kind = 'opd' AND active ORDER BY name")
        cats = await store.list_categories(conn)
    now = _now()
    state = store.state_of(row)
    allowed = model.allowed_actions(state, actor)
    colour = colour_at(now, row["yellow_at"], row["due_at"]) if row["stage"] else None

    if reporter is not None:
        who = (
            f"{e(reporter['reporter_name'] or '(tanpa nama)')} · {e(reporter['reporter_phone'] or '')} "
            f"{e(reporter['reporter_email'] or '')}" + (" · <b>anonim</b>" if row["anonim"] else "")
        )
    elif model.may_see_reporter_name(actor, row["anonim"]):
        who = e(row["reporter_name"] or "(tanpa nama)")
    else:
        who = "<i>disembunyikan</i>"
    facts = [
        ("Nomor", e(row["tracking_id"])),
        ("Jenis", e(LABEL.get(row["kind"], row["kind"]))),
        ("Saluran", e(row["channel"])),
        ("Status", e(LABEL[Status(row["status"])])),
        ("Kategori", e(row["category_name"] or "—")),
        ("OPD", e(row["opd_name"] or "—")),
        (
            "Lokasi",
            e(", ".join(x for x in (row["address"], row["desa_name"], row["kecamatan_name"]) if x) or "—")
            + (f" ({row['lat']:.5f}, {row['lon']:.5f})" if row["lat"] is not None else ""),
        ),
        ("Pelapor", who),
        ("Privasi", e(", ".join(p for p, on in (("anonim", row["anonim"]), ("rahasia", row["rahasia"])) if on) or "—")),
        ("Masuk", e(wib(row["received_at"]))),
        (
            "Batas waktu tahap ini",
            e(wib(row["due_at"]))
            + (f" <span class='badge c-{colour.value}'>{COLOUR_LABEL[colour]}</span>" if colour else ""),
        ),
        ("Dikembalikan OPD", e(row["bounce_count"])),
    ]
    if row["incident_id"]:
        facts.append(("Insiden asal", e(row["incident_id"])))
    fact_html = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    body = f"<table>{fact_html}</table>"
    body += f"<div class='box'><b id='judul'>{e(row['title'])}</b><p class='pre'>{e(row['description'])}</p></div>"

    body += "<h3>Disposisi</h3>" + _table(
        ["Ke", "OPD", "Didisposisikan", "Batas", "Selesai", "Hasil", "Catatan", "Tepat waktu"],
        [
            f"<tr><td>{d['round']}</td><td>{e(d['opd_name'])}</td><td>{e(wib(d['disposed_at']))}</td>"
            + _disposition_outcome_cells(d)
            for d in disps
        ],
        "Belum didisposisikan.",
    )
    body += "<h3>Riwayat</h3>" + _table(
        ["Waktu", "Kejadian", "Oleh", "Catatan"],
        [
            f"<tr><td>{e(wib(h['at']))}</td><td>{e(ACTION_LABEL.get(h['action'], h['action']))}</td>"
            f"<td>{e(h['actor_name'])} <span class='muted'>({e(h['actor_role'])})</span></td>"
            f"<td class='pre'>{e(h['note'])}</td></tr>"
            for h in hist
        ],
        "—",
    )
    body += _action_forms(request, cid, allowed, opds, cats, row)
    return page(f"Laporan {row['tracking_id']}", body, user=user)


def _options(rows: Iterable[asyncpg.Record], label: str, selected: int | None = None) -> str:
    return "".join(
        f"<option value='{r['id']}'{' selected' if r['id'] == selected else ''}>{e(r[label])}</option>" for r in rows
    )


def _action_forms(
    request: web.Request,
    cid: int,
    allowed: list[str],
    opds: list[asyncpg.Record],
    cats: list[asyncpg.Record],
    row: asyncpg.Record,
) -> str:
    if not allowed:
        return ""
    csrf = _csrf(request)
    url = f"/pengaduan/{cid}/aksi"
    default_opd = None
    for c in cats:
        if c["id"] == row["category_id"]:
            default_opd = c["default_opd_id"]
    forms = []

    def form(action: str, title: str, fields: str, *, multipart: bool = False) -> None:
        enc = " enctype='multipart/form-data'" if multipart else ""
        forms.append(
            f"<form class='box' method='post' action='{url}'{enc}>{csrf}<input type='hidden' name='action' "
            f"value='{action}'><b>{e(title)}</b>{fields}<button type='submit'>{e(title)}</button></form>"
        )

    if "dispose" in allowed:
        form(
            "dispose",
            "Verifikasi dan disposisikan",
            f"<label>OPD tujuan <select name='opd_id' required>{_options(opds, 'name', default_opd)}</select></label>"
            f"<label>Kategori <select name='category_id'><option value=''>—</option>"
            f"{_options(cats, 'name', row['category_id'])}</select></label>"
            "<label>Catatan <input name='note'></label>",
        )
    if "hold" in allowed:
        form(
            "hold",
            "Tunda, minta pelapor melengkapi",
            "<label>Yang perlu dilengkapi <textarea name='reason' required></textarea></label>",
        )
    if "resume" in allowed:
        form(
            "resume",
            "Atas nama pelapor: catat jawabannya",
            "<label>Jawaban <textarea name='note' required></textarea></label>",
        )
    if "not_authority" in allowed:
        form("not_authority", "Bukan kewenangan Pemkab", "<label>Alasan <input name='reason' required></label>")
    if "archive" in allowed:
        form(
            "archive",
            "Arsipkan",
            "<label>Alasan <select name='reason'><option value='spam'>spam</option>"
            "<option value='duplikat'>duplikat</option></select></label>"
            "<label>Duplikat dari (nomor internal) <input name='duplicate_of'></label>",
        )
    if "follow_up" in allowed:
        form(
            "follow_up",
            "Kirim tindak lanjut",
            "<label>Tindak lanjut <textarea name='text' required></textarea></label>"
            "<label>Foto (opsional) <input type='file' name='photo' accept='image/jpeg,image/png'></label>",
            multipart=True,
        )
    if "return" in allowed:
        form("return", "Kembalikan: bukan kewenangan OPD kami", "<label>Alasan <input name='reason' required></label>")
    if "accept" in allowed:
        form("accept", "Atas nama pelapor: menerima", "<label>Catatan (mis. lewat telepon) <input name='note'></label>")
    if "dispute" in allowed:
        form("dispute", "Atas nama pelapor: menyanggah", "<label>Alasan <input name='reason' required></label>")
    return "<h3>Tindakan</h3>" + "".join(forms)


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


# --- admin: categories and cuti bersama ------------------------------------------------------------------


@auth.allow(Role.ADMIN)
async def admin_page(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        cats = await store.list_categories(conn, active_only=False)
        year = _now().astimezone(WIB).year
        leave = await store.list_collective_leave(conn, year) + await store.list_collective_leave(conn, year + 1)
        opds = await conn.fetch("SELECT id, name FROM agency WHERE kind = 'opd' AND active ORDER BY name")
    csrf = _csrf(request)
    cat_rows = [
        f"<tr><td>{e(c['code'])}</td><td>{e(c['name'])}</td><td>{e(c['group_name'])}</td>"
        f"<td>{'aktif' if c['active'] else 'nonaktif'}</td></tr>"
        for c in cats
    ]
    leave_rows = [f"<tr><td>{e(r['day'].strftime('%d-%m-%Y'))}</td><td>{e(r['note'])}</td></tr>" for r in leave]
    body = (
        "<h3>Kategori (layanan Open311)</h3>"
        + _table(["Kode", "Nama", "Kelompok", "Status"], cat_rows, "Belum ada kategori.")
        + f"<form class='box' method='post' action='/pengaduan/admin/kategori'>{csrf}<b>Kategori baru</b>"
        "<label>Kode <input name='code' required pattern='[A-Za-z0-9_.-]{1,64}'></label>"
        "<label>Nama <input name='name' required></label><label>Kelompok <input name='group_name'></label>"
        f"<label>OPD biasa <select name='default_opd_id'><option value=''>—</option>{_options(opds, 'name')}"
        "</select></label><button>Simpan</button></form>"
        "<h3>Cuti bersama</h3>"
        + _table(["Tanggal", "Keterangan"], leave_rows, "Belum ada cuti bersama tahun ini.")
        + f"<form class='box' method='post' action='/pengaduan/admin/cuti'>{csrf}<b>Tambah cuti bersama</b>"
        "<label>Tanggal <input type='date' name='day' required></label>"
        "<label>Keterangan <input name='note'></label><button>Simpan</button></form>"
    )
    return page("Pengaturan pengaduan", body, user=auth.current_user(request))


@auth.allow(Role.ADMIN)
async def admin_category(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    opd = str(form.get("default_opd_id", "") or "")
    opd_id = params.reference(opd, "OPD") if opd else None
    async with request.app[appkeys.POOL].acquire() as conn:
        # checked here: the foreign key would refuse it too, but as a 500
        if opd_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM agency WHERE id = $1 AND kind = 'opd')", opd_id
        ):
            raise InvalidAction("default_opd_id", "OPD itu tidak ada")
        await store.create_category(
            conn,
            str(form.get("code", "")).strip(),
            str(form.get("name", "")).strip()[:200] or "?",
            group_name=str(form.get("group_name", "")).strip()[:200],
            default_opd_id=opd_id,
        )
    raise web.HTTPSeeOther(location="/pengaduan/admin")


@auth.allow(Role.ADMIN)
async def admin_leave(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    day = params.day(form.get("day"), "tanggal")
    user = auth.current_user(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        await store.set_collective_leave(conn, [day], note=str(form.get("note", ""))[:200], actor=actor_of(user))
    # open stages get due dates under the new calendar
    pool = request.app[appkeys.POOL]
    await store.recompute_due(
        pool, await store.load_clock(pool), limits=SlaLimits.from_settings(request.app[appkeys.SETTINGS])
    )
    raise web.HTTPSeeOther(location="/pengaduan/admin")


# --- the citizen's pages --------------------------------------------------------------------------------

_MAP_HEAD = (
    '<link rel="stylesheet" href="/vendor/leaflet/leaflet.css">'
    '<script src="/vendor/leaflet/leaflet.js" defer></script>'
    '<script src="/static/siaga/leaflet-id.js" defer></script>'
    '<script src="/static/complaints/lapor.js" defer></script>'
)


@auth.public
async def citizen_form(request: web.Request) -> web.Response:
    async with request.app[appkeys.POOL].acquire() as conn:
        cats = await store.list_categories(conn)
    kinds = "".join(f"<option value='{k.value}'>{e(LABEL[k])}</option>" for k in Kind)
    body = f"""<form class="box" method="post" action="/lapor">
<label>Jenis <select name="kind">{kinds}</select></label>
<label>Kategori <select name="category_id"><option value="">— pilih —</option>{_options(cats, "name")}</select></label>
<label>Judul <input name="title" maxlength="200"></label>
<label>Isi laporan <textarea name="description" required maxlength="10000"></textarea></label>
<label>Alamat / patokan <input name="address" maxlength="500"></label>
<p class="muted">Klik peta untuk menandai lokasi.</p><div id="peta"></div>
<input type="hidden" name="lat" id="lat"><input type="hidden" name="lon" id="lon">
<label>Nama <input name="reporter_name" maxlength="200"></label>
<label>Nomor HP <input name="reporter_phone" maxlength="40"></label>
<label>Email <input name="reporter_email" type="email" maxlength="254"></label>
<label><input type="checkbox" name="anonim" value="1"> Anonim (identitas tidak ditampilkan ke OPD dan publik)</label>
<label><input type="checkbox" name="rahasia" value="1"> Rahasia (isi tidak ditampilkan ke publik)</label>
<button type="submit">Kirim laporan</button></form>
<p><a href="/status">Cek status laporan</a></p>"""
    return page("Sampaikan laporan", body, head=_MAP_HEAD)


def _opt_float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidAction("lat", "koordinat tidak sah") from None


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


def _too_many(retry_after: float, text: str) -> web.Response:
    minutes = max(1, round(retry_after / 60))
    resp = page(
        "Terlalu banyak permintaan",
        f"<p class='err'>{e(text)}</p><p>Silakan coba lagi dalam {minutes} menit.</p><p><a href='/'>Kembali</a></p>",
        status=429,
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
        return _too_many(wait, "Terlalu banyak laporan dari alamat atau kontak ini.")
    try:
        kind = Kind(text("kind") or "pengaduan")
    except ValueError:
        raise InvalidAction("kind", "jenis tidak dikenal") from None
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
    body = """<form class="box" method="get" action="/status"><label>Nomor laporan
<input name="nomor" required placeholder="WSB-XXXX-XXXX"></label><button>Cek</button></form>"""
    return page("Cek status laporan", body)


# What the history shows anyone with the tracking number: the steps, never their notes.
PUBLIC_ACTIONS = frozenset(
    {"create", "dispose", "hold", "resume", "not_authority", "archive", "follow_up", "accept", "dispute", "auto_close"}
)
# Notes the reporter reads with their secret: what they were asked, and why it was refused.
REPORTER_NOTES = frozenset({"hold", "not_authority"})


def _secret_refused() -> web.Response:
    body = (
        "<p class='err'>Tautan atau kode rahasia tidak cocok dengan laporan ini. Tidak ada yang diubah.</p>"
        "<p>Tindakan atas laporan hanya dengan tautan rahasia yang diberikan saat laporan dikirim. "
        "Kehilangan tautan? Hubungi petugas pengaduan, yang dapat mencatat tanggapan Anda.</p>"
        "<p><a href='/status'>Cek status laporan</a></p>"
    )
    return _citizen_page(page("Tidak diizinkan", body, status=403))


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
        return _secret_refused()
    status = Status(row["status"])
    intro = ""
    if reporter and request.query.get("baru") == "1":
        link = citizen.status_path(row["tracking_id"], given or "")
        intro = (
            f"<div class='box'><p>Laporan Anda diterima. Nomor laporan: <b id='nomor'>{e(row['tracking_id'])}</b></p>"
            f"<p>Simpan tautan rahasia ini: hanya dengan tautan ini Anda dapat menanggapi laporan. "
            f"Jangan bagikan kepada siapa pun.</p><p><a id='tautan' href='{e(link)}'>{e(link)}</a></p>"
            f"<p class='muted'>Kode rahasia: <b id='kode'>{e(given)}</b></p></div>"
        )
    body = intro + (
        f"<table><tr><th>Nomor</th><td>{e(row['tracking_id'])}</td></tr>"
        f"<tr><th>Status</th><td>{e(LABEL[status])}</td></tr>"
        f"<tr><th>Kategori</th><td>{e(row['category_name'] or '—')}</td></tr>"
        f"<tr><th>Kecamatan</th><td>{e(row['kecamatan_name'] or '—')}</td></tr>"
        f"<tr><th>Ditangani</th><td>{e(row['opd_name'] or '—')}</td></tr>"
        f"<tr><th>Masuk</th><td>{e(wib(row['received_at']))}</td></tr>"
        f"<tr><th>Batas waktu tahap ini</th><td>{e(wib(row['due_at']))}</td></tr></table>"
    )
    if reporter or model.public_text_visible(row["rahasia"], row["anonim"]):
        body += f"<div class='box'><b id='judul'>{e(row['title'])}</b><p class='pre'>{e(row['description'])}</p></div>"
    latest = next((d for d in reversed(disps) if d["outcome"] == "followed_up"), None)
    if reporter and latest is not None:
        body += f"<h3>Tindak lanjut</h3><div class='box pre'>{e(latest['followup_text'])}</div>"
    body += "<h3>Perjalanan laporan</h3>" + _table(
        ["Waktu", "Kejadian", "Keterangan"],
        [
            f"<tr><td>{e(wib(h['at']))}</td><td>{e(ACTION_LABEL.get(h['action'], h['action']))}</td>"
            f"<td class='pre'>{e(h['note'] if reporter and h['action'] in REPORTER_NOTES else '')}</td></tr>"
            for h in hist
            if h["action"] in PUBLIC_ACTIONS
        ],
        "—",
    )
    url = f"/status/{e(quote(row['tracking_id'], safe=''))}"
    if not reporter:
        if status in (Status.TUNDA, Status.TINDAK_LANJUT):
            body += (
                f"<form class='box' method='get' action='{url}'><p>Pelapor dapat menanggapi laporan ini dengan "
                "tautan rahasia yang diberikan saat laporan dikirim, atau dengan kodenya:</p>"
                f"<label>Kode rahasia <input name='k' required autocomplete='off'></label>"
                "<button>Buka</button></form>"
            )
        return _citizen_page(page(f"Status laporan {row['tracking_id']}", body))
    key = f"<input type='hidden' name='k' value='{e(given)}'>"
    if status == Status.TUNDA:
        body += (
            f"<form class='box' method='post' action='{url}'>{key}<input type='hidden' name='action' value='resume'>"
            "<label>Lengkapi laporan <textarea name='note' required></textarea></label>"
            "<button>Kirim</button></form>"
        )
    if status == Status.TINDAK_LANJUT:
        body += (
            f"<form class='box' method='post' action='{url}'>{key}<input type='hidden' name='action' value='accept'>"
            "<button>Saya menerima tindak lanjut ini</button></form>"
            f"<form class='box' method='post' action='{url}'>{key}<input type='hidden' name='action' value='dispute'>"
            "<label>Belum selesai? Jelaskan <textarea name='reason' required></textarea></label>"
            "<button>Sanggah</button></form>"
        )
    return _citizen_page(page(f"Status laporan {row['tracking_id']}", body))


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
        return _too_many(wait, "Terlalu banyak percobaan untuk laporan ini atau dari alamat ini.")
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
            return _secret_refused()
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
    if name not in ("lapor.js", "dasbor.js"):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC_DIR / name)


def setup(app: web.Application) -> None:
    """Mount the complaint pages, the leader's dashboard and Open311 on the web app."""
    r = app.router
    g = _guarded
    r.add_get("/pengaduan", g(verification_queue))
    r.add_get("/pengaduan/opd", g(opd_inbox))
    r.add_get("/pengaduan/admin", g(admin_page))
    r.add_post("/pengaduan/admin/kategori", g(admin_category))
    r.add_post("/pengaduan/admin/cuti", g(admin_leave))
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
    for prefix in ("/pengaduan", "/lapor", "/status", "/dasbor"):
        params.register_error_page(app, prefix, _refusal_page)
    dashboard.add_routes(app, g)
    open311_web.add_routes(app)
    app.cleanup_ctx.append(runner.sweeper_ctx)
