"""The OsmAnd decoder (query string, form body, JSON body), fed any bytes and hostile but
well-shaped requests: a list of reports or a PayloadError with a reason; and the reports it
returns convert to payload models or fail with a ValueError (which the server stores as
``invalid``), never anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import osmand
from gateway.payloads import AlertIn, PayloadError, TelemetryIn
from tests.fuzz.support import (
    any_number,
    deepen,
    dumps,
    fed,
    json_values,
    nasty_text,
    numeric_text,
    share,
    with_deep_member,
)

pytestmark = pytest.mark.fuzz

REASONS = {"malformed_json", "invalid", "bad_device_id"}
RECEIVED = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)


def check_request(query: str, body: bytes, content_type: str | None) -> None:
    fed("osmand decode")
    try:
        reports = osmand.decode(query, body, content_type)
    except PayloadError as e:
        assert e.reason in REASONS and e.detail, e
        return
    assert reports and all(isinstance(r, osmand.OsmAndReport) for r in reports)
    for report in reports:
        assert osmand.DEVICE_ID.match(report.device_id)
        try:
            model = report.to_alert(RECEIVED) if report.alert_type else report.to_telemetry()
        except ValueError as e:  # pydantic's ValidationError: stored as "invalid" by the server
            assert str(e)
        else:
            assert isinstance(model, AlertIn | TelemetryIn)


@share(1 / 6)
@given(st.binary(max_size=4000), st.binary(max_size=4000), st.sampled_from([None, "application/json", "text/plain"]))
@example(b"", b"", None)
@example(b"id=abc&timestamp=9999-12-31T23:59:59-01:00", b"", None)
def test_any_bytes(query: bytes, body: bytes, content_type: str | None) -> None:
    # aiohttp hands the handler a str query; undecodable bytes arrive as surrogate escapes
    check_request(query.decode("utf-8", "surrogateescape"), body, content_type)
    check_request("", body, None)
    check_request("", body, "application/json")


KEYS = (
    "id",
    "deviceid",
    "timestamp",
    "lat",
    "lon",
    "location",
    "valid",
    "speed",
    "bearing",
    "heading",
    "altitude",
    "accuracy",
    "batt",
    "charge",
    "cell",
    "wifi",
    "alarm",
    "driverUniqueId",
)
device_ids = st.sampled_from(["483920", "abc", "ab", "abc\n", "a" * 65, "abc def", "١٢٣٤"]) | nasty_text
values = numeric_text | nasty_text | st.sampled_from(["sos", "SOS ", "fall_down", "true", "0", "1"])
cells = st.lists(numeric_text, min_size=3, max_size=6).map(",".join)
params = st.lists(
    st.tuples(st.sampled_from(KEYS) | nasty_text, values | cells),
    max_size=12,
)


@share(1 / 4)
@given(device_ids, params, st.booleans(), st.booleans())
@example("abc", [("timestamp", "9999-12-31T23:59:59-01:00")], True, False)  # OverflowError before the fix
@example("abc", [("timestamp", "0001-01-01T00:00:00+01:00")], False, False)
@example("abc", [("cell", "510,10,1," + "9" * 5000)], True, False)
@example("abc", [("lat", "1e309"), ("lon", "nan"), ("alarm", "sos")], True, False)
@example("abc", [("batt", "1e308"), ("accuracy", "-1"), ("alarm", "sos")], True, False)
@example("abc", [("x", "")] * 101, True, False)
def test_hostile_form(device_id: str, pairs: list[tuple[str, str]], in_query: bool, plus: bool) -> None:
    encoded = urlencode([("id", device_id), *pairs], quote_via=quote_plus if plus else quote, errors="surrogatepass")
    if in_query:
        check_request(encoded, b"", None)
    else:
        check_request("", encoded.encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded")


coords = st.fixed_dictionaries(
    {},
    optional={
        k: any_number | numeric_text | json_values
        for k in ("latitude", "longitude", "speed", "heading", "accuracy", "altitude")
    },
)
location = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": any_number | numeric_text | nasty_text | json_values,
        "coords": coords | json_values,
        "battery": st.fixed_dictionaries({}, optional={"level": any_number | json_values, "is_charging": json_values})
        | json_values,
        "alarm": st.sampled_from(["sos", "fire"]) | json_values,
        "extras": st.fixed_dictionaries({}, optional={"alarm": st.sampled_from(["sos", "x"]) | json_values}),
        "event": json_values,
        "is_moving": json_values,
        "activity": st.fixed_dictionaries({}, optional={"type": json_values}) | json_values,
    },
)
json_bodies = st.fixed_dictionaries(
    {},
    optional={
        "device_id": device_ids | any_number | json_values,
        "location": location | st.lists(location, max_size=3) | json_values,
    },
)


@share(1 / 4)
@given(json_bodies, st.booleans(), st.sampled_from([0, 0, 0, 0, 0, 100, 1022, 1024, 5000]))
@example({"device_id": "abc", "location": {"timestamp": "9999-12-31T23:59:59-01:00"}}, False, 0)
@example({"device_id": "abc", "location": [{}] * 101}, False, 0)
@example({"device_id": "abc", "location": {"coords": {"latitude": 1e308, "longitude": 0}}}, False, 0)
@example({"device_id": "abc", "location": {"battery": {"level": 1e308}, "alarm": "sos"}}, False, 0)
@example({"device_id": "abc", "location": {"coords": {"accuracy": 1e300, "latitude": 1, "longitude": 1}}}, False, 0)
@example({"device_id": True, "location": {}}, False, 0)
@example({"device_id": "abc", "location": {"timestamp": "@deep@"}}, False, 1000)  # RecursionError before
@example({"device_id": "abc", "location": {"alarm": "@deep@"}}, False, 1000)
@example({"device_id": "abc", "location": {"coords": {"latitude": "@deep@"}}}, False, 1000)
def test_hostile_json(body: dict[str, object], ascii_only: bool, depth: int) -> None:
    raw = deepen(with_deep_member(dumps(body, ascii_only), depth), depth)
    check_request("", raw, "application/json; charset=utf-8")
