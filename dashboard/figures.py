"""The figures at a glance: the tiles of the leader's first screen.

Each tile is one figure of :mod:`dashboard.definitions`, its value now or over a period, and the
drill-down address of the rows it counts (``dashboard/drill.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg

from dashboard import drill
from dashboard.definitions import Definition, definition
from dashboard.period import Period, month_of, previous_month
from dashboard.tables import colour_counts

T = TypeVar("T")


@dataclass(frozen=True)
class TilePart:
    """One more number on a tile (the three colours, the pending reprimands), its own link."""

    definition: Definition
    value: str
    href: str
    tone: str | None = None
    number: float | None = None
    # the few words before the number on the tile (the definition's title when empty)
    label: str = ""

    @property
    def words(self) -> str:
        return self.label or self.definition.title


@dataclass(frozen=True)
class Tile:
    """``value``: the number as a person reads it (``"12"``, ``"38 dtk"``, ``"91,5%"``);
    ``detail``: one line under it (``"p90 1 mnt 12 dtk"``, ``"bulan lalu 88,0%"``);
    ``href``: the drill-down list of what it counts; ``tone``: ``"merah"``, ``"kuning"``,
    ``"hijau"`` or None (the tile's colour, always beside words saying the same: ``tone_words``);
    ``parts``: more numbers on the tile, each its own link."""

    definition: Definition
    value: str
    detail: str
    href: str
    tone: str | None = None
    number: float | None = None
    tone_words: str = ""
    parts: tuple[TilePart, ...] = ()


# --- words for numbers ------------------------------------------------------------------------------


def decimal(v: float, places: int = 1) -> str:
    """``91,5``: Indonesian decimal comma, a dot between thousands."""
    text = f"{v:,.{places}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def whole(n: int) -> str:
    """``1.234``."""
    return f"{n:,d}".replace(",", ".")


def duration(seconds: float) -> str:
    """``38 dtk``, ``2 mnt 5 dtk``, ``1 jam 4 mnt`` (rounded to the second)."""
    s = round(seconds)
    if s < 60:
        return f"{s} dtk"
    if s < 3600:
        m, s = divmod(s, 60)
        return f"{m} mnt {s} dtk" if s else f"{m} mnt"
    h, rest = divmod(s, 3600)
    m = rest // 60
    return f"{h} jam {m} mnt" if m else f"{h} jam"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{decimal(share)}%"


# --- the figures ------------------------------------------------------------------------------------


async def open_incidents(conn: asyncpg.Connection) -> int:
    """Emergencies not over now (test alerts are no emergency)."""
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM incident
                WHERE state NOT IN ('resolved', 'false_alarm', 'handed_to_complaints') AND type <> 'test'"""
        )
    )


async def acknowledge_times(conn: asyncpg.Connection, period: Period) -> tuple[int, float | None, float | None]:
    """(acknowledged incidents, p50, p90 seconds) of the incidents created in ``period``."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p90
             FROM incident i JOIN incident_track t ON t.incident_id = i.id
            CROSS JOIN LATERAL (SELECT extract(epoch FROM t.acknowledged_at - i.created_at) AS s) d
            WHERE i.created_at >= $1 AND i.created_at < $2 AND i.type <> 'test' AND t.acknowledged_at IS NOT NULL""",
        period.start,
        period.end,
    )
    return int(row["n"]), row["p50"], row["p90"]


async def colours(conn: asyncpg.Connection, now: datetime) -> dict[str, int]:
    """Open complaints per colour, exactly as the colour table counts them."""
    return {r[0]: int(r[1]) for r in (await colour_counts(conn, now)).rows}


