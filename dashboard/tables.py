"""The dashboard's tables: complaints by status and colour, SLA compliance per OPD (share of
follow-ups within the limit) ranked, the red list; for emergencies, time to acknowledge, who is at
a console now and the per-shift duty report; CSV of each table.

The queries read the stored yellow/due instants, so a colour is a comparison, and are shaped for
the indexes of migration 0004 (benchmark: bench/dashboard.py).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import asyncpg

from complaints.clock import WIB
from complaints.model import LABEL, Status
from core import labels
from dashboard import drill, rollup
from dashboard.period import Period, wib_day_start
from dispatch import (
    presence,
    roster,  # the roster owns the shift report's shape: page, CSV and dashboard alike
)


@dataclass(frozen=True)
class Table:
    """One table of the dashboard. ``rows`` are what the CSV writes under ``columns`` (instants are
    written in WIB by :func:`to_csv`); ``page_rows``, when given, are the same rows as a person
    reads them, and ``hidden`` the columns that are keys for spreadsheets, not for reading."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    page_rows: list[list[Any]] | None = None
    hidden: frozenset[str] = frozenset()
    # per row, column -> the drill-down list (or record) behind that cell
    links: list[dict[str, str]] | None = None
    # the columns that are figures: each has a definition ``<name>.<column>`` (dashboard.definitions)
    figures: tuple[str, ...] = ()

    def headers(self) -> list[str]:
        """The page's column headers, from the label catalogue."""
        return [labels.label("column", c) for c in self.columns if c not in self.hidden]

    def cells(self) -> list[list[str]]:
        """The page's rows: the shown columns, each value in the one date and number format."""
        shown = [i for i, c in enumerate(self.columns) if c not in self.hidden]
        return [[labels.cell(row[i]) for i in shown] for row in (self.page_rows or self.rows)]

    def cell_links(self) -> list[list[str | None]]:
        """Per page row, per shown column: the address the cell links to, or None."""
        shown = [c for c in self.columns if c not in self.hidden]
        links = self.links or [{} for _ in self.rows]
        return [[row.get(c) for c in shown] for row in links]

    def tips(self) -> list[str]:
        """Per shown column, the definition a person reads over the header ('' for no figure)."""
        from dashboard.definitions import DEFINITIONS

        return [
            DEFINITIONS[f"{self.name}.{c}"].counts if c in self.figures else ""
            for c in self.columns
            if c not in self.hidden
        ]


async def status_counts(conn: asyncpg.Connection, period: Period) -> Table:
    """Complaints received on the WIB days of ``period``, by their status now (from the rollup)."""
    rows = await conn.fetch(
        """SELECT status, sum(n)::bigint AS n FROM complaint_daily WHERE day BETWEEN $1 AND $2
            GROUP BY status HAVING sum(n) <> 0 ORDER BY status""",
        period.first,
        period.last,
    )
    return Table(
        "status",
        "Laporan menurut status",
        ["status", "keterangan", "jumlah"],
        [[r["status"], LABEL[Status(r["status"])], r["n"]] for r in rows],
        hidden=frozenset({"status"}),
        links=[{"jumlah": drill.complaints_link(period, status=r["status"])} for r in rows],
        figures=("jumlah",),
    )


