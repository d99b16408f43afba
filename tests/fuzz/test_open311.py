"""Open311 GeoReport v2 input: the POST form, the GET filters, dates, formats and service
attributes. Each answers a value or an Open311Error (an invalid request, a description) that renders as
the spec's error document in JSON and XML; a parsed request holds only text PostgreSQL takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from complaints import open311
from core.refusal import Kind
from tests.fuzz.support import fed, nasty_text, numeric_text, share

pytestmark = pytest.mark.fuzz

DEFINITION = [
    {"code": "volume", "datatype": "singlevaluelist", "required": True, "values": [{"key": "1", "name": "Kecil"}]},
    {"code": "jenis", "datatype": "multivaluelist", "values": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]},
    {"code": "jumlah", "datatype": "number"},
    {"code": "sejak", "datatype": "datetime"},
    {"code": "catatan", "datatype": "string"},
]


def answered(decoder: str, call: Callable[[], Any]) -> Any:
    """The property: a value, or an Open311Error the handler can answer in both formats."""
    fed(f"open311 {decoder}")
    try:
        return call()
    except open311.Open311Error as e:
        assert e.kind is Kind.INVALID and e.description, e
        for fmt in open311.FORMATS:
            body, _ = open311.render(open311.errors(400, e.description), fmt, "errors")
            assert body
        return None


def db_safe(text: str | None) -> bool:
    return text is None or ("\x00" not in text and text.encode("utf-8", "strict") is not None)


def check_post(pairs: list[tuple[str, str]]) -> None:
    req = answered("parse_post", lambda: open311.parse_post(pairs))
    if req is None:
        return
    assert isinstance(req, open311.PostRequest) and req.service_code and req.description
    for name in ("service_code", "description", "address_string", "address_id", "email", "device_id",
                 "account_id", "first_name", "last_name", "phone", "media_url"):  # fmt: skip
        assert db_safe(getattr(req, name)), name
    assert req.lat is None or -90 <= req.lat <= 90
    assert req.lon is None or -180 <= req.lon <= 180
    answered("check_attributes", lambda: open311.check_attributes(DEFINITION, req.attributes))
    for fmt in open311.FORMATS:  # what is parsed can be served back
        assert open311.render([{"description": req.description, "address": req.address_string}], fmt, "x")[0]


@share(1 / 2)
@given(st.text(max_size=4000) | st.binary(max_size=4000).map(lambda b: b.decode("latin-1")))
@example("service_code=x&description=%00&lat=1&long=1")
@example("service_code=x&description=d&address_string=%ED%A0%80")
def test_any_form_text(body: str) -> None:
    # aiohttp's request.post() for a form body: parse_qsl of the body decoded as UTF-8 (a body
    # that is not UTF-8 is a UnicodeDecodeError, answered "malformed request" by the handler)
    check_post(parse_qsl(body, keep_blank_values=True))


KEYS = [
    "service_code",
    "description",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "media_url",
    "attribute[volume]",
    "attribute[jenis][]",
    "attribute[jumlah]",
    "attribute[sejak]",
    "attribute[catatan]",
    "attribute[x",
    "attribute[]",
]
form_values = nasty_text | numeric_text | st.sampled_from(["1", "a", "b", "https://x.id/a.jpg", "a@b.id", "jalan"])


@share(1 / 2)
@given(
    st.lists(st.tuples(st.sampled_from(KEYS) | nasty_text, form_values), max_size=12),
    st.booleans(),
)
@example([("attribute[jumlah]", "1e309"), ("attribute[volume]", "1")], True)
@example([("attribute[sejak]", "9999-12-31T23:59:59-01:00"), ("attribute[volume]", "1")], True)
@example([(f"attribute[a{i}]", "x") for i in range(60)], True)
def test_hostile_post(pairs: list[tuple[str, str]], complete: bool) -> None:
    if complete:  # enough of a request to get past the required fields
        pairs = [("service_code", "jalan"), ("description", "Jalan rusak"), ("lat", "-7.36"), ("long", "109.9"),
                 *pairs]  # fmt: skip
    check_post(pairs)


@share(1 / 4)
@given(
    st.dictionaries(
        st.sampled_from(["service_request_id", "status", "start_date", "end_date", "service_code"]) | nasty_text,
        nasty_text | numeric_text | st.sampled_from(["open", "closed,open", "2026-11-27T00:00:00Z", "A,B, ,C"]),
        max_size=5,
    )
)
@example({"service_request_id": ",".join(["X"] * 101)})
@example({"start_date": "2026-11-27T00:00:00+14:00", "end_date": "2026-11-27T00:00:00-12:00"})
def test_hostile_query(params: dict[str, str]) -> None:
    q = answered("parse_query", lambda: open311.parse_query(params))
    if q is not None:
        assert len(q.ids) <= open311.MAX_IDS and (q.service_code is None or len(q.service_code) <= 64)


@share(1 / 4)
@given(nasty_text | st.datetimes().map(str) | st.text(alphabet="0123456789-:TZ+. z", max_size=32))
@example("9999-12-31T23:59:59-01:00")
@example("0001-01-01T00:00:00+01:00")
def test_datetime_and_format(text: str) -> None:
    t = answered("parse_datetime", lambda: open311.parse_datetime("start_date", text))
    assert t is None or (t.tzinfo is not None and 1970 <= t.year <= 9998)
    answered("split_format", lambda: open311.split_format(text))
