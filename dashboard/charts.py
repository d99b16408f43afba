"""The dashboard's charts: what each one counts (plain queries over a :class:`Period`) and its
drawing, pygal's SVG rendered on the server so the page, the PDF report and the benchmark get the
same picture with no script and nothing fetched from outside the machine.

Every bar and point carries a native SVG ``<title>`` (its value and label in words, the tooltip
without pygal's script, which would come from a CDN) and a link to the drill-down list of the
rows it counts. Colours are the Okabe–Ito palette, safe for colour-blind readers, and each colour
also has words beside it: the legend, the tooltip, the value printed on the bar.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import asyncpg
import numpy as np
import pygal
from pygal.style import Style

from complaints.open311 import now_utc
from core import labels
from dashboard import figures, rollup, tables
from dashboard.definitions import Definition, definition
from dashboard.period import MONTHS, Period, today, wib_day_start

# Okabe & Ito (2008): eight colours told apart with any of the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
GREY = "#999999"
_STYLE_BASE: dict[str, Any] = {
    "background": "#ffffff",
    "plot_background": "#ffffff",
    "foreground": "#1d2733",
    "foreground_strong": "#0b3d5c",
    "foreground_subtle": "#c9d2db",
    "opacity": "1",
    "opacity_hover": ".8",
    "transition": "none",
    # a local font family: pygal fetches a "googlefont:" family from the web
    "font_family": "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif",
    "label_font_size": 11,
    "major_label_font_size": 11,
    "value_font_size": 10,
    "legend_font_size": 11,
    "title_font_size": 13,
    "no_data_font_size": 16,
    "colors": OKABE_ITO,
}
STYLE = Style(**_STYLE_BASE)


def _style(colors: Iterable[str]) -> Style:
    """The one style with the series coloured in this order (a band chart names its colours)."""
    return Style(**{**_STYLE_BASE, "colors": tuple(colors)})


# longer than this a day-by-day chart has too many bars to read: it counts per week instead
DAILY_MAX_DAYS = 62


def num(v: float, decimals: int = 1) -> str:
    """A number as Indonesian readers write it: ``1.234,5`` (the tiles' format)."""
    return figures.decimal(v, decimals)


def day_words(d: date) -> str:
    """``1 Des`` (the chart's axis; the year is in the period's words above the chart)."""
    return f"{d.day} {MONTHS[d.month - 1]}"


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True)
class Chart:
    """One drawn chart: ``svg`` is the inline ``<svg>`` element (no XML declaration, no script)."""

    key: str
    title: str
    svg: str
    definition: Definition
    empty: bool = False

    @property
    def name(self) -> str:
        """The chart's URL name: ``/dasbor/grafik/<name>.svg``."""
        return next(n for n, k in CHART_KEYS.items() if k == self.key)


def _rincian(kind: str, **filters: Any) -> str:
    """The drill-down address (helper A's contract): ``/dasbor/rincian/<kind>?...``."""
    query = [(k, v) for k, v in filters.items() if v is not None and v != ""]
    return f"/dasbor/rincian/{kind}?" + urlencode(query, doseq=True)


def _clip(period: Period, first: date, last: date) -> dict[str, str]:
    """The days of a bucket inside the period, as the drill-down's ``dari``/``sampai``."""
    return {"dari": max(first, period.first).isoformat(), "sampai": min(last, period.last).isoformat()}


def _span(clip: dict[str, str]) -> str:
    """``minggu 01-12-2026 s.d. 07-12-2026``: the days a weekly bar counts."""
    first, last = (date.fromisoformat(clip[k]) for k in ("dari", "sampai"))
    return f"minggu {labels.day(first)} s.d. {labels.day(last)}"


def _point(value: float, text: str, href: str | None, formatter: Callable[[float], str] | None = None) -> dict:
    p: dict[str, Any] = {"value": value, "label": text}
    if href:
        p["xlink"] = {"href": href, "target": "_top"}
    if formatter is not None:
        p["formatter"] = formatter
    return p


# ---- what each chart counts ------------------------------------------------------------------


