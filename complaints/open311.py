"""Open311 GeoReport v2, pure: parsing requests and serialising answers in JSON and XML.

Spec: http://wiki.open311.org/GeoReport_v2 . Complaint categories are the services; the
citizen's tracking id is the ``service_request_id``. Extension fields carry SIAGA's own state
(``siaga_status``, ``siaga_stage``, ``siaga_colour``); ``expected_datetime`` comes from the
working-day clock. A ``rahasia`` complaint's text is never served, and reporter data never is.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from complaints.clock import WIB, WorkingDayClock, colour_at
from complaints.model import CLOSED, LABEL, InvalidAction, RequestFilter, SlaLimits, Status, public_text_visible
from core import refusal

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_IDS = 100
MAX_TEXT = 10000
# XML 1.0 forbids most control characters; they are dropped from text we serve.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ATTR_KEY = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


class Open311Error(Exception):
    """A refused Open311 request; the web boundary answers it as the spec's error document,
    ``[{"code": 400, "description": "..."}]``, with the code its ``kind`` maps to."""

    def __init__(self, kind: refusal.Kind, description: str) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description


def bad(description: str) -> Open311Error:
    return Open311Error(refusal.Kind.INVALID, description)


# --- formats and paths --------------------------------------------------------------------------


def split_format(name: str) -> tuple[str, str]:
    """``"requests.json"`` -> ``("requests", "json")``. Unknown formats are a 400 (answered in XML,
    the spec's required format)."""
    base, dot, fmt = name.rpartition(".")
    if not dot:
        raise bad("Tambahkan format di akhir alamat: .json atau .xml.")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise bad(f"Format {fmt[:20]!r} tidak didukung; pakai json atau xml.")
    return base, fmt


def clean_text(value: str) -> str:
    return _XML_BAD.sub("", value)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(WIB).isoformat(timespec="seconds") if t is not None else None


# --- parsing -----------------------------------------------------------------------------------


def parse_datetime(name: str, value: str) -> datetime:
    """ISO 8601 with a zone (Z or an offset); a value without a zone is taken as WIB."""
    text = value.strip()
    if not text or len(text) > 40:
        raise bad(f"{name}: bukan tanggal dan waktu.")
    try:
        t = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise bad(f"{name}: bukan tanggal dan waktu ISO 8601.") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=WIB)
    if not 1970 <= t.year <= 9998:
        raise bad(f"{name}: di luar rentang yang diterima.")
    return t


def _float(name: str, value: str, lo: float, hi: float) -> float:
    try:
        x = float(value.strip())
    except ValueError:
        raise bad(f"{name}: bukan angka.") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise bad(f"{name}: di luar rentang yang diterima.")
    return x


def _text(form: Mapping[str, str], name: str, limit: int = 500) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    value = clean_text(value).strip()
    if len(value) > limit:
        raise bad(f"{name}: lebih dari {limit} karakter.")
    return value or None


@dataclass(frozen=True)
class PostRequest:
    service_code: str
    description: str
    lat: float | None = None
    lon: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    media_url: str | None = None
    attributes: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def reporter_name(self) -> str | None:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or None


