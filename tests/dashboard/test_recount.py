"""Every tile and table figure of the dashboard against a recount in plain SQL over the base rows
(not the rollups), and the drill-down list behind each number counts the same rows.

The seeded mix: a year of synthetic complaints and dispositions (reds, late, on time, returned),
an OPD with one complaint followed up on time and one left red (the "terlambat 0 beside 50%"
case), a reprimand read and one not, incidents over the last week acknowledged by their own
agency, one routed to Polsek and Dishub acknowledged by Polsek only, and a test alert that must
never count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import pytest
from multidict import MultiDict

from complaints import store
from complaints.model import Actor, Dispose, FollowUp
from complaints.synthetic import seed_synthetic
from core.roles import Role
from core.settings import Settings
from dashboard import drill, figures
from dashboard import tables as dt
from dashboard.definitions import DEFINITIONS
from dashboard.period import Period, month_of, previous_month
from dispatch import presence, service
from tests.dispatch import factory

STAFF = Actor(Role.COMPLAINT_STAFF, None, "sari")
LEADER = Actor(Role.LEADER, None, "bupati")
DAYS = 400
STALE_S = 60.0


@dataclass
class Seeded:
    now: datetime
    world: factory.World
    both_routed: object  # the incident routed to Polsek and Dishub, acknowledged by Polsek


async def drill_count(conn: asyncpg.Connection, href: str, now: datetime) -> int:
    """The count at the top of the drill-down list ``href`` names."""
    url = urlsplit(href)
    q = MultiDict(parse_qsl(url.query))
    if url.path == "/dasbor/rincian/kedaruratan":
        return await drill.count_incidents(conn, drill.IncidentFilter.read(q, now))
    if url.path == "/dasbor/rincian/pengaduan":
        return await drill.count_complaints(conn, drill.ComplaintFilter.read(q, now), now)
    if url.path == "/dasbor/rincian/disposisi":
        return await drill.count_dispositions(conn, drill.DispositionFilter.read(q, now), now)
    if url.path == "/dasbor/rincian/teguran":
        return await drill.count_teguran(conn, None, q.get("belum_dibaca") == "1")
    raise AssertionError(href)


async def _ack(conn: asyncpg.Connection, incident_id: object, after_s: float, agency: int, ago: timedelta) -> None:
    await conn.execute(
        "UPDATE incident SET created_at = created_at - $2::interval WHERE id = $1",
        incident_id,
        ago,
    )
    await conn.execute(
        """UPDATE incident_track t SET acknowledged_at = i.created_at + make_interval(secs => $2),
                                      acknowledged_agency_id = $3
             FROM incident i WHERE i.id = t.incident_id AND t.incident_id = $1""",
        incident_id,
        after_s,
        agency,
    )


@pytest.fixture
async def seeded(pool: asyncpg.Pool, db_dsn: str) -> Seeded:
    now = datetime.now(UTC)
    await seed_synthetic(pool, 600, 0, now=now, batch=600, seed=11)
    async with pool.acquire() as conn:
        world = await factory.seed(conn)
        made = [await factory.incident(conn, police_agency_id=world.polsek_wonosobo) for _ in range(8)]
        kertek = [await factory.incident(conn, police_agency_id=world.polsek_kertek) for _ in range(3)]
        both = await factory.incident(conn, type="accident", police_agency_id=world.polsek_wonosobo)
        test_alert = await factory.incident(conn, type="test", police_agency_id=world.polsek_wonosobo)
    await service.route_pending(pool, Settings(database_url=db_dsn))
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO incident_assignment (incident_id, agency_id, reason) VALUES ($1, $2, 'rule')
               ON CONFLICT DO NOTHING""",
            both.incident_id,
            world.dishub,
        )
        # today: 7 s, 20 s, 65 s; earlier this week: 300 s and 40 s; one never acknowledged
        for m, secs, ago in zip(
            made, (7, 20, 65, 300, 40), (timedelta(0),) * 3 + (timedelta(days=3), timedelta(days=5)), strict=False
        ):
            await _ack(conn, m.incident_id, secs, world.polsek_wonosobo, ago)
        await _ack(conn, kertek[0].incident_id, 12, world.polsek_kertek, timedelta(0))
        await _ack(conn, both.incident_id, 9, world.polsek_wonosobo, timedelta(0))
        await _ack(conn, test_alert.incident_id, 1, world.polsek_wonosobo, timedelta(0))
        # an incident from ten days ago, outside the week; two closed
        await _ack(conn, made[5].incident_id, 30, world.polsek_wonosobo, timedelta(days=10))
        await conn.execute(
            "UPDATE incident SET state = 'resolved' WHERE id = ANY($1::uuid[])",
            [made[0].incident_id, made[3].incident_id],
        )
        await conn.execute("UPDATE incident SET state = 'false_alarm' WHERE id = $1", kertek[1].incident_id)
        await conn.execute("UPDATE incident SET kecamatan_code = '33.07.09' WHERE id = $1", kertek[2].incident_id)

        # Dinas PUPR: one complaint followed up on time, one left red past its 5 working days
        clock = await store.load_clock(conn)
        t0 = now - timedelta(days=20)
        officer = Actor(Role.OPD_OFFICER, None, "petugas", agency_id=world.opd)
        ids = []
        for title in ("Lampu jalan mati", "Jalan berlubang"):
            row = await store.create(
                conn,
                store.NewComplaint(description=title, title=title, kecamatan_code="33.07.09", kecamatan_name="Kertek"),
                store.Actor.citizen(),
                clock=clock,
                now=t0,
            )
            await store.act(conn, row["id"], Dispose(opd_id=world.opd), STAFF, clock=clock, now=t0 + timedelta(hours=2))
            ids.append(row["id"])
        await store.act(conn, ids[0], FollowUp(text="Sudah diganti"), officer, clock=clock, now=t0 + timedelta(days=1))
        # the red one: the sweep is not running here, the stored due instant makes it red
        tid = await store.issue_teguran(conn, world.opd, "Segera tindak lanjuti", LEADER, now=now)
        await store.issue_teguran(conn, world.opd, "Teguran kedua", LEADER, now=now)
        await conn.execute("UPDATE teguran SET read_at = now(), read_by = 'petugas' WHERE id = $1", tid)

        # consoles: Polsek Wonosobo twice (one operator), Dishub; Kertek's went stale, the centre's ended
        for name in ("op-polsek", "op-polsek", "op-dishub", "op-kertek", "op-cc"):
            u = world.users[name]
            await presence.connect(conn, u, u.agency_id, None)
        await conn.execute(
            "UPDATE console_presence SET last_beat = now() - interval '1 hour' WHERE user_id = $1",
            world.users["op-kertek"].id,
        )
        await conn.execute("UPDATE console_presence SET ended_at = now() WHERE user_id = $1", world.users["op-cc"].id)
    # the figures are read after everything was written (the shift report counts up to "now")
    return Seeded(datetime.now(UTC), world, both)


