"""What a person reads for each internal code: one catalogue of labels in Bahasa Indonesia.

Pages, the console (its configuration carries :func:`for_browser`), refusals and the CLI take
their words from here, so a test can check that no page shows an internal code or an English
word, and a translator edits one file. Pure: no web or database imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

# Wonosobo's clock; everything is stored in UTC and shown in WIB.
WIB = ZoneInfo("Asia/Jakarta")

ROLE: Mapping[str, str] = {
    "operator": "Operator",
    "supervisor": "Supervisor",
    "command_centre": "Pusat kendali",
    "complaint_staff": "Verifikator pengaduan",
    "opd_officer": "Petugas OPD",
    "leader": "Pimpinan",
    "admin": "Admin",
    "citizen": "Pelapor",
    "system": "Sistem",
}

INCIDENT_STATE: Mapping[str, str] = {
    "new": "Baru",
    "acknowledged": "Diterima",
    "dispatched": "Unit dikirim",
    "on_scene": "Di lokasi",
    "resolved": "Selesai",
    "false_alarm": "Alarm palsu",
    "handed_to_complaints": "Diteruskan ke pengaduan",
}

# The button that moves an incident to a state.
INCIDENT_ACTION: Mapping[str, str] = {
    "acknowledged": "Terima",
    "dispatched": "Kirim unit",
    "on_scene": "Tiba di lokasi",
    "resolved": "Selesai",
    "false_alarm": "Alarm palsu",
    "handed_to_complaints": "Teruskan ke pengaduan",
}

# What someone did to an incident, in the sentence "Insiden ini sudah ... oleh ..." (a refused
# move names who changed it first).
INCIDENT_DONE: Mapping[str, str] = {
    "acknowledged": "diterima",
    "dispatched": "dikirimi unit",
    "on_scene": "ditangani di lokasi",
    "resolved": "diselesaikan",
    "false_alarm": "dinyatakan alarm palsu",
    "handed_to_complaints": "diteruskan ke pengaduan",
}

ALERT_TYPE: Mapping[str, str] = {
    "panic": "Darurat (tombol panik)",
    "crime": "Kejahatan",
    "fire": "Kebakaran",
    "medical": "Medis",
    "accident": "Kecelakaan",
    "test": "Uji coba",
    # trackers' own alarms (GT06 and OsmAnd clients)
    "sos": "SOS",
    "tamper": "Perangkat dibongkar",
    "removal": "Perangkat dilepas",
    "power_cut": "Daya terputus",
    "low_battery": "Baterai lemah",
}

AGENCY_KIND: Mapping[str, str] = {
    "polres": "Polres",
    "polsek": "Polsek",
    "dishub": "Dishub",
    "damkar": "Pemadam kebakaran",
    "psc119": "PSC 119",
    "bpbd": "BPBD",
    "command_centre": "Pusat kendali",
    "opd": "OPD",
    "other": "Lainnya",
}

# What an agency dispatches (dispatch/units.py); "post" and "patrol" are the seed's older words.
UNIT_KIND: Mapping[str, str] = {
    "mobil": "Mobil",
    "motor": "Sepeda motor",
    "pos": "Pos",
    "unit": "Unit",
    "post": "Pos",
    "patrol": "Patroli",
}

CHANNEL: Mapping[str, str] = {
    "button": "Tombol panik",
    "mqtt": "Tombol panik",
    "app": "Aplikasi warga",
    "osmand": "Pelacak (OsmAnd)",
    "gt06": "Pelacak GT06",
    "web": "Formulir web",
    "open311": "Open311",
    "dispatch": "Dari insiden",
    "desk": "Loket pengaduan",
}

# Where an incident's place came from (gateway/locate.py).
LOCATION_SOURCE: Mapping[str, str] = {
    "gps": "GPS",
    "fixed": "Lokasi terpasang",
    "cell": "Menara seluler",
    "last_known": "Posisi terakhir",
    "unknown": "Tidak diketahui",
}

COMPLAINT_STATUS: Mapping[str, str] = {
    "verifikasi": "Menunggu verifikasi",
    "tunda": "Ditunda (menunggu pelapor)",
    "disposisi": "Didisposisikan ke OPD",
    "tindak_lanjut": "Sudah ditindaklanjuti",
    "selesai": "Selesai",
    "bukan_wewenang": "Bukan kewenangan Pemkab",
    "arsip": "Diarsipkan",
}

COMPLAINT_KIND: Mapping[str, str] = {
    "pengaduan": "Pengaduan",
    "aspirasi": "Aspirasi",
    "permintaan_informasi": "Permintaan informasi",
}

# A complaint's history line, by the action that wrote it.
COMPLAINT_ACTION: Mapping[str, str] = {
    "create": "Laporan masuk",
    "dispose": "Didisposisikan",
    "hold": "Ditunda, pelapor diminta melengkapi",
    "resume": "Pelapor melengkapi",
    "not_authority": "Bukan kewenangan Pemkab",
    "archive": "Diarsipkan",
    "follow_up": "Ditindaklanjuti OPD",
    "return": "Dikembalikan OPD (bukan kewenangannya)",
    "accept": "Pelapor menerima tindak lanjut",
    "dispute": "Pelapor menyanggah tindak lanjut",
    "auto_close": "Ditutup otomatis (tidak ada tanggapan)",
    "red": "Kode merah (melewati batas waktu)",
    "escalate_sekda": "Dilaporkan ke Sekda",
    "teguran": "Teguran pimpinan",
    "note": "Catatan",
}

COLOUR: Mapping[str, str] = {"hijau": "Hijau", "kuning": "Kuning", "merah": "Merah"}

# A stretch of a complaint's way with its own working-day limit (complaints/model.py Stage).
COMPLAINT_STAGE: Mapping[str, str] = {
    "verifikasi": "Verifikasi",
    "tindak_lanjut": "Tindak lanjut OPD",
    "tanggapan": "Tanggapan pelapor",
}

# How an OPD's disposition ended (complaint_disposition.outcome; none yet = still running).
DISPOSITION_OUTCOME: Mapping[str, str] = {
    "open": "Berjalan",
    "followed_up": "Ditindaklanjuti",
    "returned": "Dikembalikan (bukan kewenangan OPD)",
}

# Why a complaint was archived, as the desk's form offers it.
ARCHIVE_REASON: Mapping[str, str] = {"spam": "Spam (bukan laporan)", "duplikat": "Duplikat laporan lain"}

# The fields of a complaint and of the desk's forms, as a refusal names them ("Isi laporan wajib diisi").
COMPLAINT_FIELD: Mapping[str, str] = {
    "description": "Isi laporan",
    "title": "Judul",
    "kind": "Jenis",
    "channel": "Saluran",
    "category_id": "Kategori",
    "lat": "Koordinat",
    "lon": "Koordinat",
    "address": "Alamat",
    "reporter_name": "Nama pelapor",
    "reporter_email": "Email pelapor",
    "reporter_phone": "Nomor HP pelapor",
    "media_url": "Tautan foto",
    "incident_id": "Insiden",
    "opd_id": "OPD tujuan",
    "default_opd_id": "OPD biasa",
    "reason": "Alasan",
    "note": "Catatan",
    "text": "Isi",
    "duplicate_of": "Laporan asli",
    "photo": "Foto",
    "action": "Tindakan",
    "code": "Kode",
    "attributes": "Atribut",
    "complaint_ids": "Laporan",
}

# What the console's event feed says for each event kind.
EVENT_KIND: Mapping[str, str] = {
    "incident.created": "Alarm diterima",
    "incident.routed": "Diteruskan ke instansi",
    "incident.state": "Status berubah",
    "incident.handed_to_complaints": "Diteruskan ke pengaduan",
    "incident.note": "Catatan baru",
    "incident.escalated": "Dinaikkan ke atasan",
    "incident.flagged": "Belum tiba di lokasi",
    "incident.unattended": "Belum ditangani",
    "agency.unattended": "Instansi tanpa operator",
    "complaint.created": "Pengaduan baru",
    "complaint.red": "Pengaduan kode merah",
    "complaint.escalated": "Pengaduan dilaporkan ke atasan",
    "complaint.teguran": "Teguran pimpinan",
}
# What kind of device a registry row is (gateway/devices.py).
DEVICE_KIND: Mapping[str, str] = {
    "button": "Tombol panik",
    "app": "Aplikasi warga",
    "osmand": "Pelacak OsmAnd",
    "gt06": "Pelacak GT06",
}

# What an audit log entry records, by its action (core/audit.py callers). ``incident.<state>`` and
# ``complaint.<action>`` are read through INCIDENT_STATE and COMPLAINT_ACTION: see audit_action.
AUDIT_ACTION: Mapping[str, str] = {
    "login": "Masuk",
    "logout": "Keluar",
    "login.failed": "Gagal masuk",
    "login.rate_limited": "Masuk ditolak (terlalu sering gagal)",
    "user.create": "Pengguna dibuat",
    "user.deactivate": "Pengguna dinonaktifkan",
    "user.reactivate": "Pengguna diaktifkan kembali",
    "user.password_reset": "Kata sandi diatur ulang",
    "user.password_rehash": "Sandi disimpan ulang lebih kuat",
    "device.create": "Perangkat didaftarkan",
    "device.disable": "Perangkat dinonaktifkan",
    "incident.route": "Insiden diteruskan ke instansi",
    "incident.note": "Catatan insiden",
    "incident.escalate": "Insiden dinaikkan ke atasan",
    "incident.flag": "Insiden ditandai belum tiba",
    "incident.unattended": "Insiden belum ditangani",
    "agency.unattended": "Instansi tanpa operator",
    "roster.assign": "Jadwal piket diisi",
    "roster.unassign": "Jadwal piket dihapus",
    "roster.import": "Jadwal piket diimpor",
    "roster.shift_save": "Giliran piket disimpan",
    "roster.shift_remove": "Giliran piket dihapus",
    "roster.swap": "Tukar piket",
    "routing_rules.replace": "Aturan penerusan diganti",
    "category.create": "Kategori dibuat",
    "category.update": "Kategori diubah",
    "category.attributes": "Isian kategori diubah",
    "complaint.view_reporter": "Data pelapor dilihat",
    "teguran.read": "Teguran dibaca",
    "telemetry.retention": "Data telemetri lama dipangkas",
    "status.complaint": "Status laporan dicek",
    "report.generate": "Laporan PDF dibuat",
}

# What an audit entry is about (its object_type).
AUDIT_OBJECT: Mapping[str, str] = {
    "user": "Pengguna",
    "device": "Perangkat",
    "incident": "Insiden",
    "complaint": "Pengaduan",
    "category": "Kategori",
    "report": "Laporan PDF",
    "agency": "Instansi",
    "roster": "Piket",
    "shift": "Giliran",
    "teguran": "Teguran",
}


# The header a person reads over a column whose CSV name is a code (the dashboard's tables and
# the shift report; the CSV keeps the codes, spreadsheets are built on them).
COLUMN: Mapping[str, str] = {
    # complaints by status, by colour, by month
    "status": "Kode status",
    "keterangan": "Status",
    "jumlah": "Jumlah",
    "warna": "Warna",
    "bulan": "Bulan",
    "masuk": "Laporan masuk",
    "selesai_sekarang": "Sudah selesai",
    # SLA per OPD
    "peringkat": "Peringkat",
    "opd_id": "Nomor OPD",
    "opd": "OPD",
    "jatuh_tempo": "Jatuh tempo",
    "tepat_waktu": "Tepat waktu",
    "terlambat": "Terlambat (termasuk masih merah)",
    "persen_tepat": "Tepat waktu (%)",
    "merah_terbuka": "Masih merah",
    "dikembalikan": "Dikembalikan",
    # the red list
    "id": "No.",
    "nomor": "Nomor laporan",
    "judul": "Judul",
    "kecamatan": "Kecamatan",
    "batas_waktu_wib": "Batas waktu",
    "ke_kepala_opd": "Dilaporkan ke kepala OPD",
    "ke_sekda": "Dilaporkan ke Sekda",
    # per kecamatan
    "kode": "Kode wilayah",
    "pengaduan": "Pengaduan",
    "pengaduan_terbuka": "Pengaduan terbuka",
    "kedaruratan": "Kedaruratan",
    # emergencies: time to acknowledge, presence
    "instansi": "Instansi",
    "kejadian": "Alarm",
    "diterima": "Diterima",
    "p50_detik": "Separuh diterima dalam (detik)",
    "p90_detik": "90% diterima dalam (detik)",
    "dieskalasi": "Dinaikkan ke atasan",
    "operator_hadir": "Jumlah operator hadir",
    "nama": "Operator hadir",
    "sejak_wib": "Sejak",
    "insiden_terbuka": "Insiden terbuka",
    # the shift report (dispatch.roster.REPORT_COLUMNS)
    "shift": "Shift",
    "tanggal_wib": "Tanggal",
    "mulai_wib": "Mulai",
    "selesai_wib": "Selesai",
    "alarm_masuk": "Alarm",
    "eskalasi_tanpa_tanggapan": "Eskalasi tanpa tanggapan",
    "jam_tanpa_operator": "Jam tanpa operator",
}

GROUPS: Mapping[str, Mapping[str, str]] = {
    "role": ROLE,
    "incident_state": INCIDENT_STATE,
    "incident_action": INCIDENT_ACTION,
    "incident_done": INCIDENT_DONE,
    "alert_type": ALERT_TYPE,
    "agency_kind": AGENCY_KIND,
    "unit_kind": UNIT_KIND,
    "channel": CHANNEL,
    "location_source": LOCATION_SOURCE,
    "complaint_status": COMPLAINT_STATUS,
    "complaint_kind": COMPLAINT_KIND,
    "complaint_action": COMPLAINT_ACTION,
    "colour": COLOUR,
    "complaint_stage": COMPLAINT_STAGE,
    "disposition_outcome": DISPOSITION_OUTCOME,
    "archive_reason": ARCHIVE_REASON,
    "complaint_field": COMPLAINT_FIELD,
    "event_kind": EVENT_KIND,
    "device_kind": DEVICE_KIND,
    "audit_action": AUDIT_ACTION,
    "audit_object": AUDIT_OBJECT,
    "column": COLUMN,
}


def label(group: str, code: object) -> str:
    """The words for ``code`` in ``group``; an unknown code is shown as a dash rather than leaking
    the code itself (a test lists every code the product emits and finds its label)."""
    if code is None or code == "":
        return "—"
    return GROUPS[group].get(str(code), "—")


def for_browser() -> dict[str, dict[str, str]]:
    """The catalogue as the console's script reads it (one copy of the words, shipped in the page)."""
    return {name: dict(table) for name, table in GROUPS.items()}