async def colour_counts(conn: asyncpg.Connection, now: datetime) -> Table:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE due_at <= $1) AS merah,
                  count(*) FILTER (WHERE due_at > $1 AND yellow_at <= $1) AS kuning,
                  count(*) FILTER (WHERE (due_at IS NULL OR due_at > $1) AND (yellow_at IS NULL OR yellow_at > $1))
                      AS hijau
             FROM complaint WHERE closed_at IS NULL AND stage IN ('verifikasi', 'tindak_lanjut')""",
        now,
    )
    return Table(
        "warna",
        "Laporan terbuka menurut warna",
        ["warna", "jumlah"],
        [[c, row[c]] for c in ("merah", "kuning", "hijau")],
        page_rows=[[labels.label("colour", c), row[c]] for c in ("merah", "kuning", "hijau")],
        links=[{"jumlah": drill.complaints_link(warna=c)} for c in ("merah", "kuning", "hijau")],
        figures=("jumlah",),
    )


async def opd_compliance(conn: asyncpg.Connection, period: Period, now: datetime) -> Table:
    """Per OPD, of the dispositions made on the WIB days of ``period``: those due (followed up,
    or open past their limit), followed up within the limit, late (followed up late, or still red
    now), the share on time, the still red among the late, and the returned ones. On time + late
    = due: an open red disposition is late, so a share under 100% always has a late count."""
    rows = await conn.fetch(
        """WITH done AS (
                SELECT opd_id, sum(on_time)::bigint AS on_time, sum(late)::bigint AS late,
                       sum(returned)::bigint AS returned
                  FROM complaint_disposition_daily WHERE day BETWEEN $1 AND $4 GROUP BY opd_id),
                open_red AS (
                SELECT opd_id, count(*) AS red_open FROM complaint_disposition
                 WHERE finished_at IS NULL AND due_at <= $2 AND disposed_at >= $3 AND disposed_at < $5
                 GROUP BY opd_id),
                s AS (
                SELECT opd_id, coalesce(d.on_time, 0) AS on_time, coalesce(d.late, 0) AS late,
                       coalesce(d.returned, 0) AS returned, coalesce(o.red_open, 0) AS red_open
                  FROM done d FULL JOIN open_red o USING (opd_id))
           SELECT a.id, a.name, s.on_time + s.late + s.red_open AS due, s.on_time, s.late, s.red_open, s.returned
             FROM s JOIN agency a ON a.id = s.opd_id
            ORDER BY (s.on_time::float8 / NULLIF(s.on_time + s.late + s.red_open, 0)) ASC NULLS LAST,
                     s.red_open DESC, a.name""",
        period.first,
        now,
        period.start,
        period.last,
        period.end,
    )
    out = []
    for rank, r in enumerate(rows, 1):
        share = round(100.0 * r["on_time"] / r["due"], 1) if r["due"] else None
        late = r["late"] + r["red_open"]
        out.append([rank, r["id"], r["name"], r["due"], r["on_time"], late, share, r["red_open"], r["returned"]])

    def opd_links(opd_id: int) -> dict[str, str]:
        def to(hasil: str) -> str:
            return drill.dispositions_link(period, opd=opd_id, hasil=hasil)

        return {
            "jatuh_tempo": to("jatuh_tempo"),
            "tepat_waktu": to("tepat"),
            "terlambat": to("terlambat"),
            "persen_tepat": to("tepat"),
            "merah_terbuka": to("merah"),
            "dikembalikan": to("dikembalikan"),
        }

    return Table(
        "opd",
        "Kepatuhan SLA per OPD (tindak lanjut dalam batas hari kerja)",
        [
            "peringkat",
            "opd_id",
            "opd",
            "jatuh_tempo",
            "tepat_waktu",
            "terlambat",
            "persen_tepat",
            "merah_terbuka",
            "dikembalikan",
        ],
        out,
        hidden=frozenset({"opd_id"}),
        links=[opd_links(r[1]) for r in out],
        figures=("jatuh_tempo", "tepat_waktu", "terlambat", "persen_tepat", "merah_terbuka", "dikembalikan"),
    )


async def red_list(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> Table:
    rows = await conn.fetch(
        """SELECT c.id, c.tracking_id, a.name AS opd, c.title, c.kecamatan_name, c.due_at,
                  d.opd_head_notified_at, d.sekda_notified_at
             FROM complaint c
             JOIN agency a ON a.id = c.opd_id
             LEFT JOIN complaint_disposition d ON d.complaint_id = c.id AND d.finished_at IS NULL
            WHERE c.closed_at IS NULL AND c.stage = 'tindak_lanjut' AND c.due_at <= $1
            ORDER BY c.due_at LIMIT $2""",
        now,
        limit,
    )
    return Table(
        "merah",
        "Daftar kode merah (OPD melewati batas tindak lanjut)",
        ["id", "nomor", "opd", "judul", "kecamatan", "batas_waktu_wib", "ke_kepala_opd", "ke_sekda"],
        [
            [
                r["id"],
                r["tracking_id"],
                r["opd"],
                r["title"],
                r["kecamatan_name"] or "",
                r["due_at"],
                "ya" if r["opd_head_notified_at"] else "",
                "ya" if r["sekda_notified_at"] else "",
            ]
            for r in rows
        ],
        hidden=frozenset({"id"}),
        links=[{"nomor": f"/pengaduan/{r['id']}", "judul": f"/pengaduan/{r['id']}"} for r in rows],
        figures=("nomor",),
    )


async def _acknowledgements(
    conn: asyncpg.Connection, total: dict[int, rollup.Part]
) -> list[tuple[int, str, int, int, float | None, float | None, int]]:
    """Per agency (by name) of summed summaries and live rows: (id, name, alerts, acknowledged,
    p50 and p90 seconds to acknowledge, escalated), the percentiles exactly as PostgreSQL's."""
    out = []
    for agency_id, name in await rollup.named(conn, total):
        part = total[agency_id]
        p50, p90 = rollup.percentile_cont(part.seconds["ack_s"], (0.5, 0.9))
        out.append((agency_id, name, part.counts["n"], part.counts["acked"], p50, p90, part.counts["escalated"]))
    return out


