"""The weekly reports as PDF: the regent's (the tiles, the charts, the OPD league table and the
whole red list) and one per OPD (its own SLA row, its red list, its complaint charts).

A report is an HTML print document (``templates/report.html``) that WeasyPrint lays out on A4 in
a worker thread, so the event loop keeps serving while a PDF is drawn. Each PDF is kept as made
(``dashboard_report``, migration 0015): what the leader read on Monday stays readable as it was.

The schedule (:func:`run_report_schedule`) runs with the dispatch role and makes the last week's
reports every Monday 07:00 WIB. Several dispatch processes may run: one makes the reports at a
time (an advisory lock) and a week's scheduled report is stored once (a unique index), so a second
process that raced the first finds the rows there and stores nothing. A process that was down at
07:00 makes the missed week's reports when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import jinja2
from markupsafe import Markup

from core import audit, labels
from core.db import TRANSIENT_ERRORS
from core.settings import Settings
from dashboard import charts as dashboard_charts
from dashboard import figures
from dashboard.definitions import Definition, definition
from dashboard.period import Period, today, week_before, wib_day_start
from dashboard.tables import Table, opd_compliance, red_list

log = logging.getLogger(__name__)

KINDS = ("bupati", "opd")
KIND_WORDS = {"bupati": "Laporan mingguan Bupati", "opd": "Laporan mingguan OPD"}
TEMPLATE_DIR = Path(__file__).parent / "templates"
# Monday 07:00 WIB: the regent reads last week's report at the start of the working week
DUE_WEEKDAY = 0
DUE_HOUR = 7
# Any constant works; it only has to be the same for every SIAGA process (gateway/retention.py
# holds 0x51A6B).
_REPORT_LOCK = 0x51A6C
_NETWORK_ERRORS = TRANSIENT_ERRORS


class ReportChart(Protocol):
    """A chart as ``dashboard.charts.for_report`` gives it: pygal's SVG rendered on the server."""

    key: str
    title: str
    svg: str
    definition: Any  # a Definition, or its words


ChartSource = Callable[..., Awaitable[Sequence[ReportChart]]]
TileSource = Callable[[asyncpg.Pool, datetime], Awaitable[list[figures.Tile]]]


@dataclass(frozen=True)
class Made:
    """One stored report, as the list page shows it (the PDF itself stays in the database)."""

    id: int
    kind: str
    opd_id: int | None
    opd_name: str | None
    first: date
    last: date
    scheduled: bool
    created_at: datetime
    created_by: str | None
    size: int
    pages: int

    @property
    def period(self) -> Period:
        return Period(self.first, self.last)

    def title(self) -> str:
        return KIND_WORDS[self.kind] + (f" — {self.opd_name}" if self.opd_name else "")

    def filename(self) -> str:
        """``laporan-bupati-2026-11-30.pdf``, ``laporan-opd-dinas-pupr-2026-11-30.pdf``."""
        who = "bupati" if self.kind == "bupati" else "opd-" + _slug(self.opd_name or str(self.opd_id))
        return f"laporan-{who}-{self.first.isoformat()}.pdf"

    def size_words(self) -> str:
        if self.size < 1024 * 1024:
            return f"{max(1, round(self.size / 1024))} KB"
        return f"{self.size / (1024 * 1024):.1f} MB".replace(".", ",")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "opd"


_LIST = """SELECT r.id, r.kind, r.opd_id, a.name AS opd_name, r.first_day, r.last_day, r.scheduled,
                  r.created_at, coalesce(u.full_name, u.username) AS created_by, r.size, r.pages
             FROM dashboard_report r
             LEFT JOIN agency a ON a.id = r.opd_id
             LEFT JOIN app_user u ON u.id = r.created_by"""


def _made(r: asyncpg.Record) -> Made:
    return Made(
        r["id"],
        r["kind"],
        r["opd_id"],
        r["opd_name"],
        r["first_day"],
        r["last_day"],
        r["scheduled"],
        r["created_at"],
        r["created_by"],
        r["size"],
        r["pages"],
    )


async def list_reports(conn: asyncpg.Connection, *, opd_id: int | None = None, limit: int = 200) -> list[Made]:
    """Kept reports, newest first; with ``opd_id`` only that OPD's own."""
    rows = await conn.fetch(
        _LIST + " WHERE ($1::bigint IS NULL OR r.opd_id = $1) ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
        opd_id,
        limit,
    )
    return [_made(r) for r in rows]