# --- the tiles ----------------------------------------------------------------------------------------


async def test_every_tile_is_its_recount_and_its_list(pool: asyncpg.Pool, seeded: Seeded) -> None:
    now = seeded.now
    got = {t.definition.key: t for t in await figures.tiles(pool, now)}
    async with pool.acquire() as conn:
        open_n = await conn.fetchval(
            """SELECT count(*) FROM incident
                WHERE type <> 'test' AND state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')"""
        )
        assert open_n == 9  # 12 real incidents, 3 closed; the test alert left out
        t = got["kedaruratan_terbuka"]
        assert t.number == open_n and t.value == str(open_n)
        assert await drill_count(conn, t.href, now) == open_n

        for key, days in (("tanggap_hari_ini", 1), ("tanggap_7_hari", 7)):
            p = Period.last_days(days, now)
            secs = sorted(
                r["s"]
                for r in await conn.fetch(
                    """SELECT extract(epoch FROM t.acknowledged_at - i.created_at)::float8 AS s
                         FROM incident i, incident_track t
                        WHERE t.incident_id = i.id AND t.acknowledged_at IS NOT NULL AND i.type <> 'test'
                          AND i.created_at >= $1 AND i.created_at < $2""",
                    p.start,
                    p.end,
                )
            )
            assert secs, key
            n, p50, p90 = await figures.acknowledge_times(conn, p)
            assert n == len(secs)
            assert p50 == pytest.approx(_percentile(secs, 0.5))
            assert p90 == pytest.approx(_percentile(secs, 0.9))
            assert got[key].value == figures.duration(p50) and got[key].number == pytest.approx(p50)
            assert await drill_count(conn, got[key].href, now) == n
        # today: 7, 9, 12, 20, 65 (the test alert's 1 s is not one of them)
        assert (await figures.acknowledge_times(conn, Period.last_days(1, now)))[1] == pytest.approx(12)

        colours = {}
        for c, cond in (
            ("merah", "due_at <= $1"),
            ("kuning", "due_at > $1 AND yellow_at <= $1"),
            ("hijau", "(due_at IS NULL OR due_at > $1) AND (yellow_at IS NULL OR yellow_at > $1)"),
        ):
            colours[c] = await conn.fetchval(
                "SELECT count(*) FROM complaint"
                " WHERE closed_at IS NULL AND stage IN ('verifikasi', 'tindak_lanjut') AND " + cond,
                now,
            )
        t = got["pengaduan_terbuka"]
        assert t.number == sum(colours.values()) and await drill_count(conn, t.href, now) == t.number
        for part in t.parts:
            c = part.definition.key.removeprefix("warna_")
            assert part.number == colours[c] and await drill_count(conn, part.href, now) == colours[c], c
        assert colours["merah"] > 0

        red = await conn.fetchval(
            "SELECT count(*) FROM complaint WHERE closed_at IS NULL AND stage = 'tindak_lanjut' AND due_at <= $1", now
        )
        t = got["kode_merah"]
        assert red > 0 and t.number == red and await drill_count(conn, t.href, now) == red
        assert red == len((await dt.red_list(conn, now, limit=100000)).rows)
        unread = await conn.fetchval("SELECT count(*) FROM teguran WHERE read_at IS NULL")
        assert unread > 0
        (teguran,) = t.parts
        assert teguran.number == unread and await drill_count(conn, teguran.href, now) == unread

        t = got["sla_bulan_ini"]
        for period, share, href in (
            (month_of(now), t.number, t.href),
            (previous_month(now), t.parts[0].number, t.parts[0].href),
        ):
            on_time, due = await _sla_recount(conn, period, now)
            assert share == (round(100.0 * on_time / due, 1) if due else None), period
            assert await drill_count(conn, href, now) == due


