"""The rows behind every number of the dashboard: the drill-down lists.

Every tile, table cell and chart links here with the filters of the figure it shows, so the
count at the top of a list is the figure the leader clicked (``tests/dashboard/test_recount.py``
checks it). The addresses and their filters are a contract other parts of the dashboard build
links to:

* ``/dasbor/rincian/kedaruratan``: incidents (never test alerts);
* ``/dasbor/rincian/pengaduan``: complaints;
* ``/dasbor/rincian/disposisi``: dispositions behind the SLA figures;
* ``/dasbor/rincian/teguran``: reprimands (the pending-reprimands tile);
* ``/dasbor/rincian/kedaruratan/{id}``: one incident's timeline, as a leader may read it.

Filters are AND-ed; with no ``dari``/``sampai`` a list has no time limit. Each list has pages of
:data:`PAGE_ROWS` rows and a CSV and Excel download of the whole list.
"""

from __future__ import annotations

import csv
import functools
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import asyncpg
from aiohttp import web
from multidict import MultiMapping

from complaints.open311 import now_utc
from core import appkeys, auth, labels, pages, params
from dashboard import READERS, excel
from dashboard.period import Period

PAGE_ROWS = 100
MAX_EXPORT_ROWS = 1_000_000
CLOSED_INCIDENT = ("resolved", "false_alarm", "handed_to_complaints")
COLOURS = ("merah", "kuning", "hijau")
# hasil of a disposition: what the OPD compliance figure counts it as
OUTCOMES = {
    "jatuh_tempo": "yang sudah jatuh tempo (tepat waktu atau terlambat)",
    "tepat": "yang ditindaklanjuti tepat waktu",
    "terlambat": "yang terlambat (selesai terlambat atau masih merah)",
    "merah": "yang masih merah (belum ditindaklanjuti, lewat batas)",
    "dikembalikan": "yang dikembalikan karena bukan wewenang",
}
# a kecamatan filter for the rows with no place (the per-kecamatan table's "(tanpa lokasi)")
NO_PLACE = "tanpa"


def link(path: str, **query: Any) -> str:
    """``path`` with the filters that are set (None and False left out; a list repeats its name)."""
    pairs: list[tuple[str, str]] = []
    for k, v in query.items():
        if v is None or v is False or v == "":
            continue
        if isinstance(v, (list, tuple)):
            pairs.extend((k, str(x)) for x in v)
        else:
            pairs.append((k, "1" if v is True else str(v)))
    return path + ("?" + urlencode(pairs) if pairs else "")


def incidents_link(period: Period | None = None, **query: Any) -> str:
    return link("/dasbor/rincian/kedaruratan", **(period.query() if period else {}), **query)


def complaints_link(period: Period | None = None, **query: Any) -> str:
    return link("/dasbor/rincian/pengaduan", **(period.query() if period else {}), **query)


def dispositions_link(period: Period | None = None, **query: Any) -> str:
    return link("/dasbor/rincian/disposisi", **(period.query() if period else {}), **query)


# --- reading the filters ---------------------------------------------------------------------------


def _period(query: MultiMapping[str] | Mapping[str, str], now: datetime) -> Period | None:
    if any(query.get(k) for k in ("dari", "sampai", "hari")):
        return Period.from_query({k: v for k in ("dari", "sampai", "hari") if (v := query.get(k))}, now)
    return None


def _one(query: MultiMapping[str] | Mapping[str, str], name: str, max_length: int = 64) -> str | None:
    v = query.get(name)
    return params.text(v, name, max_length=max_length) or None if v else None


def _id(query: MultiMapping[str] | Mapping[str, str], name: str) -> int | None:
    v = query.get(name)
    return params.reference(v, name) if v else None


def _flag(query: MultiMapping[str] | Mapping[str, str], name: str) -> bool:
    v = query.get(name)
    if v in (None, "", "0"):
        return False
    if v == "1":
        return True
    raise params.BadParam(name, f"{name}: isi 1 atau kosongkan")


