"""Any bytes a device can send: the decoders answer with a model or a PayloadError, nothing else.
`make fuzz` runs these with SIAGA_FUZZ_EXAMPLES=100000."""

from __future__ import annotations

import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.payloads import AlertIn, PayloadError, TelemetryIn, decode_alert, decode_telemetry, parse_up_topic

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("SIAGA_FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# objects shaped like alerts, with every field sometimes wrong
alert_like = st.fixed_dictionaries(
    {},
    optional={
        "seq": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
        "ts": st.integers(min_value=-(2**40), max_value=2**45) | st.text(max_size=30) | json_values,
        "type": st.sampled_from(["panic", "crime", "fire", "medical", "accident", "test", "x"]) | json_values,
        "loc": st.fixed_dictionaries(
            {},
            optional={
                "lat": st.floats(allow_nan=False),
                "lon": st.floats(allow_nan=False),
                "acc": json_values,
                "fix_ts": json_values,
            },
        )
        | json_values,
        "cell": st.dictionaries(st.sampled_from(["mcc", "mnc", "lac", "cid", "rssi"]), st.integers()) | json_values,
        "batt": st.integers() | json_values,
    },
)


def _check(decode, model, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        result = decode(raw)
    except PayloadError as e:
        assert e.reason in {"oversize", "malformed_json", "invalid"} and e.detail
    else:
        assert isinstance(result, model)


@fuzz
@given(st.binary(max_size=10_000))
def test_any_bytes(raw: bytes) -> None:
    _check(decode_alert, AlertIn, raw)
    _check(decode_telemetry, TelemetryIn, raw)


@fuzz
@given(alert_like)
def test_alert_shaped_objects(obj: dict) -> None:  # type: ignore[type-arg]
    raw = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) if _serialisable(obj) else b"{}"
    _check(decode_alert, AlertIn, raw)
    _check(decode_telemetry, TelemetryIn, raw)


@fuzz
@given(st.text(max_size=120))
def test_any_topic(topic: str) -> None:
    try:
        device_id, kind = parse_up_topic(topic, "siaga/v1")
    except PayloadError as e:
        assert e.reason in {"bad_topic", "bad_device_id"}
    else:
        assert topic == f"siaga/v1/devices/{device_id}/{kind}"


def _serialisable(obj: object) -> bool:
    try:
        orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True
