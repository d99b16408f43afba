"""A device clock that lost its setting does not cost the alert (the fault matrix's 1970 row runs
the same through the whole system under `make faults`)."""

from __future__ import annotations

import orjson
import pytest

from gateway.payloads import PayloadError, decode_alert, decode_telemetry


@pytest.mark.parametrize("ts", [1000, 0, "1970-01-01T00:16:40Z", 4_200_000_000, "2150-01-01T00:00:00+07:00"])
def test_a_clock_outside_2000_2100_means_device_time_unknown(ts: object) -> None:
    alert = decode_alert(
        orjson.dumps({"seq": 7, "type": "panic", "ts": ts, "loc": {"lat": -7.36, "lon": 109.9, "fix_ts": ts}})
    )
    assert alert.seq == 7 and alert.ts is None and alert.loc is not None and alert.loc.fix_ts is None
    assert decode_telemetry(orjson.dumps({"seq": 1, "ts": ts, "batt": 80})).ts is None


def test_a_malformed_time_is_still_refused_with_its_reason() -> None:
    with pytest.raises(PayloadError) as e:
        decode_alert(orjson.dumps({"seq": 7, "type": "panic", "ts": "kemarin sore"}))
    assert e.value.reason == "invalid" and "ts" in e.value.detail