def _many(query: MultiMapping[str] | Mapping[str, str], name: str, allowed: Mapping[str, str]) -> tuple[str, ...]:
    values = query.getall(name, []) if isinstance(query, MultiMapping) else ([query[name]] if name in query else [])
    out = []
    for v in values:
        if v not in allowed:
            raise params.BadParam(name, f"{name}: pilihan tidak dikenal")
        out.append(v)
    return tuple(dict.fromkeys(out))


def _area(query: MultiMapping[str] | Mapping[str, str], name: str) -> str | None:
    v = _one(query, name, 32)
    if v is not None and v != NO_PLACE and not all(ch.isdigit() or ch == "." for ch in v):
        raise params.BadParam(name, f"{name}: kode wilayah tidak dikenal")
    return v


@dataclass(frozen=True)
class IncidentFilter:
    period: Period | None = None
    jenis: str | None = None
    instansi: int | None = None
    diterima_oleh: int | None = None
    # acknowledged by anyone (the time-to-acknowledge tiles count only those)
    diterima: bool = False
    status: tuple[str, ...] = ()
    terbuka: bool = False
    kecamatan: str | None = None
    desa: str | None = None

    @classmethod
    def read(cls, query: MultiMapping[str] | Mapping[str, str], now: datetime) -> IncidentFilter:
        jenis = _one(query, "jenis")
        if jenis is not None and (jenis not in labels.ALERT_TYPE or jenis == "test"):
            raise params.BadParam("jenis", "jenis: jenis kejadian tidak dikenal")
        return cls(
            _period(query, now),
            jenis,
            _id(query, "instansi"),
            _id(query, "diterima_oleh"),
            _flag(query, "diterima"),
            _many(query, "status", labels.INCIDENT_STATE),
            _flag(query, "terbuka"),
            _area(query, "kecamatan"),
            _area(query, "desa"),
        )

    def args(self) -> list[Any]:
        p = self.period
        return [
            p.start if p else None,
            p.end if p else None,
            self.jenis,
            self.instansi,
            self.diterima_oleh,
            self.diterima,
            list(self.status),
            self.terbuka,
            self.kecamatan,
            self.desa,
        ]


@dataclass(frozen=True)
class ComplaintFilter:
    period: Period | None = None
    status: tuple[str, ...] = ()
    # repeatable: the open complaints of any of these colours
    warna: tuple[str, ...] = ()
    opd: int | None = None
    kecamatan: str | None = None
    desa: str | None = None
    kategori: int | None = None
    terbuka: bool = False

    @classmethod
    def read(cls, query: MultiMapping[str] | Mapping[str, str], now: datetime) -> ComplaintFilter:
        return cls(
            _period(query, now),
            _many(query, "status", labels.COMPLAINT_STATUS),
            _many(query, "warna", {c: c for c in COLOURS}),
            _id(query, "opd"),
            _area(query, "kecamatan"),
            _area(query, "desa"),
            _id(query, "kategori"),
            _flag(query, "terbuka"),
        )

    def args(self, now: datetime) -> list[Any]:
        p = self.period
        return [
            p.start if p else None,
            p.end if p else None,
            list(self.status),
            list(self.warna),
            now,
            self.opd,
            self.kecamatan,
            self.desa,
            self.kategori,
            self.terbuka,
        ]


@dataclass(frozen=True)
class DispositionFilter:
    period: Period | None = None
    opd: int | None = None
    hasil: str | None = None

    @classmethod
    def read(cls, query: MultiMapping[str] | Mapping[str, str], now: datetime) -> DispositionFilter:
        hasil = _one(query, "hasil")
        if hasil is not None and hasil not in OUTCOMES:
            raise params.BadParam("hasil", "hasil: pilih tepat, terlambat, merah atau dikembalikan")
        return cls(_period(query, now), _id(query, "opd"), hasil)

    def args(self, now: datetime) -> list[Any]:
        p = self.period
        return [p.start if p else None, p.end if p else None, self.opd, self.hasil, now]


