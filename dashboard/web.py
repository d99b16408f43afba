"""The leader's decision-support dashboard on the web: the page, each table's CSV and the map's
counts per kecamatan. The dashboard reads dispatch and complaints, so it lives above both."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
from aiohttp import web

from complaints.open311 import now_utc
from core import appkeys, auth, labels, pages, params
from core.roles import Role
from dashboard import READERS, charts, drill, excel, figures, report_pages, tables
from dashboard.definitions import definition
from dashboard.period import CHOICES, Period, today
from dashboard.tables import Table, all_tables, to_csv

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@auth.allow(*READERS)
async def dashboard_page(request: web.Request) -> web.Response:
    """The leader's page: tiles and the first charts on the first screen, then the other charts,
    the map and the tables, all of one period; every query on its own pool connection."""
    now = now_utc()
    period = Period.from_query(request.query, now)
    pool = request.app[appkeys.POOL]
    stale_s = request.app[appkeys.SETTINGS].presence_stale_s
    user = auth.current_user(request)

    async def red_opds() -> list[asyncpg.Record]:
        if user.role is not Role.LEADER:
            return []
        async with pool.acquire() as conn:
            return await conn.fetch(
                """SELECT DISTINCT a.id, a.name FROM complaint c JOIN agency a ON a.id = c.opd_id
                    WHERE c.closed_at IS NULL AND c.stage = 'tindak_lanjut' AND c.due_at <= now() ORDER BY a.name"""
            )

    tiles, drawn, page_tables, opds = await asyncio.gather(
        figures.tiles(pool, now),
        charts.all_charts(pool, period, now),
        all_tables(pool, now, period, presence_stale_s=stale_s),
        red_opds(),
    )
    by_key = {c.key: c for c in drawn}
    query = urlencode(period.query())
    return pages.render(
        request,
        "dashboard/dashboard.html",
        {
            "title": "Dasbor pimpinan",
            "period": period,
            "period_query": query,
            "choices": CHOICES,
            "chosen_days": period.days if period.last == today(now) else None,
            "tiles": tiles,
            "first_charts": [by_key[k] for k in FIRST_SCREEN],
            "more_charts": [c for c in drawn if c.key not in FIRST_SCREEN],
            "map_definition": definition("peta_wilayah"),
            "tables": page_tables,
            "red_opds": opds,
        },
    )


# the two charts beside the tiles on the first screen
FIRST_SCREEN = ("grafik_kedaruratan_harian", "grafik_merah_harian")


@auth.allow(*READERS)
async def chart_svg(request: web.Request) -> web.Response:
    """One chart alone (reports, the benchmark, a saved picture): ``/dasbor/grafik/<name>.svg``."""
    name = request.match_info["name"]
    if name not in charts.CHART_NAMES:
        raise web.HTTPNotFound()
    now = now_utc()
    period = Period.from_query(request.query, now)
    drawn = await charts.chart(request.app[appkeys.POOL], name, period, now)
    return web.Response(text=drawn.svg, content_type="image/svg+xml", charset="utf-8")


@auth.allow(*READERS)
async def areas_json(request: web.Request) -> web.Response:
    """{area code: {nama, pengaduan, kedaruratan}} per kecamatan or desa for the map."""
    level = request.query.get("tingkat", "kecamatan")
    if level not in ("kecamatan", "desa"):
        raise params.BadParam("tingkat", "tingkat: pilih kecamatan atau desa")
    period = Period.from_query(request.query, now_utc())
    return web.json_response(await charts.per_area(request.app[appkeys.POOL], period, level))


async def _requested_table(request: web.Request) -> Table:
    """The table ``{table}`` of the URL, as its CSV and its Excel file both write it."""
    name = request.match_info["table"]
    now = now_utc()
    stale_s = request.app[appkeys.SETTINGS].presence_stale_s
    makers = tables.makers(Period.from_query(request.query, now), now, stale_s, page=False)
    if name not in makers:
        raise web.HTTPNotFound()
    async with request.app[appkeys.POOL].acquire() as conn:
        return await makers[name](conn)


@auth.allow(*READERS)
async def dashboard_csv(request: web.Request) -> web.Response:
    table = await _requested_table(request)
    resp = web.Response(text=to_csv(table), content_type="text/csv", charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="siaga-{table.name}.csv"'
    return resp


def _excel_header(column: str) -> str:
    # every column of the CSV, each in words; a key column without words keeps its CSV name
    words = labels.label("column", column)
    return column if words == "—" else words


@auth.allow(*READERS)
async def dashboard_xlsx(request: web.Request) -> web.Response:
    """The same columns and rows as the CSV, as an Excel sheet (instants in WIB)."""
    table = await _requested_table(request)
    data = excel.workbook(table.title, [_excel_header(c) for c in table.columns], table.rows)
    resp = web.Response(body=data, content_type=excel.CONTENT_TYPE)
    resp.headers["Content-Disposition"] = f'attachment; filename="siaga-{table.name}.xlsx"'
    return resp


@auth.allow(*READERS)
async def kecamatan_json(request: web.Request) -> web.Response:
    """{kecamatan code: counts} for the choropleth."""
    now = now_utc()
    async with request.app[appkeys.POOL].acquire() as conn:
        table = await tables.by_kecamatan(conn, Period.from_query(request.query, now))
    data = {r[0]: {"nama": r[1], "pengaduan": r[2], "terbuka": r[3], "kedaruratan": r[4]} for r in table.rows if r[0]}
    return web.json_response(data)


def _refusal_page(request: web.Request, err: params.BadParam) -> web.Response:
    return pages.refusal_page(request, err.message, status=err.status)


_guarded = pages.answering({params.BadParam: _refusal_page})


def setup(app: web.Application) -> None:
    """Mount the dashboard's pages on the web app."""
    pages.add_templates(app, "dashboard", TEMPLATE_DIR)
    params.register_error_page(app, "/dasbor", _refusal_page)
    g = _guarded
    app.router.add_get("/dasbor", g(dashboard_page))
    app.router.add_get("/dasbor/kecamatan.json", g(kecamatan_json))
    app.router.add_get("/dasbor/wilayah.json", g(areas_json))
    app.router.add_get("/dasbor/grafik/{name}.svg", g(chart_svg))
    app.router.add_get("/dasbor/{table}.csv", g(dashboard_csv))
    drill.add_routes(app, g)
    app.router.add_get("/dasbor/{table}.xlsx", g(dashboard_xlsx))
    report_pages.setup(app, g)
    app.router.add_get("/static/dashboard/{path:.+}", pages.serve_static(STATIC_DIR))