async def incidents_by_type(conn: asyncpg.Connection, period: Period) -> list[tuple[date, str, int]]:
    """(WIB day, incident type, count) of the emergencies that came in during the period, tests
    left out: settled days from their summaries (dashboard.rollup), the rest over incident_created_idx."""
    built = await rollup.settled(conn, "incident", period.first, period.last)
    upto, live = rollup.split(period.first, built)
    rows = await conn.fetch(
        """SELECT day, type, n FROM dash_incident_type_day WHERE day >= $1 AND day <= $2
            UNION ALL
           SELECT (created_at AT TIME ZONE 'Asia/Jakarta')::date AS day, type, count(*) AS n
             FROM incident WHERE created_at >= $3 AND created_at < $4 AND type <> 'test'
            GROUP BY 1, 2 ORDER BY 1, 2""",
        period.first,
        upto,
        wib_day_start(live),
        period.end,
    )
    return [(r["day"], r["type"], r["n"]) for r in rows]


STAGES: tuple[tuple[str, str], ...] = (
    ("diterima", "Alarm masuk → diterima"),
    ("dikirim", "Diterima → unit dikirim"),
    ("tiba", "Dikirim → tiba di lokasi"),
    ("selesai", "Tiba → selesai"),
)


@dataclass(frozen=True)
class StageTimes:
    agency_id: int
    agency: str
    # stage key -> (p50 seconds, p90 seconds, incidents measured)
    stages: dict[str, tuple[float | None, float | None, int]]


async def stage_times(conn: asyncpg.Connection, period: Period) -> list[StageTimes]:
    """Per agency credited with the acknowledgement (incident_track.acknowledged_agency_id): p50
    and p90 calendar seconds of each stage, from the emergencies that came in during the period
    (settled days from their summaries, the rest live; the quantiles exact: dashboard.rollup)."""
    built = await rollup.settled(conn, "incident", period.first, period.last)
    upto, live = rollup.split(period.first, built)
    live_rows = await conn.fetch(
        """WITH s AS (
                SELECT t.acknowledged_agency_id AS agency_id,
                       extract(epoch FROM t.acknowledged_at - i.created_at)::float8 AS diterima,
                       extract(epoch FROM t.dispatched_at - t.acknowledged_at)::float8 AS dikirim,
                       extract(epoch FROM t.on_scene_at - t.dispatched_at)::float8 AS tiba,
                       CASE WHEN i.state = 'resolved' THEN extract(epoch FROM t.closed_at - t.on_scene_at)::float8 END
                           AS selesai
                  FROM incident i
                 -- by the incident's key: a hash of every track row cost 100 ms for two days
                 CROSS JOIN LATERAL (SELECT * FROM incident_track t WHERE t.incident_id = i.id OFFSET 0) t
                 WHERE i.created_at >= $1 AND i.created_at < $2 AND i.type <> 'test'
                   AND t.acknowledged_at IS NOT NULL AND t.acknowledged_agency_id IS NOT NULL)
           SELECT agency_id,
                  coalesce(string_agg(float8send(diterima), '') FILTER (WHERE diterima IS NOT NULL), '') AS diterima,
                  coalesce(string_agg(float8send(dikirim), '') FILTER (WHERE dikirim IS NOT NULL), '') AS dikirim,
                  coalesce(string_agg(float8send(tiba), '') FILTER (WHERE tiba IS NOT NULL), '') AS tiba,
                  coalesce(string_agg(float8send(selesai), '') FILTER (WHERE selesai IS NOT NULL), '') AS selesai
             FROM s GROUP BY 1""",
        wib_day_start(live),
        period.end,
    )
    keys = [k for k, _ in STAGES]
    total = rollup.added(
        await rollup.summed(conn, "dash_stage_day", period.first, upto), rollup.parts(live_rows, (), keys)
    )

    def stage(v: np.ndarray) -> tuple[float | None, float | None, int]:
        p50, p90 = rollup.percentile_cont(v, (0.5, 0.9))
        return p50, p90, len(v)

    return [
        StageTimes(agency_id, name, {k: stage(total[agency_id].seconds[k]) for k in keys})
        for agency_id, name in await rollup.named(conn, total)
    ]


