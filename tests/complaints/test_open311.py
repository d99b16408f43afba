"""Open311 parsing and serialising, pure, by table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import orjson
import pytest

from complaints import open311
from complaints.clock import WIB, WorkingDayClock
from complaints.model import RequestFilter, SlaLimits
from complaints.open311 import Open311Error
from core.refusal import Kind

OK_FORM = {"service_code": "sampah", "lat": "-7.36", "long": "109.9", "description": "Sampah"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("requests.json", ("requests", "json")), ("requests.XML", ("requests", "xml")), ("a.b.json", ("a.b", "json"))],
)
def test_split_format(name: str, expected: tuple[str, str]) -> None:
    assert open311.split_format(name) == expected


@pytest.mark.parametrize("name", ["requests", "requests.html", "requests."])
def test_split_format_bad(name: str) -> None:
    with pytest.raises(Open311Error):
        open311.split_format(name)


@pytest.mark.parametrize(
    ("form", "check"),
    [
        (OK_FORM, lambda r: (r.lat, r.lon, r.address_string) == (-7.36, 109.9, None)),
        (
            {**OK_FORM, "lat": "", "long": "", "address_string": " Jl. Pemuda 1 "},
            lambda r: r.lat is None and r.address_string == "Jl. Pemuda 1",
        ),
        ({**OK_FORM, "first_name": "Budi", "last_name": "S"}, lambda r: r.reporter_name == "Budi S"),
        ({**OK_FORM, "attribute[volume]": "besar"}, lambda r: r.attributes == {"volume": "besar"}),
        ({**OK_FORM, "attribute[jenis][]": "a"}, lambda r: r.attributes == {"jenis": ["a"]}),
        ({**OK_FORM, "description": "a\x00b"}, lambda r: r.description == "ab"),
        ({**OK_FORM, "media_url": "https://x.id/a.jpg"}, lambda r: r.media_url == "https://x.id/a.jpg"),
    ],
)
def test_parse_post(form: dict[str, str], check: object) -> None:
    assert check(open311.parse_post(form))  # type: ignore[operator]


def test_parse_post_repeated_multi_value_attribute() -> None:
    r = open311.parse_post([*OK_FORM.items(), ("attribute[jenis][]", "a"), ("attribute[jenis][]", "b")])
    assert r.attributes == {"jenis": ["a", "b"]}


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({}, "service_code"),
        ({"service_code": "x", "description": "d"}, "Lokasi"),
        ({**OK_FORM, "description": " "}, "description"),
        ({**OK_FORM, "lat": "abc"}, "lat"),
        ({**OK_FORM, "lat": "inf"}, "lat"),
        ({**OK_FORM, "long": "181"}, "long"),
        ({**OK_FORM, "long": ""}, "bersama"),
        ({**OK_FORM, "email": "a@"}, "email"),
        ({**OK_FORM, "media_url": "file:///etc/passwd"}, "media_url"),
        ({**OK_FORM, "attributeX": "1"}, "attribute"),
        ({**OK_FORM, "phone": "1" * 41}, "phone"),
    ],
)
def test_parse_post_bad(form: dict[str, str], words: str) -> None:
    with pytest.raises(Open311Error) as e:
        open311.parse_post(form)
    assert e.value.kind is Kind.INVALID and words in e.value.description


DEFINITION = [
    {
        "code": "volume",
        "datatype": "singlevaluelist",
        "required": True,
        "values": [{"key": "kecil", "name": "Kecil"}, {"key": "besar", "name": "Besar"}],
    },
    {"code": "jenis", "datatype": "multivaluelist", "values": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]},
    {"code": "jumlah", "datatype": "number"},
    {"code": "sejak", "datatype": "datetime"},
]


@pytest.mark.parametrize(
    "given",
    [{"volume": "kecil"}, {"volume": "besar", "jenis": ["a", "b"], "jumlah": "3", "sejak": "2026-11-01T08:00:00Z"}],
)
def test_check_attributes_ok(given: dict[str, str | list[str]]) -> None:
    open311.check_attributes(DEFINITION, given)


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"volume": "raksasa"},
        {"volume": "kecil", "jenis": ["c"]},
        {"volume": "kecil", "jumlah": "banyak"},
        {"volume": "kecil", "sejak": "kemarin"},
        {"volume": "kecil", "warna": "x"},
        {"volume": ["kecil", "besar"]},
    ],
)
def test_check_attributes_bad(given: dict[str, str | list[str]]) -> None:
    with pytest.raises(Open311Error):
        open311.check_attributes(DEFINITION, given)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, RequestFilter()),
        ({"service_request_id": "wsb-a, WSB-B ,"}, RequestFilter(ids=("WSB-A", "WSB-B"))),
        ({"status": "open"}, RequestFilter(statuses=open311.OPEN_STATUSES)),
        ({"status": "closed,open"}, RequestFilter(statuses=open311.CLOSED_STATUSES + open311.OPEN_STATUSES)),
        ({"status": "tunda"}, RequestFilter(statuses=("tunda",))),
        ({"start_date": "2026-11-27T10:00:00Z"}, RequestFilter(start=datetime(2026, 11, 27, 10, tzinfo=UTC))),
        ({"end_date": "2026-11-27T10:00:00"}, RequestFilter(end=datetime(2026, 11, 27, 10, tzinfo=WIB))),
        ({"service_code": "sampah"}, RequestFilter(service_code="sampah")),
    ],
)
def test_parse_query(params: dict[str, str], expected: RequestFilter) -> None:
    assert open311.parse_query(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"start_date": "x"},
        {"start_date": "0001-01-01T00:00:00Z"},
        {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"service_request_id": ",".join(str(i) for i in range(101))},
    ],
)
def test_parse_query_bad(params: dict[str, str]) -> None:
    with pytest.raises(Open311Error):
        open311.parse_query(params)


ROW = {
    "tracking_id": "WSB-ABCD-EFGH",
    "status": "verifikasi",
    "category_name": "Sampah",
    "category_code": "sampah",
    "description": "Sampah <di> & jalan",
    "opd_name": None,
    "received_at": datetime(2026, 11, 27, 3, tzinfo=UTC),
    "updated_at": datetime(2026, 11, 27, 3, tzinfo=UTC),
    "address": "Jl. A",
    "lat": -7.36,
    "lon": 109.9,
    "media_url": None,
    "rahasia": False,
    "stage": "verifikasi",
    "yellow_at": datetime(2026, 12, 1, 22, 12, tzinfo=UTC),
    "due_at": datetime(2026, 12, 2, 3, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("changes", "now", "expected"),
    [
        (
            {},
            datetime(2026, 11, 28, tzinfo=UTC),
            {"status": "open", "siaga_colour": "hijau", "expected_datetime": "2026-12-09T10:00:00+07:00"},
        ),
        ({}, datetime(2026, 12, 2, tzinfo=UTC), {"siaga_colour": "kuning"}),
        ({}, datetime(2026, 12, 2, 3, tzinfo=UTC), {"siaga_colour": "merah"}),
        (
            {"status": "disposisi", "stage": "tindak_lanjut", "opd_name": "DLH"},
            datetime(2026, 11, 28, tzinfo=UTC),
            {"agency_responsible": "DLH", "expected_datetime": "2026-12-02T10:00:00+07:00"},
        ),
        (
            {"status": "selesai", "stage": None, "due_at": None, "yellow_at": None},
            datetime(2026, 11, 28, tzinfo=UTC),
            {"status": "closed", "siaga_colour": "", "expected_datetime": None},
        ),
        (
            {"rahasia": True},
            datetime(2026, 11, 28, tzinfo=UTC),
            {"description": "(dirahasiakan)", "lat": None, "long": None, "address": ""},
        ),
    ],
)
def test_service_request(changes: dict[str, object], now: datetime, expected: dict[str, object]) -> None:
    out = open311.service_request({**ROW, **changes}, WorkingDayClock(), SlaLimits(), now)
    assert {k: out[k] for k in expected} == expected


def test_render_json_and_xml_agree() -> None:
    data = [open311.service_request(ROW, WorkingDayClock(), SlaLimits(), datetime(2026, 11, 28, tzinfo=UTC))]
    body, ctype = open311.render(data, "json", "service_requests")
    assert ctype == "application/json" and orjson.loads(body) == data
    body, ctype = open311.render(data, "xml", "service_requests")
    assert ctype == "text/xml" and body.startswith(b"<?xml")
    req = ET.fromstring(body).find("request")
    assert req is not None and req.findtext("description") == "Sampah <di> & jalan"
    assert req.findtext("lat") == "-7.36" and req.find("media_url") is not None


def test_render_errors_and_definitions_in_xml() -> None:
    body, _ = open311.render(open311.errors(403, "no key \x07"), "xml", "errors")
    err = ET.fromstring(body).find("error")
    assert err is not None and (err.findtext("code"), err.findtext("description")) == ("403", "no key ")
    cat = {"code": "s", "attributes": DEFINITION}
    root = ET.fromstring(open311.render(open311.service_definition(cat), "xml", "service_definition")[0])
    assert [a.findtext("code") for a in root.iter("attribute")] == ["volume", "jenis", "jumlah", "sejak"]
    assert [a.findtext("required") for a in root.iter("attribute")] == ["true", "false", "false", "false"]
