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
    Definition(
        "kedaruratan_terbuka",
        "Darurat terbuka",
        "Kejadian darurat yang belum berakhir sekarang: statusnya bukan selesai, alarm palsu atau "
        "diteruskan ke pengaduan. Alarm uji coba tidak dihitung.",
        "kejadian",
    ),
    Definition(
        "tanggap_hari_ini",
        "Tanggap hari ini",
        "Waktu dari alarm masuk (waktu kejadian dibuat) sampai operator menerimanya, untuk kejadian "
        "yang masuk hari ini (00.00 WIB sampai sekarang): nilai tengah (separuh kejadian diterima "
        "lebih cepat) dan p90 (90% kejadian diterima lebih cepat). Dihitung dalam detik kalender, "
        "hanya kejadian yang sudah diterima; alarm uji coba tidak dihitung.",
        "detik",
    ),
    Definition(
        "tanggap_7_hari",
        "Tanggap 7 hari",
        "Seperti waktu tanggap hari ini, untuk kejadian yang masuk dalam 7 hari WIB terakhir "
        "(hari ini dan 6 hari sebelumnya): nilai tengah dan p90 dalam detik kalender, hanya "
        "kejadian yang sudah diterima; alarm uji coba tidak dihitung.",
        "detik",
    ),
    Definition(
        "pengaduan_terbuka",
        "Aduan terbuka",
        "Pengaduan yang belum ditutup dan sedang menunggu verifikasi atau tindak lanjut OPD, "
        "menurut warnanya sekarang. Merah: batas waktu tahap itu (hari kerja) sudah lewat; kuning: "
        "mendekati batas; hijau: lainnya.",
        "laporan",
    ),
    Definition(
        "warna_merah",
        "Merah",
        "Pengaduan terbuka yang batas waktu tahapnya (verifikasi atau tindak lanjut OPD, dalam hari "
        "kerja) sudah lewat sekarang.",
        "laporan",
    ),
    Definition(
        "warna_kuning",
        "Kuning",
        "Pengaduan terbuka yang sudah melewati tanda kuning tahapnya tetapi belum melewati batas "
        "waktunya (hari kerja).",
        "laporan",
    ),
    Definition(
        "warna_hijau",
        "Hijau",
        "Pengaduan terbuka yang belum sampai tanda kuning tahapnya (atau tahapnya tanpa batas waktu).",
        "laporan",
    ),
    Definition(
        "kode_merah",
        "Kode merah",
        "Pengaduan terbuka di tahap tindak lanjut OPD yang batas waktunya (hari kerja sejak disposisi "
        "menurut pengaturan SLA, bawaan 5 hari kerja) sudah lewat sekarang: isi daftar kode merah.",
        "laporan",
    ),
    Definition(
        "teguran_belum_dibaca",
        "Teguran belum dibaca",
        "Teguran pimpinan kepada OPD yang belum ditandai dibaca oleh petugas OPD itu (belum ada waktu dibaca).",
        "teguran",
    ),
    Definition(
        "sla_bulan_ini",
        "SLA bulan ini",
        "Bagian disposisi yang ditindaklanjuti dalam batas hari kerja, dari disposisi yang diterima "
        "OPD pada bulan ini (tanggal WIB 1 sampai hari ini) dan sudah dinilai: tepat waktu dibagi "
        "(tepat waktu + terlambat), terlambat termasuk yang masih merah sekarang. Disposisi yang "
        "dikembalikan (bukan wewenang) dan yang belum jatuh tempo tidak dinilai.",
        "persen",
    ),
    Definition(
        "sla_bulan_lalu",
        "SLA bulan lalu",
        "Seperti kepatuhan SLA bulan ini, untuk disposisi yang diterima OPD sepanjang bulan kalender WIB sebelumnya.",
        "persen",
    ),
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
        "hari kerja (pengaturan SLA, bawaan 5 hari kerja; tabel kepatuhan SLA). Warna menurut pita: "
        "baik (90% ke atas), cukup (70% sampai "
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
    Definition(
        "status.jumlah",
        "Jumlah",
        "Pengaduan yang masuk sejak hari pertama periode (tanggal WIB waktu diterima), menurut statusnya sekarang.",
        "laporan",
    ),
    Definition(
        "warna.jumlah",
        "Jumlah",
        "Pengaduan terbuka sekarang menurut warna (lihat Pengaduan terbuka), tanpa batas periode.",
        "laporan",
    ),
    Definition(
        "opd.jatuh_tempo",
        "Jatuh tempo",
        "Disposisi yang diterima OPD sejak hari pertama periode (tanggal WIB disposisi) dan sudah "
        "dinilai: tepat waktu + terlambat.",
        "disposisi",
    ),
    Definition(
        "opd.tepat_waktu",
        "Tepat waktu",
        "Disposisi yang ditindaklanjuti OPD dalam batas hari kerja sejak disposisi (pengaturan SLA, "
        "bawaan 5 hari kerja).",
        "disposisi",
    ),
    Definition(
        "opd.terlambat",
        "Terlambat",
        "Disposisi yang ditindaklanjuti setelah batas hari kerja, ditambah yang belum "
        "ditindaklanjuti dan sudah lewat batas (masih merah sekarang).",
        "disposisi",
    ),
    Definition(
        "opd.persen_tepat",
        "Tepat waktu (%)",
        "Tepat waktu dibagi jatuh tempo, dalam persen (satu angka di belakang koma).",
        "persen",
    ),
    Definition(
        "opd.merah_terbuka",
        "Masih merah",
        "Bagian dari yang terlambat: disposisi yang belum ditindaklanjuti dan batas hari kerjanya "
        "sudah lewat sekarang.",
        "disposisi",
    ),
    Definition(
        "opd.dikembalikan",
        "Dikembalikan",
        "Disposisi yang dikembalikan OPD ke verifikasi karena bukan wewenangnya; tidak dinilai tepat atau terlambat.",
        "disposisi",
    ),
    Definition(
        "merah.nomor",
        "Nomor laporan",
        "Setiap pengaduan kode merah sekarang (lihat Kode merah), yang paling lama lewat batas dulu.",
        "laporan",
    ),
    Definition(
        "kecamatan.pengaduan",
        "Pengaduan",
        "Pengaduan yang masuk sejak hari pertama periode (tanggal WIB waktu diterima) di kecamatan itu.",
        "laporan",
    ),
    Definition(
        "kecamatan.pengaduan_terbuka",
        "Pengaduan terbuka",
        "Dari pengaduan itu, yang belum ditutup sekarang.",
        "laporan",
    ),
    Definition(
        "kecamatan.kedaruratan",
        "Kedaruratan",
        "Kejadian darurat yang masuk sejak hari pertama periode (tanggal WIB kejadian dibuat) di "
        "kecamatan itu; alarm uji coba tidak dihitung.",
        "kejadian",
    ),
    Definition(
        "tren.masuk",
        "Laporan masuk",
        "Pengaduan yang masuk pada bulan itu (tanggal WIB waktu diterima, sejak hari pertama periode).",
        "laporan",
    ),
    Definition(
        "tren.selesai_sekarang",
        "Sudah selesai",
        "Dari pengaduan yang masuk bulan itu, yang berstatus selesai sekarang.",
        "laporan",
    ),
    Definition(
        "tanggap.kejadian",
        "Alarm",
        "Kejadian darurat sejak hari pertama periode yang diteruskan ke instansi itu oleh aturan "
        "penerusan (bukan eskalasi atau penambahan manual); alarm uji coba tidak dihitung.",
        "kejadian",
    ),
    Definition(
        "tanggap.diterima",
        "Diterima",
        "Dari kejadian itu, yang diterima oleh operator instansi itu sendiri; penerimaan oleh "
        "instansi lain tidak dihitung untuk instansi ini.",
        "kejadian",
    ),
    Definition(
        "tanggap.p50_detik",
        "Separuh diterima dalam",
        "Nilai tengah waktu dari alarm masuk sampai diterima operator instansi itu, dalam detik "
        "kalender, hanya kejadian yang diterima instansi itu.",
        "detik",
    ),
    Definition(
        "tanggap.p90_detik",
        "90% diterima dalam",
        "Waktu dari alarm masuk sampai diterima yang tidak dilewati 90% kejadian yang diterima "
        "instansi itu, dalam detik kalender.",
        "detik",
    ),
    Definition(
        "tanggap.dieskalasi",
        "Dinaikkan ke atasan",
        "Dari kejadian itu, yang dinaikkan ke atasan karena tidak segera diterima.",
        "kejadian",
    ),
    Definition(
        "kehadiran.operator_hadir",
        "Jumlah operator hadir",
        "Operator instansi itu yang konsolnya tersambung sekarang (sinyal terakhir belum kedaluwarsa).",
        "orang",
    ),
    Definition(
        "kehadiran.insiden_terbuka",
        "Insiden terbuka",
        "Kejadian yang sedang ditangani instansi itu: diteruskan kepadanya dengan cara apa pun "
        "(aturan, eskalasi atau tambahan manual, alarm uji coba juga) dan belum berakhir sekarang.",
        "kejadian",
    ),
    Definition(
        "piket.alarm_masuk",
        "Alarm",
        "Kejadian darurat yang diteruskan ke instansi itu oleh aturan penerusan dan masuk dalam "
        "jam shift itu (WIB); alarm uji coba tidak dihitung.",
        "kejadian",
    ),
    Definition(
        "piket.diterima",
        "Diterima",
        "Dari alarm shift itu, yang diterima oleh operator instansi itu sendiri.",
        "kejadian",
    ),
    Definition(
        "piket.p50_detik",
        "Separuh diterima dalam",
        "Nilai tengah waktu dari alarm masuk sampai diterima operator instansi itu, detik kalender.",
        "detik",
    ),
    Definition(
        "piket.p90_detik",
        "90% diterima dalam",
        "Waktu terima yang tidak dilewati 90% alarm shift itu yang diterima, detik kalender.",
        "detik",
    ),
    Definition(
        "piket.eskalasi_tanpa_tanggapan",
        "Eskalasi tanpa tanggapan",
        "Alarm shift itu yang dinaikkan ke atasan karena tidak segera diterima.",
        "kejadian",
    ),
    Definition(
        "piket.jam_tanpa_operator",
        "Jam tanpa operator",
        "Jam dalam shift itu (sampai sekarang) tanpa satu pun konsol instansi itu tersambung.",
        "jam",
    ),
    # whole tables, as a report or a page heading describes them; their columns are defined above
    Definition(
        "tabel.opd",
        "Kepatuhan SLA per OPD",
        "Per OPD, disposisi yang diterima sejak hari pertama periode (tanggal WIB disposisi): tepat "
        "waktu = ditindaklanjuti dalam batas hari kerja; terlambat = ditindaklanjuti melewati batas, "
        "ditambah yang belum ditindaklanjuti dan sudah lewat batas (masih merah); jatuh tempo = tepat "
        "waktu + terlambat; persen tepat = tepat waktu dibagi jatuh tempo; dikembalikan = dikembalikan "
        "OPD karena bukan wewenangnya (tidak dinilai). Batas dihitung dalam hari kerja (tanpa libur "
        "dan cuti bersama). Urutan: persen tepat terendah dulu.",
        "disposisi",
    ),
    Definition(
        "tabel.merah",
        "Daftar kode merah",
        "Semua laporan yang masih terbuka pada tahap tindak lanjut OPD dan batas tindak lanjutnya "
        "(hari kerja sejak disposisi) sudah lewat, batas paling lama dulu; ke kepala OPD / ke Sekda = "
        "pemberitahuan sudah dikirim.",
        "laporan",
    ),
)


def definition(key: str) -> Definition:
    """The definition of ``key``; a figure without one is a bug (KeyError)."""
    return DEFINITIONS[key]
