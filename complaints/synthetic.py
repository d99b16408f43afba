"""``siaga seed --synthetic``: a year of made-up complaints and incidents for the dashboard benchmark.

Everything written here is marked: complaints and dispositions have ``synthetic = true`` and
tracking ids starting ``SYN-``, devices are ``syn-...`` named "SINTETIS", alerts come on channel
``synthetic`` with ``{"synthetic": true}``, categories are ``sintetis-...``. Rows go in with COPY
into a temporary table and one INSERT ... SELECT per batch, each batch its own short transaction
(the event bus waits for open write transactions, so one long one would stall the consoles).
No events are appended: consoles must not light up with a million fake complaints.
"""

from __future__ import annotations

import bisect
import csv
import io
import logging
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import asyncpg

from complaints.clock import WIB, WorkingDayClock
from complaints.model import SlaLimits

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
CATEGORIES = [
    ("jalan-rusak", "Jalan rusak", "Infrastruktur", "dpupr"),
    ("lampu-jalan", "Lampu penerangan jalan mati", "Infrastruktur", "disperkimhub"),
    ("sampah", "Sampah menumpuk", "Lingkungan", "dlh"),
    ("air-bersih", "Air bersih tidak mengalir", "Infrastruktur", "pdam"),
    ("drainase", "Saluran air tersumbat", "Infrastruktur", "dpupr"),
    ("pelayanan-kesehatan", "Pelayanan puskesmas", "Kesehatan", "dinkes"),
    ("administrasi-kependudukan", "KTP/KK", "Pelayanan publik", "disdukcapil"),
    ("sekolah", "Sarana sekolah", "Pendidikan", "disdikpora"),
    ("bansos", "Bantuan sosial", "Sosial", "dinsos"),
    ("pasar", "Kebersihan dan ketertiban pasar", "Ekonomi", "disdagkop"),
]
INCIDENT_TYPES = (("panic", 50), ("accident", 20), ("crime", 10), ("fire", 8), ("medical", 10), ("test", 2))


class FastCalendar:
    """The working-day clock as arithmetic over a precomputed list of working days (for a million
    rows); checked against :class:`WorkingDayClock` on a sample before use."""

    def __init__(self, clock: WorkingDayClock, first: date, last: date) -> None:
        self.first = first
        self.days = list(clock.working_days(first, last))
        self.ordinals = [d.toordinal() for d in self.days]

    def _start(self, d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=WIB)

    def position(self, t: datetime) -> float:
        """Working days from the start of the calendar to ``t``."""
        local = t.astimezone(WIB)
        o = local.date().toordinal()
        k = bisect.bisect_left(self.ordinals, o)
        if k < len(self.ordinals) and self.ordinals[k] == o:
            return k + (local - self._start(local.date())).total_seconds() / 86400.0
        return float(k)

    def add(self, t: datetime, days: float) -> datetime:
        target = self.position(t) + days
        k = int(target)
        frac = target - k
        if frac < 1e-9 and k > 0:
            return self._start(self.days[k - 1]) + DAY
        return self._start(self.days[k]) + timedelta(days=frac)


@dataclass
class SeedSummary:
    complaints: int = 0
    dispositions: int = 0
    incidents: int = 0
    seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