def wib(t: datetime | None, *, seconds: bool = False) -> str:
    """A moment as people in Wonosobo read it: ``03-12-2026 14:05 WIB`` (one format on every page)."""
    if t is None:
        return "—"
    return t.astimezone(WIB).strftime("%d-%m-%Y %H:%M:%S WIB" if seconds else "%d-%m-%Y %H:%M WIB")


def audit_action(action: str) -> str:
    """What an audit entry's ``action`` means: its own words, else the incident state or complaint
    action it names (``incident.resolved``, ``complaint.dispose``), else a plain "Tindakan lain"
    rather than the code."""
    if action in AUDIT_ACTION:
        return AUDIT_ACTION[action]
    area, _, rest = action.partition(".")
    if area == "incident" and rest in INCIDENT_STATE:
        return f"Insiden: {INCIDENT_STATE[rest]}"
    if area == "complaint" and rest in COMPLAINT_ACTION:
        return f"Pengaduan: {COMPLAINT_ACTION[rest]}"
    return "Tindakan lain"


def day(d: date | None) -> str:
    """A calendar day in the same order as :func:`wib`: ``03-12-2026``."""
    return "—" if d is None else d.strftime("%d-%m-%Y")


def cell(value: object) -> str:
    """A table cell as a person reads it: instants in WIB, days as :func:`day`, no "None", decimals
    with a comma."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return wib(value)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return str(value)