# --- the queries ----------------------------------------------------------------------------------
# One WHERE per list, shared by its count and its rows, so the count is the number of rows. The
# statements are joined from these constant fragments only (every value is a $n parameter).

_INCIDENT_FROM = """
  FROM incident i
  LEFT JOIN incident_track t ON t.incident_id = i.id
 WHERE i.type <> 'test'
   AND ($1::timestamptz IS NULL OR i.created_at >= $1)
   AND ($2::timestamptz IS NULL OR i.created_at < $2)
   AND ($3::text IS NULL OR i.type = $3)
   AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM incident_assignment s
                                       WHERE s.incident_id = i.id AND s.agency_id = $4
                                         AND s.reason IN ('rule', 'fallback')))
   AND ($5::bigint IS NULL OR (t.acknowledged_agency_id = $5 AND t.acknowledged_at IS NOT NULL))
   AND (NOT $6 OR t.acknowledged_at IS NOT NULL)
   AND (cardinality($7::text[]) = 0 OR i.state = ANY($7::text[]))
   AND (NOT $8 OR i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints'))
   AND ($9::text IS NULL OR coalesce(nullif(i.kecamatan_code, ''), 'tanpa') = $9)
   AND ($10::text IS NULL OR coalesce(nullif(i.desa_code, ''), 'tanpa') = $10)"""

_INCIDENT_ROWS = (
    """SELECT i.id, i.number, i.type, i.state, i.created_at, i.desa_name, i.kecamatan_name,
              (SELECT string_agg(a.name, ', ' ORDER BY a.name) FROM incident_assignment s
                 JOIN agency a ON a.id = s.agency_id
                WHERE s.incident_id = i.id AND s.reason IN ('rule', 'fallback')) AS agencies,
              (SELECT name FROM agency WHERE id = t.acknowledged_agency_id) AS acknowledged_by,
              t.acknowledged_at"""  # noqa: S608 - constant fragments, values are $n
    + _INCIDENT_FROM
    + " ORDER BY i.created_at DESC, i.number DESC LIMIT $11 OFFSET $12"
)
_INCIDENT_COUNT = "SELECT count(*)" + _INCIDENT_FROM

_COMPLAINT_FROM = """
  FROM complaint c
 WHERE ($1::timestamptz IS NULL OR c.received_at >= $1)
   AND ($2::timestamptz IS NULL OR c.received_at < $2)
   AND (cardinality($3::text[]) = 0 OR c.status = ANY($3::text[]))
   -- the colour exactly as dashboard.tables.colour_counts reads it
   AND (cardinality($4::text[]) = 0 OR (c.closed_at IS NULL AND c.stage IN ('verifikasi', 'tindak_lanjut') AND (
            ('merah' = ANY($4::text[]) AND c.due_at <= $5)
         OR ('kuning' = ANY($4::text[]) AND c.due_at > $5 AND c.yellow_at <= $5)
         OR ('hijau' = ANY($4::text[]) AND (c.due_at IS NULL OR c.due_at > $5)
                                       AND (c.yellow_at IS NULL OR c.yellow_at > $5)))))
   AND ($6::bigint IS NULL OR c.opd_id = $6)
   AND ($7::text IS NULL OR coalesce(nullif(c.kecamatan_code, ''), 'tanpa') = $7)
   AND ($8::text IS NULL OR coalesce(nullif(c.desa_code, ''), 'tanpa') = $8)
   AND ($9::bigint IS NULL OR c.category_id = $9)
   AND (NOT $10 OR c.closed_at IS NULL)"""