async def get_report(conn: asyncpg.Connection, report_id: int) -> tuple[Made, bytes] | None:
    row = await conn.fetchrow(_LIST.replace("r.pages", "r.pages, r.pdf") + " WHERE r.id = $1", report_id)
    return None if row is None else (_made(row), bytes(row["pdf"]))


async def opds(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The OPDs a report can be made for (and the schedule makes one for each)."""
    return await conn.fetch("SELECT id, name FROM agency WHERE kind = 'opd' AND active ORDER BY name")


# --- the document ---------------------------------------------------------------------------------


# A red list longer than this is printed one line per complaint instead of as a table: WeasyPrint
# lays a table out at about 7 ms of CPU per row, lines of monospaced text at under 2 ms, and the
# regent's report has to be ready in seconds even when thousands are red. Every row is printed.
TABLE_ROWS_MAX = 300


@dataclass(frozen=True)
class Section:
    """A table of the report: its title, its definition, the headers and cells as people read them;
    ``lines``, when given, are the same rows as fixed-width text lines under ``headers`` (a long
    list, see :data:`TABLE_ROWS_MAX`)."""

    title: str
    definition: str
    headers: list[str]
    rows: list[list[str]]
    empty: str
    lines: list[str] | None = None


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["wib"] = labels.wib
    return env


_ENV = _env()


# pygal names its legend's toggles activate-serie-0, -1, ... in every chart, for its browser script;
# a PDF has no script, and several charts on one page would define each anchor twice
_SCRIPT_IDS = re.compile(r'\s+id="activate-serie-\d+"')


def _printable(svg: str) -> Markup:
    # pygal escapes the text it draws (titles, labels) and the SVG is made on the server from our rows
    return Markup(_SCRIPT_IDS.sub("", svg))


def _words(d: Any) -> str:
    if isinstance(d, Definition):
        return d.counts
    return "" if d is None else str(getattr(d, "counts", d))


def _section(table: Table, key: str, empty: str, rows: list[list[Any]] | None = None) -> Section:
    d = definition(key)
    shown = [i for i, c in enumerate(table.columns) if c not in table.hidden]
    source = (table.page_rows or table.rows) if rows is None else rows
    return Section(d.title, d.counts, table.headers(), [[labels.cell(r[i]) for i in shown] for r in source], empty)


def _league(table: Table, opd_id: int | None) -> Section:
    rows = table.rows if opd_id is None else [r for r in table.rows if r[1] == opd_id]
    return _section(table, "tabel.opd", "Belum ada disposisi pada periode ini.", rows)


async def _red(conn: asyncpg.Connection, now: datetime, opd_id: int | None, table_rows: int) -> Section:
    table = await red_list(conn, now, limit=1_000_000)  # the whole list: a report leaves none out
    rows = table.rows
    if opd_id is not None:
        mine = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM complaint WHERE id = ANY($1::bigint[]) AND opd_id = $2", [r[0] for r in rows], opd_id
            )
        }
        rows = [r for r in rows if r[0] in mine]
    section = _section(table, "tabel.merah", "Tidak ada laporan berkode merah.", rows)
    if len(rows) <= table_rows:
        return section
    short = {r["name"]: r["short_name"] for r in await conn.fetch("SELECT name, short_name FROM agency")}
    return _lines(section, rows, short)


def _fit(text: str, width: int) -> str:
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


def _lines(section: Section, rows: list[list[Any]], short: dict[str, str | None]) -> Section:
    """The red list one complaint a line (number, OPD, kecamatan, due, told the head / the Sekda);
    the titles are in the dashboard's red list and its CSV and Excel files."""
    number_w = max(len("Nomor"), *(len(r[1]) for r in rows))
    head = f"{_fit('Nomor', number_w)}  {_fit('OPD', 22)}  {_fit('Kecamatan', 16)}  {_fit('Batas waktu', 20)}  "
    head += "Kepala OPD  Sekda"
    out = []
    for r in rows:
        opd = short.get(r[2]) or r[2]
        due = labels.wib(r[5])
        out.append(
            f"{_fit(r[1], number_w)}  {_fit(opd, 22)}  {_fit(r[4] or '—', 16)}  {_fit(due, 20)}  "
            f"{_fit(r[6] or '—', 10)}  {r[7] or '—'}"
        )
    return Section(
        section.title,
        section.definition + f" {len(rows)} laporan, satu baris per laporan; judulnya ada di daftar kode merah dasbor.",
        [head],
        [],
        section.empty,
        lines=out,
    )


async def render_html(
    pool: asyncpg.Pool,
    kind: str,
    period: Period,
    now: datetime,
    *,
    opd_id: int | None = None,
    charts: ChartSource = dashboard_charts.for_report,
    tiles: TileSource = figures.tiles,
    red_table_rows: int = TABLE_ROWS_MAX,
) -> str:
    """The report as an HTML print document (what :func:`generate` hands to WeasyPrint); a red
    list longer than ``red_table_rows`` is printed a line per complaint."""
    if kind not in KINDS or (kind == "opd") != (opd_id is not None):
        raise ValueError(f"a {kind!r} report with opd_id={opd_id!r}")
    async with pool.acquire() as conn:
        opd_name = None
        if opd_id is not None:
            opd_name = await conn.fetchval("SELECT name FROM agency WHERE id = $1 AND kind = 'opd'", opd_id)
            if opd_name is None:
                raise ValueError(f"agency {opd_id} is not an OPD")
        league = _league(await opd_compliance(conn, period, now), opd_id)
        red = await _red(conn, now, opd_id, red_table_rows)
    drawn = charts(pool, period, opd_id=opd_id)
    chart_list = list(await drawn)
    tile_list = await tiles(pool, now) if kind == "bupati" else []
    return _ENV.get_template("report.html").render(
        title=KIND_WORDS[kind] + (f" — {opd_name}" if opd_name else ""),
        kind=kind,
        opd_name=opd_name,
        period_words=period.words(),
        created=labels.wib(now),
        tiles=[{"tile": t, "definition": t.definition.counts} for t in tile_list],
        charts=[{"title": c.title, "svg": _printable(c.svg), "definition": _words(c.definition)} for c in chart_list],
        league=league,
        red=red,
    )


def _pdf(html: str) -> tuple[bytes, int]:
    # imported here: WeasyPrint loads Pango on import, which only the processes that draw need
    import weasyprint

    document = weasyprint.HTML(string=html, base_url=str(TEMPLATE_DIR)).render()
    return document.write_pdf(), len(document.pages)


async def build_pdf(
    pool: asyncpg.Pool,
    kind: str,
    period: Period,
    now: datetime,
    *,
    opd_id: int | None = None,
    charts: ChartSource = dashboard_charts.for_report,
    tiles: TileSource = figures.tiles,
    red_table_rows: int = TABLE_ROWS_MAX,
) -> tuple[bytes, int]:
    """The report's PDF and its page count, not kept (:func:`generate` keeps it; the benchmark
    times this)."""
    html = await render_html(
        pool, kind, period, now, opd_id=opd_id, charts=charts, tiles=tiles, red_table_rows=red_table_rows
    )
    return await asyncio.to_thread(_pdf, html)


async def generate(
    pool: asyncpg.Pool,
    kind: str,
    period: Period,
    actor: audit.Actor,
    *,
    opd_id: int | None = None,
    now: datetime | None = None,
    scheduled: bool = False,
    charts: ChartSource = dashboard_charts.for_report,
    tiles: TileSource = figures.tiles,
    red_table_rows: int = TABLE_ROWS_MAX,
) -> int | None:
    """Make one report, keep it and audit it; returns its id. A scheduled report of a week that is
    already kept is not stored again (None): the schedule's once-per-week."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    pdf, pages = await build_pdf(
        pool, kind, period, now, opd_id=opd_id, charts=charts, tiles=tiles, red_table_rows=red_table_rows
    )
    seconds = time.perf_counter() - started
    async with pool.acquire() as conn, conn.transaction():
        report_id = await conn.fetchval(
            """INSERT INTO dashboard_report
                   (kind, opd_id, first_day, last_day, scheduled, created_at, created_by, pdf, size, pages)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (kind, opd_id, first_day) WHERE scheduled DO NOTHING
               RETURNING id""",
            kind,
            opd_id,
            period.first,
            period.last,
            scheduled,
            now,
            None if scheduled else actor.user_id,
            pdf,
            len(pdf),
            pages,
        )
        if report_id is None:
            return None
        await audit.record(
            conn,
            actor,
            "report.generate",
            object_type="report",
            object_id=str(report_id),
            after={
                "kind": kind,
                "opd_id": opd_id,
                "first_day": period.first.isoformat(),
                "last_day": period.last.isoformat(),
                "scheduled": scheduled,
                "bytes": len(pdf),
                "pages": pages,
                "seconds": round(seconds, 2),
            },
        )
    log.info("report %s %s (%s) made: %d pages, %d bytes in %.1fs", kind, opd_id or "", period.words(), pages,
             len(pdf), seconds)  # fmt: skip
    return int(report_id)


# --- the schedule ---------------------------------------------------------------------------------


def last_due(now: datetime) -> datetime:
    """The latest Monday 07:00 WIB at or before ``now``."""
    t = today(now)
    due = wib_day_start(t - timedelta(days=(t.weekday() - DUE_WEEKDAY) % 7)) + timedelta(hours=DUE_HOUR)
    return due if due <= now else due - timedelta(days=7)


def next_due(now: datetime) -> datetime:
    """The first Monday 07:00 WIB after ``now``."""
    return last_due(now) + timedelta(days=7)


async def make_due_reports(
    pool: asyncpg.Pool,
    now: datetime | None = None,
    *,
    charts: ChartSource = dashboard_charts.for_report,
    tiles: TileSource = figures.tiles,
    stop: asyncio.Event | None = None,
) -> list[int]:
    """The reports of the week before the latest Monday 07:00 WIB that are not kept yet: the
    regent's and one per OPD. Returns the ids made (none when another process holds the lock, when
    all are kept, or when SIAGA holds no record from before the week's end: no report of a week
    before there was anything to report)."""
    now = now or datetime.now(UTC)
    period = week_before(last_due(now))
    made: list[int] = []
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _REPORT_LOCK):
            return made
        try:
            first_record = await conn.fetchval(
                """SELECT least((SELECT min(received_at) FROM complaint), (SELECT min(created_at) FROM incident))"""
            )
            if first_record is None or first_record >= period.end:
                return made
            kept = {
                (r["kind"], r["opd_id"])
                for r in await conn.fetch(
                    "SELECT kind, opd_id FROM dashboard_report WHERE scheduled AND first_day = $1", period.first
                )
            }
            wanted = [("bupati", None)] + [("opd", r["id"]) for r in await opds(conn)]
            for kind, opd_id in wanted:
                if (kind, opd_id) in kept or (stop is not None and stop.is_set()):
                    continue
                report_id = await generate(
                    pool,
                    kind,
                    period,
                    audit.SYSTEM,
                    opd_id=opd_id,
                    now=now,
                    scheduled=True,
                    charts=charts,
                    tiles=tiles,
                )
                if report_id is not None:
                    made.append(report_id)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _REPORT_LOCK)
    return made


async def run_report_schedule(
    settings: Settings,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
    *,
    charts: ChartSource = dashboard_charts.for_report,
    tiles: TileSource = figures.tiles,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Make the week's reports every Monday 07:00 WIB (and the missed week's at start) until
    ``stop``. Runs inside the dispatch role, so nothing here may stop it: a lost database is
    retried with capped, jittered backoff, and a report that fails to draw is logged and tried
    again later rather than ending the process that routes emergencies."""
    if not settings.report_schedule:
        log.info("the weekly report schedule is off")
        return
    backoff = 1.0
    while not stop.is_set():
        try:
            made = await make_due_reports(pool, clock(), charts=charts, tiles=tiles, stop=stop)
            if made:
                log.info("weekly reports made: %d", len(made))
            backoff = 1.0
            wait = (next_due(clock()) - clock()).total_seconds()
        except _NETWORK_ERRORS as e:
            wait = backoff * (0.5 + random.random())
            log.warning("weekly reports: database unavailable (%s); again in %.0fs", e, wait)
            backoff = min(backoff * 2, 300.0)
        except Exception:
            wait = backoff * (0.5 + random.random())
            log.exception("weekly reports could not be made; again in %.0fs", wait)
            backoff = min(backoff * 2, 3600.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))


def period_of_form(form: dict[str, str], now: datetime) -> Period:
    """The period asked for on the list page's form; both days empty means last week."""
    if not form.get("dari") and not form.get("sampai"):
        return week_before(now)
    return Period.from_query(form, now)
