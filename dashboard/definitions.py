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
    Definition(
        "grafik_kedaruratan_harian",
        "Kedaruratan per hari menurut jenis",
        "Kejadian darurat yang masuk (waktu alarm tercatat) per hari WIB "
        "pada periode, dipisah menurut jenis; periode lebih dari 62 hari dihitung per minggu "
        "(Senin–Minggu). Uji coba tidak dihitung. Waktu kalender.",
        "kejadian",
    ),
    Definition(
        "grafik_tahap_tanggap",
        "Waktu tiap tahap penanganan per instansi",
        "Untuk kejadian darurat yang masuk pada periode (bukan uji coba), per instansi yang operatornya "
        "menerima alarm: median dan p90 menit kalender dari alarm masuk sampai diterima, dari diterima "
        "sampai unit dikirim, dari dikirim sampai tiba di lokasi, dan dari tiba sampai selesai. Tiap "
        "tahap hanya dari kejadian yang mencatat kedua waktunya. Batang menumpuk tahap-tahap itu "
        "berurutan; median dan p90 tiap tahap dihitung sendiri-sendiri.",
        "menit",
    ),
    Definition(
        "grafik_pengaduan_mingguan",
        "Pengaduan per minggu menurut status sekarang",
        "Laporan pengaduan yang diterima (waktu laporan diterima) per minggu ISO (Senin–Minggu, "
        "WIB) pada periode, dipisah menurut statusnya sekarang. Minggu di tepi periode hanya "
        "menghitung hari di dalam periode.",
        "laporan",
    ),
    Definition(
        "grafik_liga_opd",
        "Peringkat OPD: persen tindak lanjut tepat waktu",
        "Per OPD, dari disposisi yang jatuh tempo pada periode: persen yang ditindaklanjuti dalam batas "
        "5 hari kerja (tabel kepatuhan SLA). Warna menurut pita: baik (90% ke atas), cukup (70% sampai "
        "di bawah 90%), kurang (di bawah 70%); jumlah laporan yang dikembalikan sebagai bukan "
        "wewenang OPD itu ditulis di tiap batang.",
        "persen",
    ),
    Definition(
        "grafik_merah_harian",
        "Disposisi kode merah pada akhir hari",
        "Jumlah disposisi yang pada akhir tiap hari WIB periode (pukul 24.00 WIB; hari ini: saat ini) "
        "sudah melewati batas waktunya (dihitung dalam hari kerja saat disposisi) dan belum "
        "ditindaklanjuti atau dikembalikan OPD.",
        "disposisi",
    ),
    Definition(
        "peta_wilayah",
        "Pengaduan dan kedaruratan per wilayah",
        "Pengaduan yang diterima dan kejadian darurat yang masuk (bukan uji "
        "coba) pada periode, per kecamatan atau per desa/kelurahan tempatnya tercatat. Waktu kalender, "
        "hari WIB.",
        "laporan",
    ),
    # --- tables and reports -----------------------------------------------------------------------
)


def definition(key: str) -> Definition:
    """The definition of ``key``; a figure without one is a bug (KeyError)."""
    return DEFINITIONS[key]