def _areas() -> list[tuple[str, str, str, str]]:
    data = resources.files("core.data.wonosobo").joinpath("wilayah.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(data)))
    kec = {r["code"]: r["name"] for r in rows if r["level"] == "kecamatan"}
    return [(r["code"], r["name"], r["code"][:8], kec[r["code"][:8]]) for r in rows if len(r["code"]) == 13]


async def _ensure_opds(conn: asyncpg.Connection) -> list[tuple[int, str]]:
    rows = await conn.fetch("SELECT id, code FROM agency WHERE kind = 'opd' AND active ORDER BY id")
    if len(rows) >= 5:
        return [(r["id"], r["code"]) for r in rows]
    data = resources.files("core.data.wonosobo").joinpath("opd.csv").read_text("utf-8")
    for r in csv.DictReader(io.StringIO(data)):
        # the same codes as `siaga reference load`, so a later load finds them
        await conn.execute(
            """INSERT INTO agency (code, kind, name, short_name, source) VALUES ($1, 'opd', $2, $3, $4)
               ON CONFLICT (code) DO NOTHING""",
            "opd-" + re.sub(r"[^a-z0-9]+", "-", r["singkatan"].lower()).strip("-"),
            r["nama"],
            r["singkatan"],
            "siaga seed --synthetic (opd.csv)",
        )
    rows = await conn.fetch("SELECT id, code FROM agency WHERE kind = 'opd' AND active ORDER BY id")
    return [(r["id"], r["code"]) for r in rows]


async def _ensure_categories(conn: asyncpg.Connection, opds: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """(category id, default OPD id) of the synthetic categories."""
    out = []
    for i, (code, name, group, opd_hint) in enumerate(CATEGORIES):
        opd = next((o for o, c in opds if opd_hint in c), opds[i % len(opds)][0])
        cid = await conn.fetchval(
            """INSERT INTO complaint_category (code, name, group_name, default_opd_id, description)
               VALUES ($1, $2, $3, $4, 'SINTETIS: kategori data uji')
               ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
            "sintetis-" + code,
            "[SINTETIS] " + name,
            group,
            opd,
        )
        out.append((cid, opd))
    return out


_COMPLAINT_COLS = [
    "tracking_id",
    "token",
    "kind",
    "channel",
    "status",
    "title",
    "description",
    "category_id",
    "opd_id",
    "lat",
    "lon",
    "desa_code",
    "desa_name",
    "kecamatan_code",
    "kecamatan_name",
    "anonim",
    "rahasia",
    "received_at",
    "updated_at",
    "stage",
    "stage_started_at",
    "yellow_at",
    "due_at",
    "red_at",
    "bounce_count",
    "rounds",
    "closed_at",
    "close_reason",
    "e2e_working_s",
]
_SYN_C_COLUMNS = """
    tracking_id, token, kind, channel, status, title, description, category_id, opd_id, lat, lon,
    desa_code, desa_name, kecamatan_code, kecamatan_name, anonim, rahasia, received_at,
    updated_at, stage, stage_started_at, yellow_at, due_at, red_at, bounce_count, rounds,
    closed_at, close_reason, e2e_working_s"""
_CREATE_SYN_C = "CREATE TEMP TABLE syn_c ON COMMIT DROP AS SELECT" + _SYN_C_COLUMNS + " FROM complaint WITH NO DATA"
_INSERT_FROM_SYN_C = (
    "INSERT INTO complaint (" + _SYN_C_COLUMNS + ", synthetic) SELECT" + _SYN_C_COLUMNS + ", true FROM syn_c"
)
_DISP_COLS = [
    "tracking_id",
    "opd_id",
    "round",
    "disposed_at",
    "yellow_at",
    "due_at",
    "red_at",
    "opd_head_notified_at",
    "finished_at",
    "outcome",
    "followup_text",
    "return_reason",
    "working_s",
    "on_time",
]


class _Simulator:
    """One complaint's life up to ``now``, drawn at random (rates vary per OPD, so rankings differ)."""

    def __init__(
        self,
        rng: random.Random,
        cal: FastCalendar,
        limits: SlaLimits,
        now: datetime,
        opds: list[tuple[int, str]],
        cats: list[tuple[int, int]],
        run: str,
    ) -> None:
        self.rng, self.cal, self.limits, self.now, self.run = rng, cal, limits, now, run
        self.opds = [o for o, _ in opds]
        self.cats = cats
        self.quality = {o: rng.uniform(0.55, 0.98) for o in self.opds}
        self.areas = _areas()

    def complaint(self, i: int) -> tuple[tuple[object, ...], list[tuple[object, ...]]]:
        rng, cal, lim, now = self.rng, self.cal, self.limits, self.now
        received = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        cat, default_opd = rng.choice(self.cats)
        desa = rng.choice(self.areas)
        tracking = f"SYN-{self.run}-{i:07d}"
        kind = rng.choices(("pengaduan", "aspirasi", "permintaan_informasi"), (80, 15, 5))[0]
        channel = rng.choices(("web", "open311", "app", "dispatch", "desk"), (40, 20, 25, 10, 5))[0]
        lat, lon = -7.36 + rng.uniform(-0.2, 0.2), 109.92 + rng.uniform(-0.2, 0.2)
        pos_r = cal.position(received)
        verified = cal.add(received, rng.expovariate(1 / 1.2))
        fate = rng.random()
        disps: list[tuple[object, ...]] = []
        base = dict(
            status="verifikasi",
            opd=None,
            stage=None,
            start=None,
            yellow=None,
            due=None,
            red=None,
            bounces=0,
            rounds=0,
            closed=None,
            reason=None,
            e2e=None,
        )

        def stage(name: str, start: datetime, limit: int) -> dict[str, object]:
            due = cal.add(start, limit)
            return dict(
                stage=name, start=start, yellow=cal.add(start, limit * 0.6), due=due, red=due if due <= now else None
            )

        def close(at: datetime, status: str, reason: str, waited: float = 0.0) -> dict[str, object]:
            e2e = max(0.0, cal.position(at) - pos_r - waited) * 86400
            return dict(status=status, closed=at, reason=reason, e2e=e2e)

        s = dict(base)
        if verified > now:
            s.update(stage("verifikasi", received, lim.verification_days))
        elif fate < 0.05:
            s.update(close(verified, "bukan_wewenang", "bukan_wewenang"))
        elif fate < 0.12:
            s.update(close(verified, "arsip", rng.choice(("spam", "duplikat"))))
        else:
            opd = default_opd if rng.random() < 0.8 else rng.choice(self.opds)
            disposed = verified
            rounds = 0
            if rng.random() < 0.05:  # a bounce: the first OPD returns it
                rounds += 1
                back = cal.add(disposed, rng.uniform(0.3, 3))
                if back > now:
                    s.update(
                        status="disposisi",
                        opd=opd,
                        rounds=rounds,
                        **stage("tindak_lanjut", disposed, lim.followup_days),
                    )
                    disps.append(self._disp(tracking, opd, rounds, disposed, None, None, now))
                    return self._row(s, tracking, kind, channel, cat, lat, lon, desa, received), disps
                disps.append(self._disp(tracking, opd, rounds, disposed, back, "returned", now))
                s["bounces"] = 1
                disposed = cal.add(back, rng.expovariate(1 / 0.8))
                opd = rng.choice([o for o in self.opds if o != opd] or self.opds)
                if disposed > now:
                    s.update(stage("verifikasi", back, lim.verification_days))
                    return self._row(s, tracking, kind, channel, cat, lat, lon, desa, received), disps
            rounds += 1
            on_time = rng.random() < self.quality[opd]
            took = rng.uniform(0.1, lim.followup_days - 0.01) if on_time else rng.uniform(lim.followup_days, 15)
            followed = cal.add(disposed, took)
            s.update(opd=opd, rounds=rounds)
            if followed > now:
                s.update(status="disposisi", **stage("tindak_lanjut", disposed, lim.followup_days))
                disps.append(self._disp(tracking, opd, rounds, disposed, None, None, now))
            else:
                disps.append(self._disp(tracking, opd, rounds, disposed, followed, "followed_up", now))
                if rng.random() < 0.7:
                    answered = cal.add(followed, rng.uniform(0.1, 6))
                    reason = "diterima"
                else:
                    answered = cal.add(followed, lim.response_days)
                    reason = "otomatis"
                if answered > now:
                    s.update(status="tindak_lanjut", **stage("tanggapan", followed, lim.response_days))
                    s["red"] = None
                else:
                    s.update(close(answered, "selesai", reason, cal.position(answered) - cal.position(followed)))
        return self._row(s, tracking, kind, channel, cat, lat, lon, desa, received), disps

    def _disp(
        self,
        tracking: str,
        opd: int,
        rnd: int,
        disposed: datetime,
        finished: datetime | None,
        outcome: str | None,
        now: datetime,
    ) -> tuple[object, ...]:
        lim = self.limits.followup_days
        due = self.cal.add(disposed, lim)
        red = due if due <= (finished or now) else None
        working = (self.cal.position(finished) - self.cal.position(disposed)) * 86400 if finished else None
        return (
            tracking,
            opd,
            rnd,
            disposed,
            self.cal.add(disposed, lim * 0.6),
            due,
            red,
            red,
            finished,
            outcome,
            "SINTETIS: sudah ditindaklanjuti" if outcome == "followed_up" else None,
            "SINTETIS: bukan kewenangan" if outcome == "returned" else None,
            working,
            (finished < due) if finished else None,
        )

    def _row(
        self,
        s: dict[str, object],
        tracking: str,
        kind: str,
        channel: str,
        cat: int,
        lat: float,
        lon: float,
        desa: tuple[str, str, str, str],
        received: datetime,
    ) -> tuple[object, ...]:
        updated = s["closed"] or s["start"] or received
        return (
            tracking,
            "syn-" + tracking,
            kind,
            channel,
            s["status"],
            "[SINTETIS] laporan uji",
            "Data sintetis untuk uji beban dasbor; bukan laporan warga.",
            cat,
            s["opd"],
            lat,
            lon,
            desa[0],
            desa[1],
            desa[2],
            desa[3],
            self.rng.random() < 0.1,
            self.rng.random() < 0.05,
            received,
            updated,
            s["stage"],
            s["start"],
            s["yellow"],
            s["due"],
            s["red"],
            s["bounces"],
            s["rounds"],
            s["closed"],
            s["reason"],
            s["e2e"],
        )


async def seed_synthetic(
    pool: asyncpg.Pool,
    complaints: int,
    incidents: int,
    *,
    clock: WorkingDayClock | None = None,
    limits: SlaLimits = SlaLimits(),  # noqa: B008 - frozen
    now: datetime | None = None,
    batch: int = 5000,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedSummary:
    """Write ``complaints`` synthetic complaints (with their dispositions) and ``incidents``
    synthetic incidents spread over the year before ``now``."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    run = secrets.token_hex(2).upper() if seed is None else f"{seed % 65536:04X}"
    async with pool.acquire() as conn:
        clock = clock or WorkingDayClock(r["day"] for r in await conn.fetch("SELECT day FROM collective_leave"))
        opds = await _ensure_opds(conn)
        cats = await _ensure_categories(conn, opds)
    first = (now - timedelta(days=400)).astimezone(WIB).date()
    cal = FastCalendar(clock, first, (now + timedelta(days=400)).astimezone(WIB).date())
    for _ in range(200):  # the fast calendar must agree with the clock
        t = now - timedelta(seconds=rng.uniform(0, 360 * 86400))
        n = rng.choice((0.6, 1.8, 3, 5, 10))
        expected = clock.add(t, n)
        assert expected is not None and abs((cal.add(t, n) - expected).total_seconds()) < 1e-3, (t, n)
    sim = _Simulator(rng, cal, limits, now, opds, cats, run)
    summary = SeedSummary()

    done = 0
    while done < complaints:
        n = min(batch, complaints - done)
        rows: list[tuple[object, ...]] = []
        disps: list[tuple[object, ...]] = []
        for i in range(done, done + n):
            row, d = sim.complaint(i)
            rows.append(row)
            disps.extend(d)
        async with pool.acquire() as conn, conn.transaction():
            # same column types, no constraints or identity
            await conn.execute(_CREATE_SYN_C)
            await conn.copy_records_to_table("syn_c", records=rows, columns=_COMPLAINT_COLS)
            await conn.execute(_INSERT_FROM_SYN_C)
            await conn.execute(
                """CREATE TEMP TABLE syn_d (tracking_id text, opd_id bigint, round int, disposed_at timestamptz,
                       yellow_at timestamptz, due_at timestamptz, red_at timestamptz,
                       opd_head_notified_at timestamptz, finished_at timestamptz, outcome text,
                       followup_text text, return_reason text, working_s float8, on_time boolean) ON COMMIT DROP"""
            )
            await conn.copy_records_to_table("syn_d", records=disps, columns=_DISP_COLS)
            await conn.execute(
                """INSERT INTO complaint_disposition
                       (complaint_id, opd_id, round, disposed_at, disposed_by, yellow_at, due_at, red_at,
                        opd_head_notified_at, finished_at, outcome, followup_text, return_reason, working_s,
                        on_time, synthetic)
                   SELECT c.id, d.opd_id, d.round, d.disposed_at, 'sintetis', d.yellow_at, d.due_at, d.red_at,
                          d.opd_head_notified_at, d.finished_at, d.outcome, d.followup_text, d.return_reason,
                          d.working_s, d.on_time, true
                     FROM syn_d d JOIN complaint c ON c.tracking_id = d.tracking_id"""
            )
        done += n
        summary.complaints += n
        summary.dispositions += len(disps)
        if progress:
            progress(f"complaints {done}/{complaints}")

    if complaints:
        summary.extra["teguran"] = await _seed_teguran(pool, now, run)
        if progress:
            progress(f"teguran {summary.extra['teguran']}")
    if incidents:
        summary.incidents = await _seed_incidents(pool, incidents, rng, now, run, batch, progress)
    async with pool.acquire() as conn:
        for table in (
            "complaint",
            "complaint_disposition",
            "teguran",
            "alert",
            "incident",
            "incident_track",
            "incident_assignment",
        ):
            await conn.execute(f"VACUUM ANALYZE {table}")
    summary.seconds = time.monotonic() - started
    return summary


async def _ensure_responders(conn: asyncpg.Connection) -> None:
    """The Polres, the Polsek of each kecamatan and Dishub, with the codes `siaga reference load`
    gives them (so a later load finds them): without them every emergency would fall back to the
    command centre and the per-agency figures would have one agency. This package may not import
    gateway/, so the rows are read from the same shipped CSV here."""
    if await conn.fetchval("SELECT count(*) FROM agency WHERE kind IN ('polres', 'polsek') AND active"):
        return
    polres = await conn.fetchval(
        """INSERT INTO agency (code, kind, name, short_name, source)
           VALUES ('polres-wonosobo', 'polres', 'Polres Wonosobo', 'Polres', 'siaga seed --synthetic (polsek.csv)')
           ON CONFLICT (code) DO UPDATE SET active = agency.active RETURNING id"""
    )
    data = resources.files("core.data.wonosobo").joinpath("polsek.csv").read_text("utf-8")
    for r in csv.DictReader(io.StringIO(data)):
        await conn.execute(
            """INSERT INTO agency (code, kind, name, kecamatan_code, parent_id, source)
               VALUES ($1, 'polsek', $2, $3, $4, 'siaga seed --synthetic (polsek.csv)')
               ON CONFLICT (code) DO NOTHING""",
            re.sub(r"[^a-z0-9]+", "-", r["unit"].lower()).strip("-"),
            r["unit"],
            r["kode_kec"],
            polres,
        )
    await conn.execute(
        """INSERT INTO agency (code, kind, name, short_name, source)
           VALUES ('dishub', 'dishub', 'Disperkimhub Wonosobo, Bidang Perhubungan', 'Dishub',
                   'siaga seed --synthetic') ON CONFLICT (code) DO NOTHING"""
    )


@dataclass(frozen=True)
class _Responders:
    """What routing needs to know about the agencies, read from the database as dispatch reads it.

    The decision itself mirrors dispatch/routing.py ``route`` (this package may not import
    dispatch/); tests/complaints/test_synthetic.py checks the seeded assignments against it."""

    command_centre: int
    by_kind: dict[str, list[int]]
    polsek_of: dict[str, int]  # kecamatan code -> the Polsek covering it (the first, as the gateway picks)
    parent: dict[int, int]
    rules: dict[str, list[tuple[str, str | None, bool]]]  # type -> (target, agency kind, fallback to cc)

    def police(self, kecamatan: str | None) -> int | None:
        if kecamatan is None:
            return None
        polsek = self.polsek_of.get(kecamatan)
        if polsek is not None:
            return polsek
        polres = self.by_kind.get("polres")
        return polres[0] if polres else None

    def route(self, kind: str, police: int | None, located: bool) -> tuple[str, bool, list[tuple[int, str]]]:
        """(route reason, dispatch, [(agency, 'rule'|'fallback')]) as dispatch.routing.route decides."""
        cc = self.command_centre
        mine = self.rules.get(kind, [])
        if mine and all(t == "none" for t, _, _ in mine):
            return "no_dispatch", False, []
        if not located:
            return "unknown_location", True, [(cc, "fallback")]
        if not mine:
            return "no_rule", True, [(cc, "fallback")]
        chosen: dict[int, str] = {}
        fell_back = False
        for target, agency_kind, fallback in mine:
            if target == "none":
                continue
            if target == "covering_police":
                found = [police] if police is not None else self.by_kind.get("polres", [])
            elif target == "covering_dishub":
                found = self.by_kind.get("dishub", [])  # synthetic incidents carry no Dishub post
            elif target == "agency_kind":
                found = self.by_kind.get(agency_kind or "", [])
            else:
                found = [cc]
            for a in found:
                chosen.setdefault(a, "rule")
            if not found and fallback:
                fell_back = True
                chosen.setdefault(cc, "fallback")
        if not chosen:
            return "no_agency", True, [(cc, "fallback")]
        return ("rule_fallback" if fell_back else "rule"), True, list(chosen.items())


async def _responders(conn: asyncpg.Connection) -> _Responders:
    await _ensure_responders(conn)
    rows = await conn.fetch("SELECT id, kind, kecamatan_code, parent_id FROM agency WHERE active ORDER BY id")
    by_kind: dict[str, list[int]] = {}
    polsek_of: dict[str, int] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r["id"])
        if r["kind"] == "polsek" and r["kecamatan_code"]:
            polsek_of.setdefault(r["kecamatan_code"], r["id"])
    rules: dict[str, list[tuple[str, str | None, bool]]] = {}
    for r in await conn.fetch(
        "SELECT alert_type, target, agency_kind, fallback_command_centre FROM routing_rule WHERE active ORDER BY id"
    ):
        rules.setdefault(r["alert_type"], []).append((r["target"], r["agency_kind"], r["fallback_command_centre"]))
    return _Responders(
        command_centre=by_kind["command_centre"][0],
        by_kind=by_kind,
        polsek_of=polsek_of,
        parent={r["id"]: r["parent_id"] for r in rows if r["parent_id"] is not None},
        rules=rules,
    )


# The escalation timers of core/settings.py (escalate_supervisor_s, escalate_command_centre_s).
_ESCALATE_SUPERVISOR_S = 60.0
_ESCALATE_COMMAND_CENTRE_S = 120.0


class _IncidentSimulator:
    """One emergency's life up to ``now``: routed as the dispatcher would, acknowledged by one of
    its agencies (slow ones escalate as the timers would), then dispatched, on scene and resolved
    with lognormal stage times that differ per agency; a false alarm or a hand-over to the
    complaints desk now and then; whatever has not happened by ``now`` is left open."""

    def __init__(self, rng: random.Random, now: datetime, who: _Responders) -> None:
        self.rng, self.now, self.who = rng, now, who
        every = sorted({a for ids in who.by_kind.values() for a in ids})
        # how quick each agency is, so the per-agency figures differ
        self.pace = {a: rng.uniform(0.6, 1.7) for a in every}

    def incident(
        self, kind: str, at: datetime, desa: tuple[str, str, str, str] | None
    ) -> tuple[tuple[object, ...], list[tuple[int, str, datetime]]]:
        rng, now, who = self.rng, self.now, self.who
        police = who.police(desa[2] if desa else None)
        reason, dispatch, routed = who.route(kind, police, desa is not None)
        routed_at = at + timedelta(seconds=rng.uniform(0.2, 1.5))
        assignments = [(a, why, routed_at) for a, why in routed]

        def upto(t: datetime | None) -> datetime | None:
            return t if t is not None and t <= now else None

        level, escalated = 0, None
        ack = ack_agency = dispatched = on_scene = closed = None
        if not dispatch:
            # a test press: logged, nobody alerted; the desk clears it as a false alarm
            closed = routed_at + timedelta(seconds=rng.lognormvariate(6.5, 0.8))
            state = "false_alarm" if closed <= now else "new"
        else:
            first = routed[0][0]
            pace = self.pace[first]
            ack = at + timedelta(seconds=rng.lognormvariate(3.3, 0.8) * pace)  # median ~27 s
            for after, lvl in ((_ESCALATE_SUPERVISOR_S, 1), (_ESCALATE_COMMAND_CENTRE_S, 2)):
                if ack - at > timedelta(seconds=after) and at + timedelta(seconds=after) <= now:
                    level, escalated = lvl, at + timedelta(seconds=after)
            if level == 2 and escalated is not None:
                have = {a for a, _, _ in assignments}
                extra = [who.command_centre] + [who.parent[a] for a, _ in routed if a in who.parent]
                for a in dict.fromkeys(extra):
                    if a not in have:
                        assignments.append((a, "escalation", escalated))
            # who acknowledged: mostly the first agency routed to (the police for an accident)
            if level == 2 and rng.random() < 0.25:
                ack_agency = who.command_centre
            elif len(routed) > 1 and rng.random() < 0.3:
                ack_agency = rng.choice(routed[1:])[0]
            else:
                ack_agency = first
            if ack_agency not in {a for a, _, _ in assignments}:
                ack_agency = first
            fate = rng.random()
            if fate < 0.12:
                closed, end_state = ack + timedelta(seconds=rng.lognormvariate(5.0, 0.7)), "false_alarm"
            elif fate < 0.16:
                closed, end_state = ack + timedelta(seconds=rng.lognormvariate(5.7, 0.6)), "handed_to_complaints"
            else:
                dispatched = ack + timedelta(seconds=rng.lognormvariate(4.6, 0.7) * pace)  # ~100 s
                if rng.random() < 0.92:
                    on_scene = dispatched + timedelta(seconds=rng.lognormvariate(6.7, 0.5) * pace)  # ~13 min
                lingering = rng.random() < 0.08  # a long job (a search, a fire's aftermath): open for days
                work = rng.lognormvariate(11.5, 0.6) if lingering else rng.lognormvariate(7.8, 0.7)  # 1 d / 40 min
                closed, end_state = (on_scene or dispatched) + timedelta(seconds=work), "resolved"
            ack, dispatched, on_scene, closed = upto(ack), upto(dispatched), upto(on_scene), upto(closed)
            if ack is None:
                ack_agency = None
            if closed is not None:
                state = end_state
            elif on_scene is not None:
                state = "on_scene"
            elif dispatched is not None:
                state = "dispatched"
            elif ack is not None:
                state = "acknowledged"
            else:
                state = "new"
        updated = max(t for t in (at, ack, dispatched, on_scene, closed, escalated) if t is not None)
        if desa is None:
            lat = lon = None
            source = "unknown"
        else:
            lat, lon, source = -7.36 + rng.uniform(-0.2, 0.2), 109.92 + rng.uniform(-0.2, 0.2), "gps"
        row = (
            kind,
            at,
            lat,
            lon,
            source,
            desa[0] if desa else None,
            desa[1] if desa else None,
            desa[2] if desa else None,
            desa[3] if desa else None,
            police,
            state,
            updated,
            routed_at,
            dispatch,
            reason,
            level,
            escalated,
            ack,
            ack_agency,
            dispatched,
            on_scene,
            upto(closed),
        )
        return row, assignments


_SYN_I_COLS = (
    "device_id, seq, type, at, lat, lon, location_source, desa_code, desa_name, kecamatan_code, kecamatan_name, "
    "police_agency_id, state, updated_at, routed_at, dispatch, route_reason, escalation_level, escalated_at, "
    "acknowledged_at, acknowledged_agency_id, dispatched_at, on_scene_at, closed_at"
)


async def _seed_incidents(
    pool: asyncpg.Pool,
    incidents: int,
    rng: random.Random,
    now: datetime,
    run: str,
    batch: int,
    progress: Callable[[str], None] | None,
) -> int:
    areas = _areas()
    types = [t for t, _ in INCIDENT_TYPES]
    weights = [w for _, w in INCIDENT_TYPES]
    n_devices = max(1, min(500, incidents // 100))
    devices = [f"syn-{run.lower()}-{i:04d}" for i in range(n_devices)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO device (id, name, description, kind) VALUES ($1, $2, 'data sintetis', 'button')",
            [(d, f"SINTETIS tombol {d}") for d in devices],
        )
        sim = _IncidentSimulator(rng, now, await _responders(conn))
    seqs = dict.fromkeys(devices, 0)
    recent = max(0.01, 40 / incidents)
    done = 0
    while done < incidents:
        n = min(batch, incidents - done)
        rows: list[tuple[object, ...]] = []
        assigned: list[tuple[object, ...]] = []
        for _ in range(n):
            dev = rng.choice(devices)
            seqs[dev] += 1
            # the last two days busier than the year's average, so "open now" has rows at any size
            ago = rng.uniform(0, 2 * 86400) if rng.random() < recent else rng.uniform(0, 365 * 86400)
            at = now - timedelta(seconds=ago)
            desa = rng.choice(areas) if rng.random() > 0.01 else None  # a few with no fix at all
            row, assignments = sim.incident(rng.choices(types, weights)[0], at, desa)
            rows.append((dev, seqs[dev], *row))
            assigned.extend((dev, seqs[dev], a, why, t) for a, why, t in assignments)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """CREATE TEMP TABLE syn_i (device_id text, seq bigint, type text, at timestamptz, lat float8,
                       lon float8, location_source text, desa_code text, desa_name text, kecamatan_code text,
                       kecamatan_name text, police_agency_id bigint, state text, updated_at timestamptz,
                       routed_at timestamptz, dispatch boolean, route_reason text, escalation_level smallint,
                       escalated_at timestamptz, acknowledged_at timestamptz, acknowledged_agency_id bigint,
                       dispatched_at timestamptz, on_scene_at timestamptz, closed_at timestamptz) ON COMMIT DROP;
                   CREATE TEMP TABLE syn_a (device_id text, seq bigint, agency_id bigint, reason text,
                       assigned_at timestamptz) ON COMMIT DROP"""
            )
            await conn.copy_records_to_table("syn_i", records=rows)
            await conn.copy_records_to_table("syn_a", records=assigned)
            await conn.execute(
                """INSERT INTO alert (device_id, seq, type, device_ts, received_at, committed_at, channel, payload)
                   SELECT device_id, seq, type, at, at, at, 'synthetic', '{"synthetic": true}'::jsonb FROM syn_i"""
            )
            await conn.execute(
                """INSERT INTO incident (alert_id, device_id, type, state, created_at, updated_at, lat, lon,
                                         location_source, desa_code, desa_name, kecamatan_code, kecamatan_name,
                                         police_agency_id)
                   SELECT a.id, s.device_id, s.type, s.state, s.at, s.updated_at, s.lat, s.lon, s.location_source,
                          s.desa_code, s.desa_name, s.kecamatan_code, s.kecamatan_name, s.police_agency_id
                     FROM syn_i s JOIN alert a ON a.device_id = s.device_id AND a.seq = s.seq"""
            )
            await conn.execute(
                """INSERT INTO incident_track (incident_id, routed_at, dispatch, route_reason, escalation_level,
                                               escalated_at, acknowledged_at, acknowledged_agency_id,
                                               dispatched_at, on_scene_at, closed_at)
                   SELECT i.id, s.routed_at, s.dispatch, s.route_reason, s.escalation_level, s.escalated_at,
                          s.acknowledged_at, s.acknowledged_agency_id, s.dispatched_at, s.on_scene_at, s.closed_at
                     FROM syn_i s JOIN alert a ON a.device_id = s.device_id AND a.seq = s.seq
                     JOIN incident i ON i.alert_id = a.id"""
            )
            await conn.execute(
                """INSERT INTO incident_assignment (incident_id, agency_id, reason, assigned_at)
                   SELECT i.id, s.agency_id, s.reason, s.assigned_at
                     FROM syn_a s JOIN alert a ON a.device_id = s.device_id AND a.seq = s.seq
                     JOIN incident i ON i.alert_id = a.id"""
            )
        done += n
        if progress:
            progress(f"incidents {done}/{incidents}")
    return done


async def _seed_teguran(pool: asyncpg.Pool, now: datetime, run: str) -> int:
    """Reprimands to OPDs that had red dispositions in this run: about one month in three per OPD,
    naming up to 20 of that month's red complaints; most older ones read, the recent ones not.
    The choice is a hash of (OPD, month), so a seeded run is repeatable."""
    async with pool.acquire() as conn, conn.transaction():
        return int(
            await conn.fetchval(
                """WITH red AS (
                       SELECT d.opd_id, date_trunc('month', d.red_at AT TIME ZONE 'Asia/Jakarta') AS m,
                              (array_agg(d.complaint_id ORDER BY d.red_at))[1:20] AS ids, max(d.red_at) AS last_red
                         FROM complaint_disposition d JOIN complaint c ON c.id = d.complaint_id
                        WHERE d.synthetic AND d.red_at IS NOT NULL AND d.red_at <= $1
                          AND c.tracking_id LIKE 'SYN-' || $2 || '-%'
                        GROUP BY 1, 2),
                   picked AS (
                       SELECT r.*, least($1, r.last_red + interval '2 days') AS issued,
                              abs(hashtext(r.opd_id::text || r.m::text)) AS h
                         FROM red r)
                   , ins AS (
                   INSERT INTO teguran (opd_id, issued_by_name, issued_at, text, complaint_ids, read_at, read_by)
                   SELECT opd_id, 'SINTETIS (data uji)', issued,
                          '[SINTETIS] Mohon segera tindak lanjuti pengaduan kode merah.', ids,
                          CASE WHEN issued < $1 - interval '14 days' AND h % 10 < 8
                               THEN issued + make_interval(hours => 2 + h % 70) END,
                          CASE WHEN issued < $1 - interval '14 days' AND h % 10 < 8 THEN 'sintetis' END
                     FROM picked WHERE h % 3 = 0 OR issued > $1 - interval '30 days'
                   RETURNING 1)
                   SELECT count(*) FROM ins""",
                now,
                run,
            )
        )


async def cli_seed_synthetic(dsn: str, complaints: int, incidents: int) -> None:
    """``siaga seed --synthetic``: seed, then print what was written."""
    from core.db import open_pool

    async with open_pool(dsn, min_size=1, max_size=2) as pool:
        summary = await seed_synthetic(pool, complaints, incidents, progress=lambda m: print(f"  {m}", flush=True))
    print(
        f"SINTETIS: {summary.complaints} complaints ({summary.dispositions} dispositions) and "
        f"{summary.incidents} incidents in {summary.seconds:.0f} s; marked synthetic = true / SYN- / syn-"
    )