_COMPLAINT_ROWS = (
    """SELECT c.id, c.tracking_id, c.received_at, c.status, c.title, c.desa_name, c.kecamatan_name,
              c.due_at, (SELECT name FROM complaint_category WHERE id = c.category_id) AS category,
              (SELECT name FROM agency WHERE id = c.opd_id) AS opd"""  # noqa: S608 - constant fragments, values are $n
    + _COMPLAINT_FROM
    + " ORDER BY c.received_at DESC, c.id DESC LIMIT $11 OFFSET $12"
)
_COMPLAINT_COUNT = "SELECT count(*)" + _COMPLAINT_FROM

_DISPOSITION_FROM = """
  FROM complaint_disposition d
 WHERE ($1::timestamptz IS NULL OR d.disposed_at >= $1)
   AND ($2::timestamptz IS NULL OR d.disposed_at < $2)
   AND ($3::bigint IS NULL OR d.opd_id = $3)
   -- the outcomes exactly as dashboard.tables.opd_compliance counts them
   AND CASE coalesce($4::text, '')
        WHEN '' THEN true
        WHEN 'tepat' THEN d.outcome = 'followed_up' AND d.on_time
        WHEN 'merah' THEN d.finished_at IS NULL AND d.due_at <= $5
        WHEN 'terlambat' THEN (d.outcome = 'followed_up' AND NOT d.on_time)
                              OR (d.finished_at IS NULL AND d.due_at <= $5)
        WHEN 'jatuh_tempo' THEN d.outcome = 'followed_up' OR (d.finished_at IS NULL AND d.due_at <= $5)
        WHEN 'dikembalikan' THEN d.outcome = 'returned'
       END"""

_DISPOSITION_ROWS = (
    """SELECT d.id, d.complaint_id, c.tracking_id, c.title, a.name AS opd, d.disposed_at, d.due_at,
              d.finished_at, d.outcome, d.on_time, c.kecamatan_name"""
    + _DISPOSITION_FROM.replace(
        "FROM complaint_disposition d",
        "FROM complaint_disposition d JOIN complaint c ON c.id = d.complaint_id JOIN agency a ON a.id = d.opd_id",
    )
    + " ORDER BY d.disposed_at DESC, d.id DESC LIMIT $6 OFFSET $7"
)
_DISPOSITION_COUNT = "SELECT count(*)" + _DISPOSITION_FROM

_TEGURAN_FROM = """
  FROM teguran g
 WHERE ($1::bigint IS NULL OR g.opd_id = $1) AND (NOT $2 OR g.read_at IS NULL)"""
_TEGURAN_ROWS = (
    """SELECT g.id, g.issued_at, g.issued_by_name, g.read_at, cardinality(g.complaint_ids) AS n, g.opd_id,
              (SELECT name FROM agency WHERE id = g.opd_id) AS opd"""  # noqa: S608 - constant fragments, values are $n
    + _TEGURAN_FROM
    + " ORDER BY g.issued_at DESC, g.id DESC LIMIT $3 OFFSET $4"
)
_TEGURAN_COUNT = "SELECT count(*)" + _TEGURAN_FROM


async def count_incidents(conn: asyncpg.Connection, f: IncidentFilter) -> int:
    return int(await conn.fetchval(_INCIDENT_COUNT, *f.args()))


async def count_complaints(conn: asyncpg.Connection, f: ComplaintFilter, now: datetime) -> int:
    return int(await conn.fetchval(_COMPLAINT_COUNT, *f.args(now)))


async def count_dispositions(conn: asyncpg.Connection, f: DispositionFilter, now: datetime) -> int:
    return int(await conn.fetchval(_DISPOSITION_COUNT, *f.args(now)))


async def count_teguran(conn: asyncpg.Connection, opd: int | None, unread: bool) -> int:
    return int(await conn.fetchval(_TEGURAN_COUNT, opd, unread))