async def complaints_by_week(
    conn: asyncpg.Connection, period: Period, opd_id: int | None = None
) -> list[tuple[date, str, int]]:
    """(Monday of the ISO week, status now, count) of complaints received in the period. The
    regency's from the per-day rollup (complaint_daily: WIB day of received_at, status now); an
    OPD's from the complaints disposed to it now (complaint.opd_id)."""
    if opd_id is None:
        rows = await conn.fetch(
            """SELECT date_trunc('week', day)::date AS week, status, sum(n)::bigint AS n FROM complaint_daily
                WHERE day >= $1 AND day <= $2 GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2""",
            period.first,
            period.last,
        )
    else:
        rows = await conn.fetch(
            """SELECT date_trunc('week', (received_at AT TIME ZONE 'Asia/Jakarta')::date)::date AS week, status,
                      count(*) AS n
                 FROM complaint WHERE opd_id = $3 AND received_at >= $1 AND received_at < $2
                GROUP BY 1, 2 ORDER BY 1, 2""",
            period.start,
            period.end,
            opd_id,
        )
    return [(r["week"], r["status"], r["n"]) for r in rows]


@dataclass(frozen=True)
class League:
    opd_id: int
    opd: str
    share: float | None  # % on time of those due, None when nothing fell due
    due: int
    on_time: int
    returned: int


async def opd_league(conn: asyncpg.Connection, period: Period, now: datetime) -> list[League]:
    """The OPD compliance table (:func:`dashboard.tables.opd_compliance`, its one rule), read by
    column name so the chart follows the table wherever its definition goes."""
    t = await tables.opd_compliance(conn, period, now)
    col = {c: i for i, c in enumerate(t.columns)}
    return [
        League(
            r[col["opd_id"]],
            r[col["opd"]],
            r[col["persen_tepat"]],
            r[col["jatuh_tempo"]],
            r[col["tepat_waktu"]],
            r[col["dikembalikan"]],
        )
        for r in t.rows
    ]


async def red_by_day(
    conn: asyncpg.Connection, period: Period, now: datetime, opd_id: int | None = None
) -> list[tuple[date, int]]:
    """(WIB day, dispositions red at its end) for every day of the period; today's end is now.

    A disposition is red at instant E when due_at <= E and it is not finished by E. Rather than
    count every day afresh, each disposition that ever went red adds one on the day it fell due and
    takes one away on the day it was finished; the days before the period sum to its first count.
    """
    upto = min(period.end, now)
    # every day from the first disposition's: the red at a day's end count from the beginning
    earliest = await conn.fetchval("SELECT dash_wib_closing_day(min(due_at)) FROM complaint_disposition")
    built = await rollup.settled(conn, "disposition", earliest, period.last) if earliest else None
    summed = min(built, period.last) if built is not None else date.min  # None: no summary read
    rows = await conn.fetch(
        """SELECT greatest(day, $1::date - 1) AS day, sum(entered - left_red)::bigint AS delta
             FROM dash_red_day WHERE day <= $2 AND ($3::bigint IS NULL OR opd_id = $3) GROUP BY 1
            UNION ALL
           -- after the summaries: each disposition adds one when it falls due and takes it away
           -- when it leaves red (the later of due and finished); one that was finished before
           -- its due date does both on the same day
           SELECT greatest(dash_wib_closing_day(t), $1::date - 1), sum(k)::bigint FROM (
                SELECT due_at AS t, 1 AS k FROM complaint_disposition
                 WHERE due_at > $4 AND due_at <= $5 AND ($3::bigint IS NULL OR opd_id = $3)
                 UNION ALL
                SELECT greatest(due_at, finished_at), -1 FROM complaint_disposition
                 WHERE finished_at IS NOT NULL AND greatest(due_at, finished_at) > $4
                   AND greatest(due_at, finished_at) <= $5 AND ($3::bigint IS NULL OR opd_id = $3)) ev
            GROUP BY 1""",
        period.first,
        summed,
        opd_id,
        # the summaries hold every instant up to the end of their last day (a WIB midnight)
        wib_day_start(built + timedelta(days=1)) if built is not None else datetime.min.replace(tzinfo=UTC),
        upto,
    )
    delta: dict[date, int] = {}
    for r in rows:
        delta[r["day"]] = delta.get(r["day"], 0) + r["delta"]
    running = delta.get(period.first - timedelta(days=1), 0)
    out: list[tuple[date, int]] = []
    last = min(period.last, today(now))
    d = period.first
    while d <= last:
        running += delta.get(d, 0)
        out.append((d, running))
        d += timedelta(days=1)
    return out