def parse_post(form: Mapping[str, str] | Sequence[tuple[str, str]]) -> PostRequest:
    """The fields of ``POST requests`` (form-encoded). The api_key is checked by the handler."""
    pairs = list(form.items()) if isinstance(form, Mapping) else list(form)
    single: dict[str, str] = {}
    attributes: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if not isinstance(value, str):
            raise bad(f"{key[:64]}: harus berupa teks.")
        m = _ATTR_KEY.match(key)
        if m:
            code = m.group(1)
            if m.group(2):
                prev = attributes.get(code)
                attributes[code] = [*(prev if isinstance(prev, list) else []), clean_text(value)[:500]]
            else:
                attributes[code] = clean_text(value)[:500]
            if len(attributes) > 50:
                raise bad("Atribut terlalu banyak (paling banyak 50).")
        elif key.startswith("attribute"):
            raise bad(f"Kunci atribut {key[:80]!r} tidak sah.")
        else:
            single.setdefault(key, value)

    code = _text(single, "service_code", 64)
    if not code:
        raise bad("service_code wajib diisi.")
    lat = lon = None
    if single.get("lat") or single.get("long"):
        if not (single.get("lat") and single.get("long")):
            raise bad("lat dan long harus diisi bersama.")
        lat = _float("lat", single["lat"], -90, 90)
        lon = _float("long", single["long"], -180, 180)
    address = _text(single, "address_string")
    address_id = _text(single, "address_id", 100)
    if lat is None and address is None and address_id is None:
        raise bad("Lokasi wajib diisi: lat dan long, address_string atau address_id.")
    description = _text(single, "description", MAX_TEXT)
    if not description:
        raise bad("description wajib diisi.")
    email = _text(single, "email", 254)
    if email is not None and not _EMAIL.match(email):
        raise bad("email: bukan alamat surel.")
    media = _text(single, "media_url", 500)
    if media is not None and not media.lower().startswith(("http://", "https://")):
        raise bad("media_url: harus alamat http(s).")
    return PostRequest(
        service_code=code,
        description=description,
        lat=lat,
        lon=lon,
        address_string=address,
        address_id=address_id,
        email=email,
        device_id=_text(single, "device_id", 100),
        account_id=_text(single, "account_id", 100),
        first_name=_text(single, "first_name", 100),
        last_name=_text(single, "last_name", 100),
        phone=_text(single, "phone", 40),
        media_url=media,
        attributes=attributes,
    )


def check_attributes(definition: Sequence[Mapping[str, Any]], given: Mapping[str, str | list[str]]) -> None:
    """The attributes of a POST against the service definition (required ones, listed values)."""
    known = {a["code"]: a for a in definition}
    for code in given:
        if code not in known:
            raise bad(f"attribute[{code}]: bukan bagian dari layanan ini.")
    for code, a in known.items():
        value = given.get(code)
        if value in (None, "", []):
            if a.get("required"):
                raise bad(f"attribute[{code}] wajib diisi.")
            continue
        values = {str(v["key"]) for v in a.get("values") or []}
        kind = a.get("datatype", "string")
        items = value if isinstance(value, list) else [value]
        if kind == "singlevaluelist" and (len(items) != 1 or items[0] not in values):
            raise bad(f"attribute[{code}]: harus salah satu dari {', '.join(sorted(values))}.")
        if kind == "multivaluelist" and not set(items) <= values:
            raise bad(f"attribute[{code}]: nilainya harus dari {', '.join(sorted(values))}.")
        if kind == "number":
            for item in items:
                _float(f"attribute[{code}]", str(item), -1e12, 1e12)
        if kind == "datetime":
            for item in items:
                parse_datetime(f"attribute[{code}]", str(item))


DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
_LIST_TYPES = ("singlevaluelist", "multivaluelist")
_ATTR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_ATTRIBUTES = 50
_ATTRIBUTE_FIELDS = frozenset(
    ("code", "datatype", "required", "description", "order", "values", "variable", "datatype_description")
)


