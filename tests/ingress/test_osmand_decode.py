"""OsmAnd decoder, tabled: the request shapes Traccar's OsmAndProtocolDecoder accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gateway.osmand import OsmAndReport, decode, parse_timestamp
from gateway.payloads import Cell, PayloadError

T0 = datetime(2025, 11, 27, 19, 0, tzinfo=UTC)
EPOCH = int(T0.timestamp())
RECEIVED = datetime(2026, 11, 27, 20, 0, 30, tzinfo=UTC)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def one(query: str = "", body: bytes = b"", ctype: str | None = None) -> OsmAndReport:
    reports = decode(query, body, ctype)
    assert len(reports) == 1
    return reports[0]


@pytest.mark.parametrize(
    ("query", "body", "ctype", "expect"),
    [
        # Traccar Client's default request: POST with everything in the query string
        (
            f"id=123456&timestamp={EPOCH}&lat=-7.3605&lon=109.903&speed=10.5&bearing=90&altitude=800"
            "&accuracy=8.0&batt=87.4",
            b"",
            None,
            {
                "device_id": "123456",
                "ts": T0,
                "lat": -7.3605,
                "lon": 109.903,
                "speed_knots": 10.5,
                "course": 90.0,
                "altitude_m": 800.0,
                "accuracy_m": 8.0,
                "battery": 87.4,
            },
        ),
        ("deviceid=dev-01&lat=1&lon=2", b"", None, {"device_id": "dev-01", "lat": 1.0, "lon": 2.0}),
        ("id=dev-01&location=-7.36,109.9", b"", None, {"lat": -7.36, "lon": 109.9}),
        # milliseconds and ISO-8601 and Traccar's "yyyy-MM-dd HH:mm:ss"
        (f"id=dev-01&timestamp={EPOCH * 1000}", b"", None, {"ts": T0}),
        ("id=dev-01&timestamp=2025-11-27T19:00:00Z", b"", None, {"ts": T0}),
        ("id=dev-01&timestamp=2025-11-28T02:00:00%2B07:00", b"", None, {"ts": T0}),
        ("id=dev-01&timestamp=2025-11-27%2019:00:00", b"", None, {"ts": T0}),
        # form body when the query is empty
        (
            "",
            f"id=dev-01&lat=-7.1&lon=109.1&timestamp={EPOCH}".encode(),
            FORM,
            {"device_id": "dev-01", "lat": -7.1, "ts": T0},
        ),
        ("id=dev-01&cell=510,10,1234,56789", b"", None, {"cell": Cell(mcc=510, mnc=10, lac=1234, cid=56789)}),
        (
            "id=dev-01&cell=510,10,1234,56789,-81",
            b"",
            None,
            {"cell": Cell(mcc=510, mnc=10, lac=1234, cid=56789, rssi=-81)},
        ),
        ("id=dev-01&cell=510,10,1234,56789,31", b"", None, {"cell": Cell(mcc=510, mnc=10, lac=1234, cid=56789)}),
        ("id=dev-01&valid=false&lat=1&lon=2", b"", None, {"valid": False}),
        ("id=dev-01&valid=1", b"", None, {"valid": True}),
        ("id=dev-01&alarm=sos", b"", None, {"alarm": "sos"}),
        (
            "id=dev-01&charge=true&hdop=1.2&driverUniqueId=abc&ignition=false",
            b"",
            None,
            {"charging": True, "extras": {"hdop": 1.2, "driverUniqueId": "abc", "ignition": False}},
        ),
    ],
)
def test_query_and_form(query: str, body: bytes, ctype: str | None, expect: dict[str, object]) -> None:
    report = one(query, body, ctype)
    for key, value in expect.items():
        assert getattr(report, key) == value, key


def test_wifi_repeats() -> None:
    report = one("id=dev-01&wifi=AA-BB-CC-DD-EE-FF,-60&wifi=11:22:33:44:55:66,-70")
    assert [(w.mac, w.rssi) for w in report.wifi] == [("aa:bb:cc:dd:ee:ff", -60), ("11:22:33:44:55:66", -70)]


def test_json_form_with_extras_alarm() -> None:
    body = orjson.dumps(
        {
            "device_id": "dev-01",
            "location": {
                "timestamp": "2025-11-27T19:00:00.000Z",
                "coords": {
                    "latitude": -7.36,
                    "longitude": 109.9,
                    "accuracy": 5,
                    "speed": 10,
                    "heading": 45,
                    "altitude": 700,
                },
                "is_moving": True,
                "odometer": 1000,
                "event": "motionchange",
                "battery": {"level": 0.64, "is_charging": False},
                "activity": {"type": "still"},
                "extras": {"alarm": "sos"},
            },
        }
    )
    report = one("", body, "application/json; charset=utf-8")
    assert report.device_id == "dev-01" and report.ts == T0
    assert (report.lat, report.lon, report.accuracy_m, report.course) == (-7.36, 109.9, 5.0, 45.0)
    assert report.speed_knots == pytest.approx(19.43844)
    assert report.battery == pytest.approx(64.0) and report.charging is False
    assert report.alert_type == "panic"
    assert report.extras == {"event": "motionchange", "is_moving": True, "odometer": 1000, "activity": "still"}


def test_json_batch_and_plain_alarm() -> None:
    loc = {"timestamp": EPOCH, "coords": {"latitude": 1.0, "longitude": 2.0}}
    body = orjson.dumps({"device_id": "dev-01", "location": [loc, {**loc, "alarm": "sos"}]})
    reports = decode("", body, JSON)
    assert [r.alert_type for r in reports] == [None, "panic"]
    assert reports[0].ts == T0


@pytest.mark.parametrize(
    ("query", "body", "ctype", "reason"),
    [
        ("", b"", None, "invalid"),
        ("lat=1&lon=2", b"", None, "bad_device_id"),
        ("id=a b&lat=1", b"", None, "bad_device_id"),
        ("id=x", b"", None, "bad_device_id"),
        ("id=dev-01&lat=abc", b"", None, "invalid"),
        ("id=dev-01&lat=95&lon=0", b"", None, "invalid"),
        ("id=dev-01&lat=nan&lon=0", b"", None, "invalid"),
        ("id=dev-01&timestamp=yesterday", b"", None, "invalid"),
        ("id=dev-01&timestamp=1e400", b"", None, "invalid"),
        ("id=dev-01&cell=510,10", b"", None, "invalid"),
        ("id=dev-01&wifi=aa:bb", b"", None, "invalid"),
        ("", b"\xff\xfe", FORM, "invalid"),
        ("", b"{not json", JSON, "malformed_json"),
        ("", b"[1,2]", JSON, "invalid"),
        ("", b'{"device_id": "dev-01"}', JSON, "invalid"),
        ("", b'{"device_id": 12, "location": {}}', JSON, "bad_device_id"),
        ("", b'{"device_id": "dev-01", "location": {"coords": {"latitude": "x"}}}', JSON, "invalid"),
        ("&".join(f"k{i}=1" for i in range(200)) + "&id=dev-01", b"", None, "invalid"),
    ],
)
def test_refused(query: str, body: bytes, ctype: str | None, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode(query, body, ctype)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("alarm", "alert_type"),
    [
        ("sos", "panic"),
        ("SOS", "panic"),
        ("fallDown", "medical"),
        ("accident", "accident"),
        ("lowBattery", None),
        ("geofenceExit", None),
        (None, None),
    ],
)
def test_alarm_policy(alarm: str | None, alert_type: str | None) -> None:
    assert OsmAndReport(device_id="dev-01", alarm=alarm).alert_type == alert_type


def test_sos_becomes_alert_with_stable_seq() -> None:
    report = one(
        f"id=dev-01&timestamp={EPOCH}&lat=-7.36&lon=109.9&accuracy=12&batt=55.6&alarm=sos&cell=510,10,1234,56789"
    )
    alert = report.to_alert(RECEIVED)
    assert alert.seq == EPOCH and alert.type == "panic" and alert.batt == 56 and alert.ts == T0
    assert alert.loc is not None and (alert.loc.lat, alert.loc.lon, alert.loc.acc) == (-7.36, 109.9, 12.0)
    assert alert.cell == Cell(mcc=510, mnc=10, lac=1234, cid=56789)
    # the client re-sends the same request: same key
    assert one(f"id=dev-01&timestamp={EPOCH}&alarm=sos").to_alert(RECEIVED).seq == alert.seq


def test_sos_without_timestamp_keys_on_receive_minute() -> None:
    report = one("id=dev-01&alarm=sos")
    a = report.to_alert(RECEIVED).seq
    assert a == report.to_alert(RECEIVED.replace(second=59)).seq
    assert a != report.to_alert(RECEIVED.replace(minute=1)).seq


@pytest.mark.parametrize(
    "query",
    ["id=dev-01&lat=1&lon=2&valid=false", "id=dev-01&lat=0&lon=0", "id=dev-01&lat=1", "id=dev-01"],
)
def test_no_usable_fix(query: str) -> None:
    assert one(query).location() is None


def test_position_becomes_telemetry() -> None:
    t = one(f"id=dev-01&timestamp={EPOCH}&lat=-7.36&lon=109.9&batt=101&cell=510,10,1,2,-90").to_telemetry()
    assert t.ts == T0 and t.batt == 100 and t.rssi == -90 and t.loc is not None and t.loc.fix_ts == T0


@pytest.mark.parametrize(
    ("text", "expect"),
    [(str(EPOCH), T0), (str(EPOCH * 1000), T0), (f"{EPOCH}.0", T0), ("2025-11-27T19:00:00", T0)],
)
def test_parse_timestamp(text: str, expect: datetime) -> None:
    assert parse_timestamp(text) == expect