@functools.lru_cache(maxsize=1)
def area_names() -> dict[str, str]:
    data = resources.files("core.data.wonosobo").joinpath("wilayah.csv").read_text("utf-8")
    return {r["code"]: r["name"] for r in csv.DictReader(io.StringIO(data)) if r["level"] != "kabupaten"}


async def per_area(pool: asyncpg.Pool, period: Period, level: str) -> dict[str, dict[str, Any]]:
    """{area code: {nama, pengaduan, kedaruratan}} per kecamatan or desa over the period (the map)."""
    if level not in ("kecamatan", "desa"):
        raise ValueError(level)

    async def complaints(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        if level == "kecamatan":
            # the per-day rollup keeps the kecamatan of each complaint
            return await conn.fetch(
                """SELECT kecamatan_code AS code, sum(n)::bigint AS n FROM complaint_daily
                    WHERE day >= $1 AND day <= $2 AND kecamatan_code <> '' GROUP BY 1 HAVING sum(n) <> 0""",
                period.first,
                period.last,
            )
        built = await rollup.settled(conn, "complaint", period.first, period.last)
        upto, live = rollup.split(period.first, built)
        return await conn.fetch(
            """SELECT code, sum(n)::bigint AS n FROM (
                    SELECT desa_code AS code, n FROM dash_complaint_desa_day WHERE day >= $1 AND day <= $2
                     UNION ALL
                    SELECT desa_code, count(*) FROM complaint
                     WHERE received_at >= $3 AND received_at < $4 AND desa_code IS NOT NULL GROUP BY 1) c
                GROUP BY 1""",
            period.first,
            upto,
            wib_day_start(live),
            period.end,
        )

    async def incidents(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        built = await rollup.settled(conn, "incident", period.first, period.last)
        upto, live = rollup.split(period.first, built)
        return await conn.fetch(
            """SELECT code, sum(n)::bigint AS n FROM (
                    SELECT CASE WHEN $5 THEN desa_code ELSE kecamatan_code END AS code, n FROM dash_incident_area_day
                     WHERE day >= $1 AND day <= $2
                     UNION ALL
                    SELECT CASE WHEN $5 THEN desa_code ELSE kecamatan_code END, count(*) FROM incident
                     WHERE created_at >= $3 AND created_at < $4 AND type <> 'test' GROUP BY 1) i
                GROUP BY 1""",
            period.first,
            upto,
            wib_day_start(live),
            period.end,
            level == "desa",
        )

    got_c, got_i = await asyncio.gather(_on_own(pool, complaints), _on_own(pool, incidents))
    names = area_names()
    out: dict[str, dict[str, Any]] = {}
    for key, rows in (("pengaduan", got_c), ("kedaruratan", got_i)):
        for r in rows:
            if r["code"] is None:
                continue
            entry = out.setdefault(
                r["code"], {"nama": names.get(r["code"], r["code"]), "pengaduan": 0, "kedaruratan": 0}
            )
            entry[key] = r["n"]
    return out


async def _on_own(pool: asyncpg.Pool, make: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    async with pool.acquire() as conn:
        return await make(conn)


# ---- drawing ---------------------------------------------------------------------------------


def _base(kind: type, key: str, *, colors: Iterable[str] | None = None, **config: Any) -> Any:
    d = definition(key)
    settings: dict[str, Any] = {
        "style": _style(colors) if colors is not None else STYLE,
        "js": [],  # pygal's tooltip script comes from a CDN: the <title> of each bar is the tooltip
        "disable_xml_declaration": True,
        "width": 640,
        "height": 300,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "truncate_legend": -1,
        "truncate_label": -1,
        "no_data_text": "Belum ada data pada periode ini",
        "show_minor_x_labels": False,
        "value_formatter": lambda v: num(v, 0) if float(v).is_integer() else num(v, 1),
        "margin": 8,
        "spacing": 8,
    }
    return kind(**{**settings, **config}), d


def _finish(chart: Any, key: str, d: Definition, empty: bool) -> Chart:
    # pygal leaves room for one row of legend at the bottom: the rows past it need a margin
    columns = chart.config.legend_at_bottom_columns or 1
    rows = -(-len(chart.raw_series) // columns)
    chart.config.margin_bottom = 8 + 16 * max(0, rows - 1)
    return Chart(key, d.title, to_svg(chart, d.title), d, empty)


def to_svg(chart: Any, title: str | None = None) -> str:
    """pygal's tree as an inline ``<svg>``: every bar and point with a ``<title>`` (its label);
    the bars pygal drew for missing values, its config script, its comments (they carry web addresses) and the
    ``<desc>`` data only its script reads gone."""
    root = chart.render_tree()
    _prune(root)
    # pygal titles the whole picture "Pygal" when it has no title of its own
    for t in root.findall("title"):
        t.text = title or ""
    return ET.tostring(root, encoding="unicode")


def _prune(parent: ET.Element) -> None:
    for child in list(parent):
        if child.tag is ET.Comment or child.tag == "script":
            # pygal writes its config for its script even with js=[]: inline in a page it would run
            parent.remove(child)
            continue
        cls = (child.get("class") or "").split()
        if child.tag == "g" and ("bar" in cls or "dot" in cls or "dots" in cls):
            text = _label_of(child)
            if text is None:
                parent.remove(child)  # a missing value: nothing to read, nothing to click
                continue
            target = child.find("a")
            holder = target if target is not None else child
            title = ET.Element("title")
            title.text = text
            holder.insert(0, title)
        elif child.tag == "desc":
            # the data pygal's script reads (value, link, position): with no script, only weight
            parent.remove(child)
            continue
        _prune(child)


def _label_of(el: ET.Element) -> str | None:
    for desc in el.iter("desc"):
        if desc.get("class") == "label" and desc.text:
            return desc.text
    return None


def _every(n: int) -> int:
    """Every how many buckets the axis names one: about seven names fit a half-page chart."""
    return max(1, -(-n // 7))


def _buckets(period: Period) -> tuple[bool, list[date]]:
    """Days, or Mondays when the period is too long for a bar a day."""
    daily = period.days <= DAILY_MAX_DAYS
    if daily:
        return True, [period.first + timedelta(days=i) for i in range(period.days)]
    out, d = [], monday(period.first)
    while d <= period.last:
        out.append(d)
        d += timedelta(days=7)
    return False, out


def incidents_chart(period: Period, rows: list[tuple[date, str, int]]) -> Chart:
    key = "grafik_kedaruratan_harian"
    daily, buckets = _buckets(period)
    counts: dict[tuple[date, str], int] = {}
    for day, kind, n in rows:
        b = day if daily else monday(day)
        counts[(b, kind)] = counts.get((b, kind), 0) + n
    kinds = sorted({k for _, k in counts}, key=lambda k: labels.label("alert_type", k))
    every = _every(len(buckets))
    chart, d = _base(
        pygal.StackedBar,
        key,
        x_label_rotation=0,
        x_labels_major_every=every,
        print_values=False,
    )
    chart.x_labels = [day_words(b) if daily else f"mg {day_words(b)}" for b in buckets]
    for kind in kinds:
        name = labels.label("alert_type", kind)
        values: list[Any] = []
        for b in buckets:
            n = counts.get((b, kind))
            if not n:
                values.append(None)
                continue
            last = b if daily else b + timedelta(days=6)
            clip = _clip(period, b, last)
            when = labels.day(b) if daily else _span(clip)
            href = _rincian("kedaruratan", **clip, jenis=kind)
            values.append(_point(n, f"{name}, {when}: {n} kejadian", href))
        chart.add(name, values)
    return _finish(chart, key, d, not counts)


def stages_chart(period: Period, rows: list[StageTimes]) -> Chart:
    key = "grafik_tahap_tanggap"
    chart, d = _base(
        pygal.HorizontalStackedBar,
        key,
        height=max(220, 110 + 44 * len(rows)),
        legend_at_bottom_columns=2,
    )
    ordered = list(reversed(rows))  # pygal draws the first label at the bottom
    chart.x_labels = [f"{r.agency} · {which} (menit)" for r in ordered for which in ("median", "p90")]
    for stage, words in STAGES:
        values: list[Any] = []
        for r in ordered:
            p50, p90, n = r.stages[stage]
            href = _rincian("kedaruratan", **period.query(), diterima_oleh=r.agency_id)
            for which, v in (("median", p50), ("p90", p90)):
                if v is None:
                    values.append(None)
                    continue
                minutes = v / 60.0
                values.append(
                    _point(
                        round(minutes, 2),
                        f"{r.agency}, {words}: {which} {num(minutes)} menit (dari {n} kejadian)",
                        href,
                    )
                )
        chart.add(words, values)
    return _finish(chart, key, d, not rows)


def complaints_chart(period: Period, rows: list[tuple[date, str, int]], opd_id: int | None = None) -> Chart:
    key = "grafik_pengaduan_mingguan"
    weeks: list[date] = []
    w = monday(period.first)
    while w <= period.last:
        weeks.append(w)
        w += timedelta(days=7)
    counts = {(wk, s): n for wk, s, n in rows}
    order = list(labels.COMPLAINT_STATUS)
    statuses = sorted({s for _, s in counts}, key=lambda s: order.index(s) if s in order else len(order))
    chart, d = _base(pygal.StackedBar, key, x_labels_major_every=_every(len(weeks)), legend_at_bottom_columns=3)
    chart.x_labels = [f"mg {day_words(max(wk, period.first))}" for wk in weeks]
    for status in statuses:
        name = labels.label("complaint_status", status)
        values: list[Any] = []
        for wk in weeks:
            n = counts.get((wk, status))
            if not n:
                values.append(None)
                continue
            clip = _clip(period, wk, wk + timedelta(days=6))
            href = _rincian("pengaduan", **clip, status=status, opd=opd_id)
            values.append(_point(n, f"{name}, {_span(clip)}: {n} laporan", href))
        chart.add(name, values)
    return _finish(chart, key, d, not counts)


# compliance bands of the league table: (lowest share, words, colour)
BANDS: tuple[tuple[float, str, str], ...] = (
    (90.0, "Baik (90% ke atas)", OKABE_ITO[2]),
    (70.0, "Cukup (70% sampai di bawah 90%)", OKABE_ITO[1]),
    (0.0, "Kurang (di bawah 70%)", OKABE_ITO[3]),
)
NO_DUE = "Belum ada yang jatuh tempo"


def band(share: float | None) -> str:
    if share is None:
        return NO_DUE
    return next(words for low, words, _ in BANDS if share >= low)


def league_chart(period: Period, rows: list[League]) -> Chart:
    key = "grafik_liga_opd"
    chart, d = _base(
        pygal.HorizontalStackedBar,
        key,
        colors=[c for _, _, c in BANDS] + [GREY],
        width=1240,
        height=max(220, 90 + 26 * len(rows)),
        range=(0, 100),
        print_values=True,
        print_zeroes=False,  # pygal would print a nought on every other band's empty slot
        legend_at_bottom_columns=2,
    )
    ordered = list(reversed(rows))  # best ranked at the top
    chart.x_labels = [r.opd for r in ordered]
    for words in [b[1] for b in BANDS] + [NO_DUE]:
        values: list[Any] = []
        for r in ordered:
            if band(r.share) != words:
                values.append(None)
                continue
            share = r.share or 0.0
            on_bar = (f"{num(share)}%" if r.share is not None else "—") + f" · dikembalikan {r.returned}"
            text = (
                f"{r.opd}: {num(share)}% tepat waktu ({r.on_time} dari {r.due} jatuh tempo), {words}; "
                f"dikembalikan (bukan wewenang) {r.returned}"
                if r.share is not None
                else f"{r.opd}: {NO_DUE.lower()}; dikembalikan (bukan wewenang) {r.returned}"
            )
            href = _rincian("disposisi", opd=r.opd_id, **period.query())
            # a bar of nought is drawn a hair wide so that its words are printed on it
            values.append(_point(max(share, 0.5), text, href, formatter=lambda _v, s=on_bar: s))
        chart.add(words, values)
    return _finish(chart, key, d, not rows)


def red_chart(period: Period, rows: list[tuple[date, int]], opd_id: int | None = None) -> Chart:
    key = "grafik_merah_harian"
    chart, d = _base(
        pygal.Line,
        key,
        colors=[OKABE_ITO[3]],
        fill=False,
        show_dots=True,
        dots_size=3,
        x_labels_major_every=_every(len(rows)),
        include_x_axis=True,
        show_legend=False,  # one line, named by the chart's title and by every point's tooltip
    )
    chart.x_labels = [day_words(day) for day, _ in rows]
    values = [
        _point(
            n,
            f"Akhir {labels.day(day)}: {n} disposisi kode merah",
            _rincian("disposisi", hasil="merah", sampai=day.isoformat(), opd=opd_id),
        )
        for day, n in rows
    ]
    chart.add("Disposisi kode merah", values)
    return _finish(chart, key, d, not any(n for _, n in rows))


# ---- the charts of a page or a report ----------------------------------------------------------

# URL name -> definition key, in the page's order
CHART_KEYS: dict[str, str] = {
    "kedaruratan": "grafik_kedaruratan_harian",
    "merah": "grafik_merah_harian",
    "pengaduan": "grafik_pengaduan_mingguan",
    "tahap": "grafik_tahap_tanggap",
    "opd": "grafik_liga_opd",
}
CHART_NAMES = tuple(CHART_KEYS)


async def chart(pool: asyncpg.Pool, name: str, period: Period, now: datetime, opd_id: int | None = None) -> Chart:
    """One chart by its URL name (``/dasbor/grafik/<name>.svg``); KeyError for an unknown name."""
    counters: dict[str, Callable[[asyncpg.Connection], Awaitable[Any]]] = {
        "kedaruratan": lambda c: incidents_by_type(c, period),
        "tahap": lambda c: stage_times(c, period),
        "pengaduan": lambda c: complaints_by_week(c, period, opd_id),
        "opd": lambda c: opd_league(c, period, now),
        "merah": lambda c: red_by_day(c, period, now, opd_id),
    }
    draws: dict[str, Callable[[Any], Chart]] = {
        "kedaruratan": lambda r: incidents_chart(period, r),
        "tahap": lambda r: stages_chart(period, r),
        "pengaduan": lambda r: complaints_chart(period, r, opd_id),
        "opd": lambda r: league_chart(period, [x for x in r if opd_id is None or x.opd_id == opd_id]),
        "merah": lambda r: red_chart(period, r, opd_id),
    }
    count, draw = counters[name], draws[name]
    rows = await _on_own(pool, count)
    return _drawn((name, period, opd_id, repr(rows)), lambda: draw(rows))


# A chart is a pure function of its rows, its period and its OPD, and drawing it costs more than
# counting them: the same rows are not drawn twice while they stay among the last few drawn.
_DRAWN: OrderedDict[tuple[Any, ...], Chart] = OrderedDict()
DRAWN_KEEP = 64


def _drawn(key: tuple[Any, ...], draw: Callable[[], Chart]) -> Chart:
    hit = _DRAWN.get(key)
    if hit is not None:
        _DRAWN.move_to_end(key)
        return hit
    out = _DRAWN[key] = draw()
    while len(_DRAWN) > DRAWN_KEEP:
        _DRAWN.popitem(last=False)
    return out


async def all_charts(
    pool: asyncpg.Pool, period: Period, now: datetime, names: Iterable[str] = CHART_NAMES, opd_id: int | None = None
) -> list[Chart]:
    """The charts, their queries side by side on the pool's connections."""
    return list(await asyncio.gather(*(chart(pool, n, period, now, opd_id) for n in names)))


async def for_report(pool: asyncpg.Pool, period: Period, *, opd_id: int | None = None) -> list[Chart]:
    """The page's charts for a PDF report: the regency's all; an OPD's only its complaint charts
    (its complaints per week, its place in the league, its red dispositions)."""
    names = CHART_NAMES if opd_id is None else tuple(n for n in CHART_NAMES if n in ("merah", "pengaduan", "opd"))
    return await all_charts(pool, period, now_utc(), names, opd_id)