async def time_to_acknowledge(conn: asyncpg.Connection, period: Period) -> Table:
    """Emergencies: how fast each agency acknowledged what was routed to it (test alerts left out).
    Reads dispatch's rows through the database only, as the layout wants: the settled days from
    their summaries (dashboard.rollup, migration 0017), the last two live."""
    # whole WIB days, as every period figure and the drill-down list behind each cell
    first = period.first
    built = await rollup.settled(conn, "incident", first, period.last)
    upto, live = rollup.split(first, built)
    live_rows = await conn.fetch(
        """WITH live AS (
                SELECT s.agency_id, t.escalation_level > 0 AS esc,
                       extract(epoch FROM ack.at - i.created_at)::float8 AS secs
                  FROM incident i
                  -- by the incident's key (OFFSET 0 keeps the subqueries apart): a hash of every
                  -- assignment row cost ~100 ms for the two live days
                 CROSS JOIN LATERAL (SELECT agency_id FROM incident_assignment s WHERE s.incident_id = i.id
                                        AND s.reason IN ('rule', 'fallback') OFFSET 0) s
                  LEFT JOIN LATERAL (SELECT * FROM incident_track t WHERE t.incident_id = i.id OFFSET 0) t ON true
                  -- an agency is credited only with what its own operators acknowledged
                 CROSS JOIN LATERAL (SELECT CASE WHEN t.acknowledged_agency_id = s.agency_id
                                                 THEN t.acknowledged_at END AS at) ack
                 WHERE i.created_at >= $1 AND i.created_at < $2 AND i.type <> 'test')
           SELECT agency_id, count(*) AS n, count(secs) AS acked, count(*) FILTER (WHERE esc) AS escalated,
                  coalesce(string_agg(float8send(secs), '') FILTER (WHERE secs IS NOT NULL), '') AS ack_s
             FROM live GROUP BY 1""",
        wib_day_start(live),
        period.end,
    )
    total = rollup.added(
        await rollup.summed(conn, "dash_ack_day", first, upto),
        rollup.parts(live_rows, ("n", "acked", "escalated"), ("ack_s",)),
    )
    rows = [
        {"agency_id": a, "agency": name, "n": n, "acked": acked, "p50": p50, "p90": p90, "escalated": esc}
        for a, name, n, acked, p50, p90, esc in await _acknowledgements(conn, total)
    ]
    # p90 DESC NULLS LAST, then name: a stable sort keeps the database's order of names
    rows.sort(key=lambda r: (r["p90"] is None, -(r["p90"] or 0.0)))

    def secs(v: float | None) -> str:
        return "" if v is None else f"{v:.0f}"

    return Table(
        "tanggap",
        "Waktu tanggap darurat per instansi (detik dari alarm sampai diterima operator)",
        ["instansi", "kejadian", "diterima", "p50_detik", "p90_detik", "dieskalasi"],
        [[r["agency"], r["n"], r["acked"], secs(r["p50"]), secs(r["p90"]), r["escalated"]] for r in rows],
        links=[
            {
                "kejadian": drill.incidents_link(period, instansi=r["agency_id"]),
                **dict.fromkeys(
                    ("diterima", "p50_detik", "p90_detik"),
                    drill.incidents_link(period, instansi=r["agency_id"], diterima_oleh=r["agency_id"]),
                ),
            }
            for r in rows
        ],
        figures=("kejadian", "diterima", "p50_detik", "p90_detik", "dieskalasi"),
    )


