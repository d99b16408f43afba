"""What a person reads for each internal code: one catalogue of labels in Bahasa Indonesia.

Pages, the console (its configuration carries :func:`for_browser`), refusals and the CLI take
their words from here, so a test can check that no page shows an internal code or an English
word, and a translator edits one file. Pure: no web or database imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
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

GROUPS: Mapping[str, Mapping[str, str]] = {
    "role": ROLE,
    "incident_state": INCIDENT_STATE,
    "incident_action": INCIDENT_ACTION,
    "incident_done": INCIDENT_DONE,
    "alert_type": ALERT_TYPE,
    "agency_kind": AGENCY_KIND,
    "channel": CHANNEL,
    "location_source": LOCATION_SOURCE,
    "complaint_status": COMPLAINT_STATUS,
    "complaint_kind": COMPLAINT_KIND,
    "complaint_action": COMPLAINT_ACTION,
    "colour": COLOUR,
    "event_kind": EVENT_KIND,
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
