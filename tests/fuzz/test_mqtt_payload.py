"""The MQTT payload decoders and the topic parser, fed any bytes and hostile alert-shaped JSON:
they answer with a model or a PayloadError with a reason and a detail, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.payloads import (
    ALERT_TYPES,
    AlertIn,
    PayloadError,
    TelemetryIn,
    decode_alert,
    decode_telemetry,
    parse_device_time,
    parse_up_topic,
)
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

REASONS = {"oversize", "malformed_json", "invalid"}
LO, HI = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def check_payload(raw: bytes) -> None:
    """The property, for both decoders."""
    for decode, model in ((decode_alert, AlertIn), (decode_telemetry, TelemetryIn)):
        fed(f"mqtt {model.__name__}")
        try:
            result = decode(raw)
        except PayloadError as e:
            assert e.reason in REASONS and e.detail, e
        else:
            assert isinstance(result, model)
            for t in (result.ts, result.loc.fix_ts if result.loc else None):
                assert t is None or (t.tzinfo is not None and LO <= t <= HI), t
            if isinstance(result, AlertIn):
                assert result.type in ALERT_TYPES and 0 <= result.seq <= 2**62


@share(1 / 2)
@given(st.binary(max_size=10_000))
@example(b"")
@example(b"\xff\xfe{}")
@example(b"[" * 1025 + b"]" * 1025)
@example(b'{"seq": 1}' + b" " * 9000)
def test_any_bytes(raw: bytes) -> None:
    check_payload(raw)


def _time_value() -> st.SearchStrategy[object]:
    return (
        any_number
        | numeric_text
        | nasty_text
        | st.datetimes().map(str)
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    )


loc_like = st.fixed_dictionaries(
    {},
    optional={
        "lat": any_number | numeric_text,
        "lon": any_number | numeric_text,
        "acc": any_number | json_values,
        "fix_ts": _time_value(),
    },
)
alert_like = st.fixed_dictionaries(
    {},
    optional={
        "seq": any_number | st.integers(min_value=-(2**70), max_value=2**70) | numeric_text | json_values,
        "ts": _time_value(),
        "type": st.sampled_from([*ALERT_TYPES, "PANIC", "panic\x00", "x"]) | json_values,
        "loc": loc_like | json_values,
        "cell": st.dictionaries(st.sampled_from(["mcc", "mnc", "lac", "cid", "rssi"]), any_number | numeric_text)
        | json_values,
        "batt": any_number | numeric_text | json_values,
        "rssi": any_number | json_values,
        "extra": json_values,
    },
)


@share(1 / 2)
@given(alert_like, st.booleans(), st.sampled_from([0, 0, 0, 0, 0, 0, 100, 1022, 1024, 5000]))
@example({"seq": 1, "ts": "9999-12-31T23:59:59-01:00"}, False, 0)  # OverflowError before the fix
@example({"seq": 1, "ts": "0001-01-01T00:00:00+01:00"}, False, 0)
@example({"seq": 1, "loc": {"lat": 0, "lon": 0, "fix_ts": "9999-12-31T23:59:59-23:59"}}, False, 0)
@example({"seq": 1, "ts": "²"}, False, 0)
@example({"seq": 2**62 + 1}, False, 0)
def test_alert_shaped_objects(obj: dict[str, object], ascii_only: bool, depth: int) -> None:
    """``depth``: an ignored member nested that deep (orjson's limit is 1024)."""
    check_payload(deepen(with_deep_member(dumps(obj, ascii_only), depth), depth))


@share(1 / 10)
@given(_time_value())
def test_device_time(value: object) -> None:
    fed("mqtt parse_device_time")
    try:
        t = parse_device_time(value)
    except ValueError as e:
        assert str(e)
    else:
        assert t is None or (t.tzinfo is not None and LO <= t <= HI), t


@share(1 / 10)
@given(
    st.text(max_size=120)
    | st.lists(st.sampled_from(["siaga", "v1", "devices", "abc", "alert", "", "+", "#"])).map("/".join)
)
def test_any_topic(topic: str) -> None:
    fed("mqtt parse_up_topic")
    try:
        device_id, kind = parse_up_topic(topic, "siaga/v1")
    except PayloadError as e:
        assert e.reason in {"bad_topic", "bad_device_id"} and e.detail
    else:
        assert topic == f"siaga/v1/devices/{device_id}/{kind}" and device_id.isascii()
