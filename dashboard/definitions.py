"""What every figure of the dashboard counts, written once.

A tile, a chart, a table column, the drill-down list behind a number and the weekly report all
take their title and their definition from here, and the page shows the definition as the
figure's tooltip. A definition says what is counted, from which stored timestamp, and whether
time is counted in working days (the complaint SLA clock) or calendar time; the recount tests
(``tests/dashboard/test_recount.py``) count the same thing in plain SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    """``title``: the few words on the tile or chart; ``counts``: the whole definition a person
    reads when they hover or tap the figure; ``unit``: what the number is in (``"kejadian"``,
    ``"laporan"``, ``"detik"``, ``"persen"``, ...)."""

    key: str
    title: str
    counts: str
    unit: str


def _catalogue(*items: Definition) -> dict[str, Definition]:
    out: dict[str, Definition] = {}
    for d in items:
        if d.key in out:
            raise ValueError(f"two definitions of {d.key}")
        out[d.key] = d
    return out


DEFINITIONS: dict[str, Definition] = _catalogue(
    # --- tiles (at a glance) ----------------------------------------------------------------------
    # --- charts -----------------------------------------------------------------------------------
    # --- tables and reports -----------------------------------------------------------------------
)


def definition(key: str) -> Definition:
    """The definition of ``key``; a figure without one is a bug (KeyError)."""
    return DEFINITIONS[key]
