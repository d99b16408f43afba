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
    Definition(
        "laporan_kepatuhan_opd",
        "Kepatuhan SLA per OPD",
        "Per OPD: disposisi yang dibuat sejak hari pertama periode (WIB, menurut waktu disposisi) "
        "sampai laporan dibuat. Tepat waktu = ditindaklanjuti dalam batas hari kerja; terlambat = "
        "ditindaklanjuti melewati batas; merah terbuka = belum ditindaklanjuti dan batasnya sudah lewat; "
        "jatuh tempo = tepat waktu + terlambat + merah terbuka; persen tepat = tepat waktu dibagi jatuh "
        "tempo; dikembalikan = dikembalikan OPD karena bukan wewenangnya (tidak dihitung jatuh tempo). "
        "Batas dihitung dalam hari kerja (tanpa libur dan cuti bersama). Urutan: persen tepat terendah dulu.",
        "disposisi",
    ),
    Definition(
        "laporan_daftar_merah",
        "Daftar kode merah",
        "Semua laporan yang masih terbuka pada tahap tindak lanjut OPD dan batas tindak lanjutnya "
        "(hari kerja sejak disposisi) sudah lewat pada saat laporan dibuat, batas paling lama dulu; "
        "ke kepala OPD / ke Sekda = pemberitahuan sudah dikirim.",
        "laporan",
    ),
)


def definition(key: str) -> Definition:
    """The definition of ``key``; a figure without one is a bug (KeyError)."""
    return DEFINITIONS[key]
