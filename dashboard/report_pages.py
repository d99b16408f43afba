"""The kept reports on the web: the list (``/dasbor/laporan``), making one now, the PDF download.

The leader and the admin see every report and may make one; an OPD officer sees and downloads
the reports of their own OPD only (another OPD's report answers 404, as if it did not exist).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from complaints.open311 import now_utc
from core import appkeys, auth, pages, params
from core.roles import Role
from dashboard import READERS, reports
from dashboard.period import week_before

KIND_CHOICES = (("bupati", "Laporan Bupati (seluruh kabupaten)"), ("opd", "Laporan satu OPD"))


def _own_opd(user: auth.User) -> int | None:
    """The OPD whose reports the user is limited to (None: all reports)."""
    if user.role is Role.OPD_OFFICER:
        if user.agency_id is None:
            raise web.HTTPForbidden(text="Akun ini belum terhubung ke OPD.")
        return user.agency_id
    return None


@auth.allow(*READERS, Role.OPD_OFFICER)
async def report_list(request: web.Request) -> web.Response:
    user = auth.current_user(request)
    own = _own_opd(user)
    now = now_utc()
    async with request.app[appkeys.POOL].acquire() as conn:
        made = await reports.list_reports(conn, opd_id=own)
        opds = await reports.opds(conn) if own is None else []
    week = week_before(now)
    return pages.render(
        request,
        "dashboard/laporan.html",
        {
            "title": "Laporan mingguan",
            "reports": made,
            "may_make": own is None,
            "opds": opds,
            "kinds": KIND_CHOICES,
            "week": week,
            "made": request.query.get("dibuat", ""),
        },
    )


@auth.allow(*READERS)
async def report_make(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if isinstance(v, str)}
    kind = form.get("jenis", "")
    if kind not in reports.KINDS:
        raise params.BadParam("jenis", "jenis: pilih laporan Bupati atau laporan OPD")
    now = now_utc()
    period = reports.period_of_form(form, now)
    opd_id = None
    pool = request.app[appkeys.POOL]
    if kind == "opd":
        opd_id = params.reference(form.get("opd", ""), "opd")
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM agency WHERE id = $1 AND kind = 'opd')", opd_id):
                raise params.BadParam("opd", "opd: OPD tidak ditemukan")
    user = auth.current_user(request)
    report_id = await reports.generate(pool, kind, period, user.actor(auth.client_ip(request)), opd_id=opd_id, now=now)
    raise web.HTTPSeeOther(location=f"/dasbor/laporan?dibuat={report_id}#laporan-{report_id}")


@auth.allow(*READERS, Role.OPD_OFFICER)
async def report_pdf(request: web.Request) -> web.Response:
    own = _own_opd(auth.current_user(request))
    report_id = params.as_id(request.match_info["id"])
    if report_id is None:
        raise web.HTTPNotFound(text="Laporan tidak ditemukan.")
    async with request.app[appkeys.POOL].acquire() as conn:
        found = await reports.get_report(conn, report_id)
    if found is None or (own is not None and found[0].opd_id != own):
        raise web.HTTPNotFound(text="Laporan tidak ditemukan.")
    made, pdf = found
    resp = web.Response(body=pdf, content_type="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{made.filename()}"'
    return resp


def setup(app: web.Application, guard: Callable[..., object]) -> None:
    """Mount the report pages (``guard``: the dashboard's refusal-page wrapper)."""
    app.router.add_get("/dasbor/laporan", guard(report_list))  # type: ignore[arg-type]
    app.router.add_post("/dasbor/laporan", guard(report_make))  # type: ignore[arg-type]
    app.router.add_get("/dasbor/laporan/{id}.pdf", guard(report_pdf))  # type: ignore[arg-type]