def _percentile(values: list[float], q: float) -> float:
    """percentile_cont: linear between the two nearest ranks."""
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


async def _sla_recount(conn: asyncpg.Connection, period: Period, now: datetime) -> tuple[int, int]:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE outcome = 'followed_up' AND on_time) AS on_time,
                  count(*) FILTER (WHERE outcome = 'followed_up' OR (finished_at IS NULL AND due_at <= $3)) AS due
             FROM complaint_disposition WHERE disposed_at >= $1 AND disposed_at < $2""",
        period.start,
        period.end,
        now,
    )
    return row["on_time"], row["due"]


# --- the tables -----------------------------------------------------------------------------------------


async def _check_links(conn: asyncpg.Connection, table: dt.Table, now: datetime) -> int:
    """Every linked count cell equals the count of its drill-down list; returns how many."""
    shown = [c for c in table.columns if c not in table.hidden]
    checked = 0
    for row, links in zip(table.rows, table.cell_links(), strict=True):
        values = [v for c, v in zip(table.columns, row, strict=True) if c not in table.hidden]
        for column, value, href in zip(shown, values, links, strict=True):
            if href is None or not isinstance(value, int) or not href.startswith("/dasbor/rincian/"):
                continue
            if column in ("persen_tepat",):
                continue
            assert await drill_count(conn, href, now) == value, (table.name, column, href)
            checked += 1
    return checked


async def _own_acknowledgements(
    conn: asyncpg.Connection, agency_id: int, start: datetime, end: datetime | None
) -> tuple[list[float], int]:
    """The recount of one agency's emergencies from ``start`` (to ``end``, if given): the sorted
    seconds of the acknowledgements its own operators made, and how many were routed to it."""
    secs = sorted(
        r["s"]
        for r in await conn.fetch(
            """SELECT extract(epoch FROM t.acknowledged_at - i.created_at)::float8 AS s
                 FROM incident i
                 JOIN incident_assignment s ON s.incident_id = i.id AND s.reason IN ('rule', 'fallback')
                 JOIN incident_track t ON t.incident_id = i.id
                WHERE s.agency_id = $1 AND t.acknowledged_agency_id = $1 AND t.acknowledged_at IS NOT NULL
                  AND i.type <> 'test' AND i.created_at >= $2 AND ($3::timestamptz IS NULL OR i.created_at < $3)""",
            agency_id,
            start,
            end,
        )
    )
    routed = await conn.fetchval(
        """SELECT count(*) FROM incident i JOIN incident_assignment s ON s.incident_id = i.id
            WHERE s.agency_id = $1 AND s.reason IN ('rule', 'fallback') AND i.type <> 'test'
              AND i.created_at >= $2 AND ($3::timestamptz IS NULL OR i.created_at < $3)""",
        agency_id,
        start,
        end,
    )
    return secs, routed


async def test_every_table_figure_is_its_recount_and_its_list(pool: asyncpg.Pool, seeded: Seeded) -> None:
    now = seeded.now
    since = now - timedelta(days=DAYS)
    period = Period(since.astimezone(dt.WIB).date(), now.astimezone(dt.WIB).date())
    start = period.start
    async with pool.acquire() as conn:
        t = await dt.status_counts(conn, period)
        want = {
            r["status"]: r["n"]
            for r in await conn.fetch(
                "SELECT status, count(*) AS n FROM complaint WHERE received_at >= $1 GROUP BY status", start
            )
        }
        assert {r[0]: r[2] for r in t.rows} == want
        assert await _check_links(conn, t, now) == len(want)
        # a period in the past ends where it ends: nothing received after its last day
        past = Period(period.first, period.first + timedelta(days=DAYS // 2))
        t = await dt.status_counts(conn, past)
        want_past = {
            r["status"]: r["n"]
            for r in await conn.fetch(
                """SELECT status, count(*) AS n FROM complaint WHERE received_at >= $1 AND received_at < $2
                    GROUP BY status""",
                past.start,
                past.end,
            )
        }
        assert {r[0]: r[2] for r in t.rows} == want_past and want_past != want
        assert await _check_links(conn, t, now) == len(want_past)

        t = await dt.colour_counts(conn, now)
        assert await _check_links(conn, t, now) == 3

        # per OPD: due = on time + late, late includes the still red, the share is on time / due
        t = await dt.opd_compliance(conn, period, now)
        want_opd = {
            r["opd_id"]: r
            for r in await conn.fetch(
                """SELECT opd_id,
                          count(*) FILTER (WHERE outcome = 'followed_up' AND on_time) AS on_time,
                          count(*) FILTER (WHERE (outcome = 'followed_up' AND NOT on_time)
                                              OR (finished_at IS NULL AND due_at <= $2)) AS late,
                          count(*) FILTER (WHERE finished_at IS NULL AND due_at <= $2) AS red,
                          count(*) FILTER (WHERE outcome = 'returned') AS returned
                     FROM complaint_disposition WHERE disposed_at >= $1 GROUP BY opd_id""",
                start,
                now,
            )
        }
        rows = {r[1]: r for r in t.rows}
        for opd_id, w in want_opd.items():
            if not (w["on_time"] or w["late"] or w["returned"]):
                continue
            _, _, _, due, on_time, late, share, red, returned = rows[opd_id]
            assert (on_time, late, red, returned) == (w["on_time"], w["late"], w["red"], w["returned"]), opd_id
            assert due == on_time + late and red <= late
            assert share == (round(100.0 * on_time / due, 1) if due else None)
        pupr = rows[seeded.world.opd]
        assert pupr[3:8] == [2, 1, 1, 50.0, 1]  # the red one is late: "terlambat 1" beside 50%
        assert await _check_links(conn, t, now) > 0

        t = await dt.red_list(conn, now, limit=100000)
        want_red = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM complaint WHERE closed_at IS NULL AND stage = 'tindak_lanjut' AND due_at <= $1
                    ORDER BY due_at""",
                now,
            )
        ]
        assert [r[0] for r in t.rows] == want_red
        for row, links in zip(t.rows, t.cell_links(), strict=True):
            assert links[0] == f"/pengaduan/{row[0]}"  # the number links to the complaint

        t = await dt.by_kecamatan(conn, period)
        want_c = {
            r["k"]: r
            for r in await conn.fetch(
                """SELECT coalesce(kecamatan_code, '') AS k, count(*) AS n,
                          count(*) FILTER (WHERE closed_at IS NULL) AS open
                     FROM complaint WHERE received_at >= $1 GROUP BY 1""",
                start,
            )
        }
        want_i = {
            r["k"]: r["n"]
            for r in await conn.fetch(
                """SELECT coalesce(kecamatan_code, '') AS k, count(*) AS n FROM incident
                    WHERE created_at >= $1 AND type <> 'test' GROUP BY 1""",
                start,
            )
        }
        got = {r[0]: r[2:] for r in t.rows}
        assert set(got) == set(want_c) | set(want_i)
        for k, v in got.items():
            c = want_c.get(k)
            assert v == [c["n"] if c else 0, c["open"] if c else 0, want_i.get(k, 0)], k
        assert sum(r[4] for r in t.rows) == 12  # the test alert is no emergency
        assert await _check_links(conn, t, now) > len(t.rows)

        t = await dt.monthly_trend(conn, period)
        want_m = {
            r["m"]: (r["n"], r["done"])
            for r in await conn.fetch(
                """SELECT to_char(date_trunc('month', received_at AT TIME ZONE 'Asia/Jakarta'), 'YYYY-MM') AS m,
                          count(*) AS n, count(*) FILTER (WHERE status = 'selesai') AS done
                     FROM complaint WHERE received_at >= $1 GROUP BY 1""",
                start,
            )
        }
        assert {r[0]: (r[1], r[2]) for r in t.rows} == want_m
        assert await _check_links(conn, t, now) > 0

        t = await dt.time_to_acknowledge(conn, period)
        got_a = {r[0]: r for r in t.rows}
        names = {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM agency")}
        for agency_id in {seeded.world.polsek_wonosobo, seeded.world.polsek_kertek, seeded.world.dishub}:
            secs, routed = await _own_acknowledgements(conn, agency_id, start, None)
            row = got_a[names[agency_id]]
            assert row[1:3] == [routed, len(secs)], names[agency_id]
            if secs:
                assert row[3] == f"{_percentile(secs, 0.5):.0f}" and row[4] == f"{_percentile(secs, 0.9):.0f}"
        # Dishub was routed the accident but Polsek acknowledged it: Dishub is credited with nothing
        assert got_a[names[seeded.world.dishub]][1:5] == [1, 0, "", ""]
        assert await _check_links(conn, t, now) > 0
        # a period starts at 00:00 WIB of its first day, whatever the hour it was asked at: an
        # incident earlier that day is in the figure as in its list
        t = await dt.time_to_acknowledge(conn, Period.last_days(3, now))
        assert await _check_links(conn, t, now) > 0

    async with pool.acquire() as conn:
        # who is at a console now: distinct active operators with a live, fresh console row
        t = await dt.presence_now(conn, STALE_S)
        want_p = {
            r["name"]: (r["operators"], r["open"])
            for r in await conn.fetch(
                """SELECT g.name,
                          (SELECT count(DISTINCT p.user_id) FROM console_presence p
                             JOIN app_user u ON u.id = p.user_id AND u.active
                            WHERE p.agency_id = g.id AND p.ended_at IS NULL
                              AND p.last_beat > now() - make_interval(secs => $1)) AS operators,
                          (SELECT count(*) FROM incident_assignment a JOIN incident i ON i.id = a.incident_id
                            WHERE a.agency_id = g.id
                              AND i.state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints')) AS open
                     FROM agency g WHERE g.active AND g.kind <> 'opd'""",
                STALE_S,
            )
        }
        assert {r[0]: (r[1], r[4]) for r in t.rows} == want_p
        names = {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM agency")}
        assert want_p[names[seeded.world.polsek_wonosobo]][0] == 1 and want_p[names[seeded.world.polsek_kertek]][0] == 0

        # the shift report: no shift is defined, so each agency's alarms are one "outside the roster"
        # row; its alarms, acknowledgements (own agency only) and times are the recount's
        t = await dt.shift_report(conn, since, now, STALE_S)
        got_s = {r[0]: r for r in t.page_rows or []}
        for agency_id in {seeded.world.polsek_wonosobo, seeded.world.polsek_kertek, seeded.world.dishub}:
            secs, routed = await _own_acknowledgements(conn, agency_id, since, now)
            row = got_s[names[agency_id]]
            assert row[5:7] == [routed, len(secs)], names[agency_id]
            want_times = [round(_percentile(secs, 0.5)), round(_percentile(secs, 0.9))] if secs else [None, None]
            assert row[7:9] == want_times, names[agency_id]
        assert got_s[names[seeded.world.dishub]][5:7] == [1, 0]  # Polsek's acknowledgement is not Dishub's

    # each table says which of its columns are figures, and each such column has its definition
    for t in await dt.all_tables(pool, now, Period.last_days(30, now), presence_stale_s=60):
        assert t.figures, t.name
        for c in t.figures:
            assert f"{t.name}.{c}" in DEFINITIONS and c in t.columns, (t.name, c)
        assert len(t.tips()) == len(t.headers())


def test_every_tile_and_table_figure_has_a_definition_in_words() -> None:
    tile_keys = {
        "kedaruratan_terbuka",
        "tanggap_hari_ini",
        "tanggap_7_hari",
        "pengaduan_terbuka",
        "warna_merah",
        "warna_kuning",
        "warna_hijau",
        "kode_merah",
        "teguran_belum_dibaca",
        "sla_bulan_ini",
        "sla_bulan_lalu",
    }
    figures_of = {
        "status": ("jumlah",),
        "warna": ("jumlah",),
        "opd": ("jatuh_tempo", "tepat_waktu", "terlambat", "persen_tepat", "merah_terbuka", "dikembalikan"),
        "merah": ("nomor",),
        "kecamatan": ("pengaduan", "pengaduan_terbuka", "kedaruratan"),
        "tren": ("masuk", "selesai_sekarang"),
        "tanggap": ("kejadian", "diterima", "p50_detik", "p90_detik", "dieskalasi"),
        "kehadiran": ("operator_hadir", "insiden_terbuka"),
        "piket": (
            "alarm_masuk",
            "diterima",
            "p50_detik",
            "p90_detik",
            "eskalasi_tanpa_tanggapan",
            "jam_tanpa_operator",
        ),
    }
    keys = tile_keys | {f"{t}.{c}" for t, cs in figures_of.items() for c in cs}
    for k in keys:
        d = DEFINITIONS[k]
        assert len(d.counts) > 40 and d.title and d.unit, k
        # Bahasa Indonesia, not English
        assert not any(w in f" {d.counts.lower()} " for w in (" the ", " of ", " and ", " count")), k