async def red_count(conn: asyncpg.Connection, now: datetime) -> int:
    """Open complaints at an OPD past their follow-up limit: the red list's length."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM complaint WHERE closed_at IS NULL AND stage = 'tindak_lanjut' AND due_at <= $1",
            now,
        )
    )


async def unread_teguran(conn: asyncpg.Connection) -> int:
    """Reprimands no officer of their OPD has marked read (``complaints.store.mark_teguran_read``)."""
    return int(await conn.fetchval("SELECT count(*) FROM teguran WHERE read_at IS NULL"))


async def compliance(conn: asyncpg.Connection, period: Period, now: datetime) -> tuple[int, int]:
    """(on time, due) of the dispositions made in ``period``, by the rule of
    :func:`dashboard.tables.opd_compliance`: finished ones from the daily rollup, open overdue ones
    (late, still red) counted live."""
    done = await conn.fetchrow(
        """SELECT coalesce(sum(on_time), 0)::bigint AS on_time, coalesce(sum(late), 0)::bigint AS late
             FROM complaint_disposition_daily WHERE day >= $1 AND day <= $2""",
        period.first,
        period.last,
    )
    red = await conn.fetchval(
        """SELECT count(*) FROM complaint_disposition
            WHERE finished_at IS NULL AND due_at <= $3 AND disposed_at >= $1 AND disposed_at < $2""",
        period.start,
        period.end,
        now,
    )
    return int(done["on_time"]), int(done["on_time"] + done["late"] + red)


def share(on_time: int, due: int) -> float | None:
    return round(100.0 * on_time / due, 1) if due else None


# --- the tiles --------------------------------------------------------------------------------------


def _ack_tile(key: str, period: Period, n: int, p50: float | None, p90: float | None) -> Tile:
    href = drill.incidents_link(period, diterima=True)
    if not n:
        return Tile(definition(key), "—", "belum ada kejadian yang diterima", href, number=None)
    return Tile(
        definition(key),
        duration(p50 or 0.0),
        f"p90 {duration(p90 or 0.0)}",
        href,
        number=p50,
        tone_words=f"{whole(n)} diterima",
    )


async def tiles(pool: asyncpg.Pool, now: datetime) -> list[Tile]:
    """The tiles of the first screen, in reading order."""
    today = Period.last_days(1, now)
    week = Period.last_days(7, now)
    this_month, last_month = month_of(now), previous_month(now)

    async def on_own(make: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        # each figure on its own connection, side by side
        async with pool.acquire() as conn:
            return await make(conn)

    open_n, ack_today, ack_week, col, red, teguran, sla_now, sla_before = await asyncio.gather(
        on_own(open_incidents),
        on_own(lambda c: acknowledge_times(c, today)),
        on_own(lambda c: acknowledge_times(c, week)),
        on_own(lambda c: colours(c, now)),
        on_own(lambda c: red_count(c, now)),
        on_own(unread_teguran),
        on_own(lambda c: compliance(c, this_month, now)),
        on_own(lambda c: compliance(c, last_month, now)),
    )
    out = [
        Tile(
            definition("kedaruratan_terbuka"),
            whole(open_n),
            "",  # the tone's words say it
            drill.incidents_link(terbuka=True),
            tone="kuning" if open_n else "hijau",
            number=open_n,
            tone_words="ada yang belum selesai" if open_n else "tidak ada",
        ),
        _ack_tile("tanggap_hari_ini", today, *ack_today),
        _ack_tile("tanggap_7_hari", week, *ack_week),
    ]
    total_open = sum(col.values())
    out.append(
        Tile(
            definition("pengaduan_terbuka"),
            whole(total_open),
            "",  # the three colours are the tile's parts
            drill.complaints_link(warna=list(drill.COLOURS)),
            tone="merah" if col["merah"] else ("kuning" if col["kuning"] else "hijau"),
            number=total_open,
            tone_words="" if col["merah"] else "tidak ada yang merah",
            parts=tuple(
                TilePart(definition(f"warna_{c}"), whole(col[c]), drill.complaints_link(warna=c), tone=c, number=col[c])
                for c in drill.COLOURS
            ),
        )
    )
    out.append(
        Tile(
            definition("kode_merah"),
            whole(red),
            "",  # the pending reprimands are the tile's part
            drill.complaints_link(warna="merah", status="disposisi"),
            tone="merah" if red else "hijau",
            number=red,
            tone_words="OPD melewati batas" if red else "tidak ada kode merah",
            parts=(
                TilePart(
                    definition("teguran_belum_dibaca"),
                    whole(teguran),
                    drill.link("/dasbor/rincian/teguran", belum_dibaca=True),
                    number=teguran,
                    label="teguran belum dibaca",
                ),
            ),
        )
    )
    now_share, before_share = share(*sla_now), share(*sla_before)
    if now_share is None or before_share is None:
        tone, words = None, "belum dapat dibandingkan"
    elif now_share >= before_share:
        tone, words = "hijau", f"naik {decimal(now_share - before_share)} poin" if now_share > before_share else "sama"
    else:
        tone, words = "kuning", f"turun {decimal(before_share - now_share)} poin"
    out.append(
        Tile(
            definition("sla_bulan_ini"),
            percent(now_share),
            f"{whole(sla_now[0])} tepat dari {whole(sla_now[1])}",
            drill.dispositions_link(this_month, hasil="jatuh_tempo"),
            tone=tone,
            number=now_share,
            tone_words=words,
            parts=(
                TilePart(
                    definition("sla_bulan_lalu"),
                    percent(before_share),
                    drill.dispositions_link(last_month, hasil="jatuh_tempo"),
                    number=before_share,
                    label="bulan lalu",
                ),
            ),
        )
    )
    return out