async def presence_now(conn: asyncpg.Connection, stale_s: float) -> Table:
    """Who is at a console now, per responding agency (dispatch's presence rows, migration 0007);
    the command centre first, then the emptiest agencies."""
    rows = sorted(
        await presence.present(conn, stale_s),
        key=lambda r: (r["kind"] != "command_centre", len(r["operators"]), r["name"]),
    )
    return Table(
        "kehadiran",
        "Kehadiran operator di konsol sekarang",
        ["instansi", "operator_hadir", "nama", "sejak_wib", "insiden_terbuka"],
        [
            [r["name"], len(ops), ", ".join(ops) or "KOSONG", r["since"], r["open_incidents"]]
            for r in rows
            for ops in [r["operators"]]
        ],
        figures=("operator_hadir", "insiden_terbuka"),
    )


SHIFT_PAGE_ROWS = 200


async def shift_report(
    conn: asyncpg.Connection, since: datetime, now: datetime, stale_s: float, limit: int | None = None
) -> Table:
    """Per agency and shift instance: alerts, time to acknowledge, escalations while unacknowledged,
    hours with no one present (dispatch's ``shift_report`` in the database, migration 0007).
    With ``limit`` (the page) only the first rows, newest first, counted as far back as they need."""
    if limit is None:
        rows = [
            dict(r)
            for r in await conn.fetch(
                """SELECT * FROM shift_report($1, $2, $3)
                    ORDER BY starts_at DESC NULLS FIRST, agency, shift_code""",
                since,
                now,
                stale_s,
            )
        ]
    else:
        rows = await _shift_report_first(conn, since, now, stale_s, limit)
    return Table(
        "piket",
        "Laporan per instansi dan shift piket (terbaru dulu"
        + (f"; {limit} baris pertama, semua di CSV)" if limit else ")"),
        roster.REPORT_COLUMNS,
        roster.report_rows(rows),
        page_rows=roster.report_values(rows),
        figures=("alarm_masuk", "diterima", "p50_detik", "p90_detik", "eskalasi_tanpa_tanggapan", "jam_tanpa_operator"),
    )


# the shift instances of shift_report (migration 0014) that overlap [$1, $2), newest first
_LATEST_STARTS = """
WITH first_fact AS (
    SELECT least((SELECT min(created_at) FROM shift_pattern), (SELECT min(starts_at) FROM roster_entry),
                 (SELECT min(connected_at) FROM console_presence), (SELECT min(created_at) FROM incident)) AS t
),
inst AS (
    SELECT f.t AS first_at,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') AS s,
           ((d::date + p.starts) AT TIME ZONE 'Asia/Jakarta') + p.duration AS e
      FROM first_fact f, shift_pattern p,
           generate_series((($1::timestamptz AT TIME ZONE 'Asia/Jakarta')::date - 1)::timestamp,
                           ($2::timestamptz AT TIME ZONE 'Asia/Jakarta')::date::timestamp, interval '1 day') d
     WHERE p.active
)
SELECT s FROM inst WHERE e > $1 AND s < $2 AND e > first_at ORDER BY s DESC LIMIT $3"""

# shift_report's 'di luar jadwal' rows, the days not summarised: per agency, the alerts in
# [$1, $2) or [$3, $4) that no active shift of it contains
_UNSCHEDULED_LIVE = """
WITH live AS (
    SELECT s.agency_id, coalesce(t.escalation_level, 0) > 0 AS esc,
           extract(epoch FROM ack.at - i.created_at)::float8 AS secs
      FROM incident i
     CROSS JOIN LATERAL (SELECT agency_id FROM incident_assignment s WHERE s.incident_id = i.id
                            AND s.reason IN ('rule', 'fallback') OFFSET 0) s
      LEFT JOIN LATERAL (SELECT * FROM incident_track t WHERE t.incident_id = i.id OFFSET 0) t ON true
     CROSS JOIN LATERAL (SELECT CASE WHEN t.acknowledged_agency_id = s.agency_id THEN t.acknowledged_at END AS at) ack
     WHERE ((i.created_at >= $1 AND i.created_at < $2) OR (i.created_at >= $3 AND i.created_at < $4))
       AND i.type <> 'test'
       AND NOT EXISTS (
           SELECT 1 FROM shift_pattern p
            WHERE p.agency_id = s.agency_id AND p.active
              AND (i.created_at AT TIME ZONE 'Asia/Jakarta')
                  - (((i.created_at AT TIME ZONE 'Asia/Jakarta') - p.starts::interval)::date + p.starts) < p.duration)
)
SELECT agency_id, count(*) AS n, count(secs) AS acked, count(*) FILTER (WHERE esc) AS escalated,
       coalesce(string_agg(float8send(secs), '') FILTER (WHERE secs IS NOT NULL), '') AS ack_s
  FROM live GROUP BY 1"""


