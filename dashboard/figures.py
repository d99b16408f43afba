"""The figures at a glance: the tiles of the leader's first screen.

Each tile is one figure of :mod:`dashboard.definitions`, its value now or over a period, and the
drill-down address of the rows it counts (``dashboard/drill.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dashboard.definitions import Definition


@dataclass(frozen=True)
class Tile:
    """``value``: the number as a person reads it (``"12"``, ``"38 dtk"``, ``"91,5%"``);
    ``detail``: one line under it (``"p90 1 mnt 12 dtk"``, ``"bulan lalu 88,0%"``);
    ``href``: the drill-down list of what it counts; ``tone``: ``"merah"``, ``"kuning"``,
    ``"hijau"`` or None (the tile's colour, always beside words saying the same)."""

    definition: Definition
    value: str
    detail: str
    href: str
    tone: str | None = None
    number: float | None = None


async def tiles(pool: asyncpg.Pool, now: datetime) -> list[Tile]:
    """The tiles of the first screen, in reading order."""
    return []