def _attr_text(where: str, name: str, value: Any, limit: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidAction("attributes", f"{where}: {name} harus berupa teks")
    value = clean_text(value).strip()
    if required and not value:
        raise InvalidAction("attributes", f"{where}: {name} wajib diisi")
    if len(value) > limit:
        raise InvalidAction("attributes", f"{where}: {name} lebih dari {limit} karakter")
    return value


def _attr_flag(where: str, name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidAction("attributes", f"{where}: {name} harus true atau false")
    return value


def validate_attributes(attributes: Any) -> list[dict[str, Any]]:
    """A category's Open311 attribute definitions checked and completed (the shape
    :func:`check_attributes` and :func:`service_definition` read); InvalidAction with an
    Indonesian message naming the attribute otherwise. Pure."""
    if not isinstance(attributes, list):
        raise InvalidAction("attributes", "harus berupa daftar atribut (JSON list)")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidAction("attributes", f"paling banyak {MAX_ATTRIBUTES} atribut")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, a in enumerate(attributes, 1):
        where = f"atribut ke-{i}"
        if not isinstance(a, dict):
            raise InvalidAction("attributes", f"{where}: harus berupa objek JSON")
        if unknown := sorted(set(a) - _ATTRIBUTE_FIELDS):
            raise InvalidAction("attributes", f"{where}: kolom {unknown[0][:40]!r} tidak dikenal")
        code = a.get("code")
        if not isinstance(code, str) or not _ATTR_CODE.match(code):
            raise InvalidAction("attributes", f"{where}: code wajib, 1-64 huruf, angka, titik, - atau _")
        where = f"atribut {code!r}"
        if code in seen:
            raise InvalidAction("attributes", f"{where}: code dipakai dua kali")
        seen.add(code)
        datatype = a.get("datatype", "string")
        if datatype not in DATATYPES:
            raise InvalidAction("attributes", f"{where}: datatype harus salah satu dari {', '.join(DATATYPES)}")
        order = a.get("order", i)
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 10_000:
            raise InvalidAction("attributes", f"{where}: order harus bilangan bulat 0-10000")
        values: list[dict[str, str]] = []
        raw_values = a.get("values") or []
        if not isinstance(raw_values, list):
            raise InvalidAction("attributes", f"{where}: values harus berupa daftar")
        if datatype in _LIST_TYPES and not raw_values:
            raise InvalidAction("attributes", f"{where}: jenis {datatype} perlu daftar values")
        if datatype not in _LIST_TYPES and raw_values:
            raise InvalidAction("attributes", f"{where}: values hanya untuk singlevaluelist atau multivaluelist")
        keys: set[str] = set()
        for v in raw_values:
            if not isinstance(v, dict) or set(v) - {"key", "name"}:
                raise InvalidAction("attributes", f"{where}: tiap nilai berupa objek {{key, name}}")
            key = v.get("key")
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            key = _attr_text(where, "key", key, 64, required=True)
            if key in keys:
                raise InvalidAction("attributes", f"{where}: key {key!r} dipakai dua kali")
            keys.add(key)
            values.append({"key": key, "name": _attr_text(where, "name", v.get("name"), 200, required=True)})
        out.append(
            {
                "code": code,
                "datatype": datatype,
                "required": _attr_flag(where, "required", a.get("required"), False),
                "variable": _attr_flag(where, "variable", a.get("variable"), True),
                "description": _attr_text(where, "description", a.get("description"), 500, required=True),
                "datatype_description": _attr_text(
                    where, "datatype_description", a.get("datatype_description"), 200, required=False
                ),
                "order": order,
                "values": values,
            }
        )
    return out


OPEN_STATUSES = tuple(s.value for s in Status if s not in CLOSED)
CLOSED_STATUSES = tuple(s.value for s in Status if s in CLOSED)


def parse_query(params: Mapping[str, str]) -> RequestFilter:
    ids: tuple[str, ...] = ()
    if params.get("service_request_id"):
        ids = tuple(i.strip().upper() for i in params["service_request_id"].split(",") if i.strip())
        if len(ids) > MAX_IDS:
            raise bad(f"service_request_id: paling banyak {MAX_IDS} nomor.")
    statuses: list[str] = []
    if params.get("status"):
        for s in params["status"].split(","):
            s = s.strip().lower()
            if s == "open":
                statuses += OPEN_STATUSES
            elif s == "closed":
                statuses += CLOSED_STATUSES
            elif s in OPEN_STATUSES or s in CLOSED_STATUSES:  # SIAGA's own statuses, an extension
                statuses.append(s)
            else:
                raise bad("status: harus open atau closed.")
    start = parse_datetime("start_date", params["start_date"]) if params.get("start_date") else None
    end = parse_datetime("end_date", params["end_date"]) if params.get("end_date") else None
    if start and end and end < start:
        raise bad("end_date lebih awal dari start_date.")
    code = params.get("service_code")
    if code is not None and len(code) > 64:
        raise bad("service_code terlalu panjang.")
    return RequestFilter(ids, code or None, start, end, tuple(dict.fromkeys(statuses)))


# --- serialising ----------------------------------------------------------------------------------


def service(cat: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "service_code": cat["code"],
        "service_name": cat["name"],
        "description": cat["description"] or "",
        "metadata": bool(cat["attributes"]),
        "type": "realtime",
        "keywords": ",".join(cat["keywords"] or []),
        "group": cat["group_name"] or "",
    }


def service_definition(cat: Mapping[str, Any]) -> dict[str, Any]:
    attrs = []
    for i, a in enumerate(cat["attributes"] or []):
        attrs.append(
            {
                "variable": bool(a.get("variable", True)),
                "code": a["code"],
                "datatype": a.get("datatype", "string"),
                "required": bool(a.get("required", False)),
                "datatype_description": a.get("datatype_description", ""),
                "order": int(a.get("order", i + 1)),
                "description": a.get("description", ""),
                "values": [{"key": str(v["key"]), "name": v["name"]} for v in a.get("values") or []],
            }
        )
    return {"service_code": cat["code"], "attributes": attrs}


def expected_datetime(row: Mapping[str, Any], clock: WorkingDayClock, limits: SlaLimits) -> datetime | None:
    """When the complaint's follow-up can be expected: the OPD's due date once disposed, else the
    verification due date plus the OPD's working days."""
    status = row["status"]
    if status == Status.DISPOSISI:
        return row["due_at"]
    if status == Status.VERIFIKASI and row["due_at"] is not None:
        return clock.add(row["due_at"], limits.followup_days)
    return None


def service_request(row: Mapping[str, Any], clock: WorkingDayClock, limits: SlaLimits, now: datetime) -> dict[str, Any]:
    """One complaint as a GeoReport request. Reporter data never; text and place not if ``rahasia``
    or ``anonim``. The service_request_id is public: it shows the status and cannot act."""
    status = Status(row["status"])
    secret = not public_text_visible(bool(row["rahasia"]), bool(row.get("anonim")))
    colour = colour_at(now, row["yellow_at"], row["due_at"]) if row["stage"] else None
    return {
        "service_request_id": row["tracking_id"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": LABEL[status],
        "service_name": row.get("category_name") or "",
        "service_code": row.get("category_code") or "",
        "description": "(dirahasiakan)" if secret else row["description"],
        "agency_responsible": row.get("opd_name") or "",
        "service_notice": "",
        "requested_datetime": _iso(row["received_at"]),
        "updated_datetime": _iso(row["updated_at"]),
        "expected_datetime": _iso(expected_datetime(row, clock, limits)),
        "address": "" if secret else (row["address"] or ""),
        "address_id": "",
        "zipcode": "",
        "lat": None if secret else row["lat"],
        "long": None if secret else row["lon"],
        "media_url": "" if secret else (row["media_url"] or ""),
        "siaga_status": status.value,
        "siaga_stage": row["stage"] or "",
        "siaga_colour": colour.value if colour else "",
        "siaga_due_datetime": _iso(row["due_at"]),
    }


def discovery(base_url: str, contact: str = "Pusat Kendali Kabupaten Wonosobo") -> dict[str, Any]:
    return {
        "changeset": "2026-11-27T00:00:00+07:00",
        "contact": contact,
        "key_service": "API key from the command-centre admin (siaga open311 add-client)",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base_url,
                "changeset": "2026-11-27T00:00:00+07:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def errors(status: int, description: str) -> list[dict[str, Any]]:
    return [{"code": status, "description": description}]


# --- rendering ----------------------------------------------------------------------------------------

# The element names of list items in XML (the spec's singular of each container).
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif isinstance(value, list):
        item = _ITEM.get(name, "item")
        for v in value:
            _xml_value(el, item, v)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is None:
        pass
    else:
        el.text = clean_text(str(value))


def render(data: Any, fmt: str, root: str) -> tuple[bytes, str]:
    """(body, content type) of ``data`` as JSON, or as XML under the element ``root``."""
    if fmt == "json":
        return orjson.dumps(data), "application/json"
    top = ET.Element(root)
    if isinstance(data, list):
        item = _ITEM.get(root, "item")
        for v in data:
            _xml_value(top, item, v)
    else:
        for k, v in data.items():
            _xml_value(top, k, v)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True), "text/xml"


def now_utc() -> datetime:
    return datetime.now(UTC)