async def _shift_report_first(
    conn: asyncpg.Connection, since: datetime, now: datetime, stale_s: float, limit: int
) -> list[dict[str, Any]]:
    """The first ``limit`` rows of shift_report(since, now) in the page's order (outside the
    schedule first, then the instances newest first), the same figures as the whole report.

    The instances are counted from the start of the ``limit``-th newest one: every instance
    starting then or later lies wholly inside the narrower report, so its alerts, stamps and
    empty hours are the same as in the whole one. The rows outside the schedule cover the whole
    period: settled days from their summaries, the rest live."""
    first_full = since.astimezone(WIB).date()
    if wib_day_start(first_full) < since:
        first_full += timedelta(days=1)  # the period's first day is cut: counted live
    built = await rollup.settled(conn, "incident", first_full, now.astimezone(WIB).date())
    if built is None or built < first_full:
        cuts = (since, now, now, now)
        upto = first_full - timedelta(days=1)
    else:
        cuts = (since, wib_day_start(first_full), wib_day_start(built + timedelta(days=1)), now)
        upto = built
    total = rollup.added(
        await rollup.summed(conn, "dash_unscheduled_day", first_full, upto),
        rollup.parts(await conn.fetch(_UNSCHEDULED_LIVE, *cuts), ("n", "acked", "escalated"), ("ack_s",)),
    )
    unscheduled = [
        {
            "agency_id": a,
            "agency": name,
            "shift_code": None,
            "shift_name": "di luar jadwal",
            "day": None,
            "starts_at": None,
            "ends_at": None,
            "alerts": n,
            "acknowledged": acked,
            "ack_p50_s": p50,
            "ack_p90_s": p90,
            "unacked_escalations": esc,
            "hours_unattended": None,
        }
        for a, name, n, acked, p50, p90, esc in await _acknowledgements(conn, total)
    ]
    wanted = limit - len(unscheduled)
    if wanted <= 0:
        return unscheduled[:limit]
    starts = [r["s"] for r in await conn.fetch(_LATEST_STARTS, since, now, wanted)]
    if not starts:
        return unscheduled
    start = max(since, starts[-1])
    instances = await conn.fetch(
        """SELECT * FROM shift_report($1, $2, $3) WHERE starts_at IS NOT NULL AND (starts_at >= $1 OR $1 = $4)
            ORDER BY starts_at DESC NULLS FIRST, agency, shift_code LIMIT $5""",
        start,
        now,
        stale_s,
        since,
        wanted,
    )
    return unscheduled + [dict(r) for r in instances]


@functools.lru_cache(maxsize=1)
def kecamatan_names() -> dict[str, str]:
    data = resources.files("core.data.wonosobo").joinpath("wilayah.csv").read_text("utf-8")
    return {r["code"]: r["name"] for r in csv.DictReader(io.StringIO(data)) if r["level"] == "kecamatan"}