# --- the lists as a person reads them -------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One drill-down list: the heading that says what is listed, the count, the columns and the
    rows (each row's first cell links to the record)."""

    heading: str
    count: int
    headers: list[str]
    rows: list[list[Any]]
    hrefs: list[str]


async def _agency_name(conn: asyncpg.Connection, agency_id: int | None) -> str | None:
    if agency_id is None:
        return None
    name = await conn.fetchval("SELECT name FROM agency WHERE id = $1", agency_id)
    if name is None:
        raise params.BadParam("instansi", "instansi atau OPD tidak dikenal")
    return str(name)


@functools.lru_cache(maxsize=1)
def _area_names() -> dict[str, str]:
    """Every kecamatan, desa and kelurahan of Wonosobo by code (the regency's own list)."""
    data = resources.files("core.data.wonosobo").joinpath("wilayah.csv").read_text("utf-8")
    return {r["code"]: r["name"] for r in csv.DictReader(io.StringIO(data))}


def _place_words(kecamatan: str | None, desa: str | None) -> list[str]:
    names = _area_names()
    out = []
    if kecamatan is not None:
        out.append("tanpa lokasi" if kecamatan == NO_PLACE else f"Kecamatan {names.get(kecamatan, 'tidak dikenal')}")
    if desa is not None:
        out.append("desa tanpa lokasi" if desa == NO_PLACE else f"Desa/Kelurahan {names.get(desa, 'tidak dikenal')}")
    return out


def _period_words(p: Period | None) -> list[str]:
    return [f"periode {p.words()}"] if p else []


async def incident_heading(conn: asyncpg.Connection, f: IncidentFilter) -> str:
    what = "Kejadian darurat terbuka" if f.terbuka else "Kejadian darurat"
    parts = []
    if f.jenis:
        parts.append(f"jenis {labels.ALERT_TYPE[f.jenis]}")
    if f.status:
        parts.append("status " + ", ".join(labels.INCIDENT_STATE[s] for s in f.status))
    if f.instansi is not None:
        parts.append(f"diteruskan ke {await _agency_name(conn, f.instansi)}")
    if f.diterima_oleh is not None:
        parts.append(f"diterima oleh {await _agency_name(conn, f.diterima_oleh)}")
    elif f.diterima:
        parts.append("yang sudah diterima operator")
    parts += _place_words(f.kecamatan, f.desa) + _period_words(f.period)
    return ", ".join([what, *parts])


async def complaint_heading(conn: asyncpg.Connection, f: ComplaintFilter) -> str:
    what = "Pengaduan terbuka" if f.terbuka or f.warna else "Pengaduan"
    if f.warna:
        what += " berwarna " + " atau ".join(f.warna)
    parts = []
    if f.status:
        parts.append("status " + ", ".join(labels.COMPLAINT_STATUS[s] for s in f.status))
    if f.opd is not None:
        parts.append(f"OPD {await _agency_name(conn, f.opd)}")
    if f.kategori is not None:
        name = await conn.fetchval("SELECT name FROM complaint_category WHERE id = $1", f.kategori)
        if name is None:
            raise params.BadParam("kategori", "kategori tidak dikenal")
        parts.append(f"kategori {name}")
    parts += _place_words(f.kecamatan, f.desa) + _period_words(f.period)
    return ", ".join([what, *parts])


async def disposition_heading(conn: asyncpg.Connection, f: DispositionFilter) -> str:
    what = "Disposisi ke OPD" + (f" {OUTCOMES[f.hasil]}" if f.hasil else "")
    parts = []
    if f.opd is not None:
        parts.append(f"OPD {await _agency_name(conn, f.opd)}")
    if f.period:
        parts.append(f"didisposisikan {f.period.words()}")
    return ", ".join([what, *parts])


def _outcome_words(r: asyncpg.Record, now: datetime) -> str:
    if r["outcome"] == "followed_up":
        return "Ditindaklanjuti tepat waktu" if r["on_time"] else "Ditindaklanjuti terlambat"
    if r["outcome"] is not None:
        return labels.label("disposition_outcome", r["outcome"])
    return "Belum ditindaklanjuti, kode merah" if r["due_at"] <= now else "Belum ditindaklanjuti"


async def incident_listing(conn: asyncpg.Connection, f: IncidentFilter, limit: int, offset: int) -> Listing:
    rows = await conn.fetch(_INCIDENT_ROWS, *f.args(), limit, offset)
    return Listing(
        await incident_heading(conn, f),
        await count_incidents(conn, f),
        ["Nomor", "Waktu masuk", "Jenis", "Tempat", "Status", "Diteruskan ke", "Diterima oleh", "Waktu diterima"],
        [
            [
                r["number"],
                r["created_at"],
                labels.label("alert_type", r["type"]),
                ", ".join(x for x in (r["desa_name"], r["kecamatan_name"]) if x) or "tanpa lokasi",
                labels.label("incident_state", r["state"]),
                r["agencies"] or "",
                r["acknowledged_by"] or "",
                r["acknowledged_at"],
            ]
            for r in rows
        ],
        [f"/dasbor/rincian/kedaruratan/{r['id']}" for r in rows],
    )


async def complaint_listing(
    conn: asyncpg.Connection, f: ComplaintFilter, now: datetime, limit: int, offset: int
) -> Listing:
    rows = await conn.fetch(_COMPLAINT_ROWS, *f.args(now), limit, offset)
    return Listing(
        await complaint_heading(conn, f),
        await count_complaints(conn, f, now),
        ["Nomor laporan", "Waktu diterima", "Judul", "Kategori", "Tempat", "Status", "OPD", "Batas waktu"],
        [
            [
                r["tracking_id"],
                r["received_at"],
                r["title"],
                r["category"] or "",
                ", ".join(x for x in (r["desa_name"], r["kecamatan_name"]) if x) or "tanpa lokasi",
                labels.label("complaint_status", r["status"]),
                r["opd"] or "",
                r["due_at"],
            ]
            for r in rows
        ],
        [f"/pengaduan/{r['id']}" for r in rows],
    )


async def disposition_listing(
    conn: asyncpg.Connection, f: DispositionFilter, now: datetime, limit: int, offset: int
) -> Listing:
    rows = await conn.fetch(_DISPOSITION_ROWS, *f.args(now), limit, offset)
    return Listing(
        await disposition_heading(conn, f),
        await count_dispositions(conn, f, now),
        ["Nomor laporan", "Judul", "OPD", "Didisposisikan", "Batas waktu", "Selesai", "Hasil", "Kecamatan"],
        [
            [
                r["tracking_id"],
                r["title"],
                r["opd"],
                r["disposed_at"],
                r["due_at"],
                r["finished_at"],
                _outcome_words(r, now),
                r["kecamatan_name"] or "",
            ]
            for r in rows
        ],
        [f"/pengaduan/{r['complaint_id']}" for r in rows],
    )


async def teguran_listing(conn: asyncpg.Connection, opd: int | None, unread: bool, limit: int, offset: int) -> Listing:
    rows = await conn.fetch(_TEGURAN_ROWS, opd, unread, limit, offset)
    heading = "Teguran pimpinan" + (" yang belum dibaca OPD" if unread else "")
    if opd is not None:
        heading += f", OPD {await _agency_name(conn, opd)}"
    return Listing(
        heading,
        await count_teguran(conn, opd, unread),
        ["No.", "Waktu teguran", "OPD", "Dari", "Jumlah pengaduan", "Dibaca"],
        [[r["id"], r["issued_at"], r["opd"], r["issued_by_name"], r["n"], r["read_at"] or "belum"] for r in rows],
        # what a reprimand is about: the OPD's red complaints now
        [complaints_link(warna="merah", status="disposisi", opd=r["opd_id"]) for r in rows],
    )


# --- the handlers ---------------------------------------------------------------------------------


def _page_number(request: web.Request) -> int:
    v = request.query.get("halaman")
    return params.integer(v, "halaman", lo=1, hi=100_000) if v else 1


def _export_format(request: web.Request) -> str | None:
    v = request.query.get("unduh")
    if v in (None, ""):
        return None
    if v not in ("csv", "xlsx"):
        raise params.BadParam("unduh", "unduh: pilih csv atau xlsx")
    return v


def _without(request: web.Request, *names: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query.items() if k not in names]


async def _answer(request: web.Request, name: str, make: Any) -> web.StreamResponse:
    """Render the list page, or its CSV/Excel download; ``make(conn, limit, offset)``."""
    fmt = _export_format(request)
    page = _page_number(request)
    async with request.app[appkeys.POOL].acquire() as conn:
        if fmt is not None:
            listing = await make(conn, MAX_EXPORT_ROWS, 0)
            return _download(listing, name, fmt)
        listing = await make(conn, PAGE_ROWS, (page - 1) * PAGE_ROWS)
    keep = _without(request, "halaman", "unduh")
    here = request.path

    def at(n: int) -> str:
        return here + "?" + urlencode([*keep, ("halaman", str(n))])

    last = max(1, (listing.count + PAGE_ROWS - 1) // PAGE_ROWS)
    return pages.render(
        request,
        "dashboard/rincian_daftar.html",
        {
            "title": listing.heading,
            "listing": listing,
            "cells": [[labels.cell(v) for v in row] for row in listing.rows],
            "page": page,
            "last_page": last,
            "first_row": (page - 1) * PAGE_ROWS + 1 if listing.rows else 0,
            "last_row": (page - 1) * PAGE_ROWS + len(listing.rows),
            "previous": at(page - 1) if page > 1 else None,
            "next": at(page + 1) if page < last else None,
            "csv": here + "?" + urlencode([*keep, ("unduh", "csv")]),
            "xlsx": here + "?" + urlencode([*keep, ("unduh", "xlsx")]),
            "name": name,
        },
    )


def _download(listing: Listing, name: str, fmt: str) -> web.Response:
    if fmt == "xlsx":
        resp = web.Response(
            body=excel.workbook(listing.heading, listing.headers, listing.rows),
            content_type=excel.CONTENT_TYPE,
        )
        resp.headers["Content-Disposition"] = f'attachment; filename="siaga-rincian-{name}.xlsx"'
        return resp
    from dashboard.tables import _csv_cell  # tables link here: imported when used, not at load

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(listing.headers)
    for row in listing.rows:
        w.writerow([_csv_cell(v) for v in row])
    resp = web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="siaga-rincian-{name}.csv"'
    return resp


@auth.allow(*READERS)
async def incidents_page(request: web.Request) -> web.StreamResponse:
    f = IncidentFilter.read(request.query, now_utc())
    return await _answer(request, "kedaruratan", lambda c, lim, off: incident_listing(c, f, lim, off))


@auth.allow(*READERS)
async def complaints_page(request: web.Request) -> web.StreamResponse:
    now = now_utc()
    f = ComplaintFilter.read(request.query, now)
    return await _answer(request, "pengaduan", lambda c, lim, off: complaint_listing(c, f, now, lim, off))


@auth.allow(*READERS)
async def dispositions_page(request: web.Request) -> web.StreamResponse:
    now = now_utc()
    f = DispositionFilter.read(request.query, now)
    return await _answer(request, "disposisi", lambda c, lim, off: disposition_listing(c, f, now, lim, off))


@auth.allow(*READERS)
async def teguran_page(request: web.Request) -> web.StreamResponse:
    opd = _id(request.query, "opd")
    unread = _flag(request.query, "belum_dibaca")
    return await _answer(request, "teguran", lambda c, lim, off: teguran_listing(c, opd, unread, lim, off))


# --- one incident, as a leader may read it ----------------------------------------------------------


async def incident_record(conn: asyncpg.Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """What a leader may know of one incident: when it came, where, to which agencies it went and
    when each step happened, and which agency acknowledged it. Not who did it, the device, the
    routing reasons or the notes' text (dispatch/visibility.py: the leader's row)."""
    row = await conn.fetchrow(
        """SELECT i.id, i.number, i.type, i.state, i.created_at, i.desa_name, i.kecamatan_name,
                  t.routed_at, t.acknowledged_at, t.dispatched_at, t.on_scene_at, t.closed_at,
                  t.escalation_level, t.escalated_at,
                  (SELECT name FROM agency WHERE id = t.acknowledged_agency_id) AS acknowledged_by
             FROM incident i LEFT JOIN incident_track t ON t.incident_id = i.id
            WHERE i.id = $1 AND i.type <> 'test'""",
        incident_id,
    )
    if row is None:
        return None
    routed = await conn.fetch(
        """SELECT a.name, s.assigned_at FROM incident_assignment s JOIN agency a ON a.id = s.agency_id
            WHERE s.incident_id = $1 ORDER BY s.assigned_at, a.name""",
        incident_id,
    )
    steps: list[tuple[str, datetime | None]] = [("Alarm masuk", row["created_at"])]
    steps += [(f"Diteruskan ke {r['name']}", r["assigned_at"]) for r in routed]
    if row["escalated_at"] is not None:
        steps.append(("Dinaikkan ke atasan (belum segera diterima)", row["escalated_at"]))
    if row["acknowledged_at"] is not None:
        who = f" oleh {row['acknowledged_by']}" if row["acknowledged_by"] else ""
        steps.append((f"Diterima{who}", row["acknowledged_at"]))
    if row["dispatched_at"] is not None:
        steps.append(("Unit dikirim", row["dispatched_at"]))
    if row["on_scene_at"] is not None:
        steps.append(("Unit tiba di lokasi", row["on_scene_at"]))
    if row["closed_at"] is not None:
        steps.append((f"Ditutup: {labels.label('incident_state', row['state'])}", row["closed_at"]))
    steps.sort(key=lambda s: s[1] or row["created_at"])
    ack_s = (row["acknowledged_at"] - row["created_at"]).total_seconds() if row["acknowledged_at"] else None
    return {
        "number": row["number"],
        "type": labels.label("alert_type", row["type"]),
        "state": labels.label("incident_state", row["state"]),
        "place": ", ".join(x for x in (row["desa_name"], row["kecamatan_name"]) if x) or "tanpa lokasi",
        "steps": [(words, labels.wib(at, seconds=True)) for words, at in steps],
        "ack": _duration_words(ack_s) if ack_s is not None else "belum diterima",
    }


def _duration_words(seconds: float) -> str:
    from dashboard.figures import duration  # figures link here: imported when used, not at load

    return duration(seconds)


@auth.allow(*READERS)
async def incident_page(request: web.Request) -> web.Response:
    try:
        incident_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise params.BadParam("id", "nomor kejadian tidak dikenal", status=404) from None
    async with request.app[appkeys.POOL].acquire() as conn:
        record = await incident_record(conn, incident_id)
    if record is None:
        raise params.BadParam("id", "kejadian tidak ditemukan", status=404)
    return pages.render(
        request,
        "dashboard/rincian_kedaruratan.html",
        {"title": f"Kejadian darurat nomor {record['number']}", "record": record},
    )


def add_routes(app: web.Application, guard: Any) -> None:
    """The drill-down lists and the incident record page (``dashboard.web.setup`` calls this)."""
    app.router.add_get("/dasbor/rincian/kedaruratan", guard(incidents_page))
    app.router.add_get("/dasbor/rincian/kedaruratan/{id}", guard(incident_page))
    app.router.add_get("/dasbor/rincian/pengaduan", guard(complaints_page))
    app.router.add_get("/dasbor/rincian/disposisi", guard(dispositions_page))
    app.router.add_get("/dasbor/rincian/teguran", guard(teguran_page))