async def by_kecamatan(conn: asyncpg.Connection, period: Period) -> Table:
    """Complaints (all, still open) and emergencies per kecamatan on the WIB days of ``period``."""
    complaints = await conn.fetch(
        """SELECT kecamatan_code, sum(n)::bigint AS n,
                  (sum(n) FILTER (WHERE status NOT IN ('selesai', 'bukan_wewenang', 'arsip')))::bigint AS open
             FROM complaint_daily WHERE day BETWEEN $1 AND $2 GROUP BY kecamatan_code""",
        period.first,
        period.last,
    )
    incidents = await conn.fetch(
        # test alerts are no emergency (as every other emergency figure)
        """SELECT coalesce(kecamatan_code, '') AS k, count(*) AS n FROM incident
            WHERE created_at >= $1 AND created_at < $2 AND type <> 'test' GROUP BY 1""",
        period.start,
        period.end,
    )
    names = kecamatan_names()
    rows: dict[str, list[Any]] = {}
    for r in complaints:
        rows.setdefault(r["kecamatan_code"], [0, 0, 0])[0:2] = [r["n"], r["open"] or 0]
    for r in incidents:
        rows.setdefault(r["k"], [0, 0, 0])[2] = r["n"]
    out = [
        [code, names.get(code, "(tanpa lokasi)" if not code else code), *v]
        for code, v in sorted(rows.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    return Table(
        "kecamatan",
        "Laporan dan kedaruratan per kecamatan",
        ["kode", "kecamatan", "pengaduan", "pengaduan_terbuka", "kedaruratan"],
        out,
        links=[
            {
                "pengaduan": drill.complaints_link(period, kecamatan=r[0] or drill.NO_PLACE),
                "pengaduan_terbuka": drill.complaints_link(period, kecamatan=r[0] or drill.NO_PLACE, terbuka=True),
                "kedaruratan": drill.incidents_link(period, kecamatan=r[0] or drill.NO_PLACE),
            }
            for r in out
        ],
        figures=("pengaduan", "pengaduan_terbuka", "kedaruratan"),
    )


async def monthly_trend(conn: asyncpg.Connection, period: Period) -> Table:
    """Complaints received per WIB calendar month of ``period``, and how many of them are done now."""
    rows = await conn.fetch(
        """SELECT to_char(date_trunc('month', day), 'YYYY-MM') AS month, sum(n)::bigint AS n,
                  (sum(n) FILTER (WHERE status = 'selesai'))::bigint AS done
             FROM complaint_daily WHERE day BETWEEN $1 AND $2 GROUP BY 1 ORDER BY 1""",
        period.first,
        period.last,
    )
    return Table(
        "tren",
        "Tren bulanan laporan masuk",
        ["bulan", "masuk", "selesai_sekarang"],
        [[r["month"], r["n"], r["done"] or 0] for r in rows],
        # the month in the order of the one date format (12-2026), the CSV keeps 2026-12
        page_rows=[[f"{r['month'][5:]}-{r['month'][:4]}", r["n"], r["done"] or 0] for r in rows],
        links=[_month_links(r["month"], period) for r in rows],
        figures=("masuk", "selesai_sekarang"),
    )


def _month_links(month: str, period: Period) -> dict[str, str]:
    """The complaints received in ``month`` (``2026-12``), within ``period``."""
    first = date(int(month[:4]), int(month[5:]), 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    part = Period(max(first, period.first), min(last, period.last))
    return {
        "masuk": drill.complaints_link(part),
        "selesai_sekarang": drill.complaints_link(part, status="selesai"),
    }


def _csv_cell(v: Any) -> Any:
    """A value as the CSV writes it: instants as WIB wall clock a spreadsheet sorts, a cell
    starting with = + - @ quoted (it would be a formula)."""
    if isinstance(v, datetime):
        return v.astimezone(WIB).strftime("%Y-%m-%d %H:%M")
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v


Maker = Callable[[asyncpg.Connection], Awaitable[Table]]
# the tables of the page, in the page's order
PAGE_TABLES = ("status", "warna", "opd", "merah", "kecamatan", "tren", "tanggap", "kehadiran", "piket")


def makers(period: Period, now: datetime, stale_s: float, *, page: bool = True) -> dict[str, Maker]:
    """Each table of ``period`` by its name (the name in ``/dasbor/<name>.csv``). ``page``: as the
    page shows them (the first rows of the red list and the shift report); else whole, for the
    CSV and Excel files."""
    until = min(period.end, now)
    return {
        "status": lambda c: status_counts(c, period),
        "warna": lambda c: colour_counts(c, now),
        "opd": lambda c: opd_compliance(c, period, now),
        "merah": lambda c: red_list(c, now) if page else red_list(c, now, limit=100_000),
        "kecamatan": lambda c: by_kecamatan(c, period),
        "tren": lambda c: monthly_trend(c, period),
        "tanggap": lambda c: time_to_acknowledge(c, period),
        "kehadiran": lambda c: presence_now(c, stale_s),
        "piket": lambda c: shift_report(c, period.start, until, stale_s, limit=SHIFT_PAGE_ROWS if page else None),
    }


async def all_tables(
    pool: asyncpg.Pool, now: datetime, period: Period, *, presence_stale_s: float | None = None
) -> list[Table]:
    """Every table of the page over ``period``, the queries running side by side on the pool's
    connections. With ``presence_stale_s`` also console presence and the shift report (the page
    passes it)."""
    chosen = makers(period, now, presence_stale_s or 0.0)
    names = [n for n in PAGE_TABLES if presence_stale_s is not None or n not in ("kehadiran", "piket")]

    async def on_own_connection(make: Maker) -> Table:
        async with pool.acquire() as conn:
            return await make(conn)

    return list(await asyncio.gather(*(on_own_connection(chosen[n]) for n in names)))


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(table.columns)
    for row in table.rows:
        w.writerow([_csv_cell(v) for v in row])
    return buf.getvalue()
