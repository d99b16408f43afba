"""The OsmAnd HTTP protocol (Traccar Client and the many apps and trackers that speak it). Pure.

As Traccar's ``OsmAndProtocolDecoder`` reads it:

- **Query/form**: parameters from the URL query string, or, when it has none, from the body as
  ``application/x-www-form-urlencoded``. ``id`` or ``deviceid``; ``lat`` + ``lon`` or
  ``location=lat,lon``; ``timestamp`` as epoch seconds, milliseconds (a number >= 2**31) or a date
  (ISO-8601, or ``yyyy-MM-dd HH:mm:ss`` taken as UTC); ``valid``; ``speed`` in knots; ``bearing`` /
  ``heading``; ``altitude``; ``accuracy`` (m); ``batt`` (%); ``charge``;
  ``cell=mcc,mnc,lac,cid[,rssi]``; ``wifi=mac,rssi`` (repeatable); ``alarm``; anything else is kept
  as an extra attribute.
- **JSON** (``Content-Type: application/json``, the Traccar Client 8+ / background-geolocation
  form): ``{"device_id", "location": {"timestamp", "coords": {"latitude", "longitude", "speed" (m/s),
  "heading", "accuracy", "altitude"}, "battery": {"level" (0..1), "is_charging"}, "event",
  "is_moving", "alarm" or "extras": {"alarm"}}}``; ``location`` may also be a list (batch upload).

An ``alarm`` of :data:`ALARM_INCIDENT_TYPES` (``sos`` from the client's SOS button) raises an
alert; everything else is a position that updates the device's last known location.

Idempotency of alerts: the protocol has no sequence number. :meth:`OsmAndReport.alert_seq` uses
the device timestamp of the SOS position in epoch seconds, so a client re-sending the same
request (it does so until it gets a 200) is one incident; without a timestamp, the receive time
truncated to the minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson

from gateway.payloads import DEVICE_ID, AlertIn, AlertType, Cell, Location, PayloadError, TelemetryIn, iso_utc

KNOTS_PER_MPS = 1.943844

# alarm value -> alert type. Traccar Client sends "sos"; the rest are Traccar's alarm names some
# OsmAnd-speaking trackers send.
ALARM_INCIDENT_TYPES: dict[str, AlertType] = {
    "sos": "panic",
    "panic": "panic",
    "general": "panic",
    "falldown": "medical",
    "fall_down": "medical",
    "accident": "accident",
    "fire": "fire",
}

MAX_PARAMS = 100
_MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_BATCH = 100


@dataclass(frozen=True)
class WifiAccessPoint:
    mac: str
    rssi: int


@dataclass(frozen=True)
class OsmAndReport:
    device_id: str
    ts: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    valid: bool = True
    accuracy_m: float | None = None
    speed_knots: float | None = None
    course: float | None = None
    altitude_m: float | None = None
    battery: float | None = None  # percent
    charging: bool | None = None
    cell: Cell | None = None
    wifi: tuple[WifiAccessPoint, ...] = ()
    alarm: str | None = None
    extras: dict[str, str | float | bool] = field(default_factory=dict)

    @property
    def alert_type(self) -> AlertType | None:
        """The alert type when this report raises an alert, else None."""
        if not self.alarm:
            return None
        return ALARM_INCIDENT_TYPES.get(self.alarm.strip().lower())

    def location(self) -> Location | None:
        if self.lat is None or self.lon is None or not self.valid or (self.lat == 0 and self.lon == 0):
            return None
        acc = self.accuracy_m if self.accuracy_m is not None and 0 <= self.accuracy_m <= 1_000_000 else None
        return Location(lat=self.lat, lon=self.lon, acc=acc, fix_ts=_epoch(self.ts))

    def batt(self) -> int | None:
        if self.battery is None or not math.isfinite(self.battery) or self.battery < 0:
            return None
        return min(100, round(self.battery))

    def alert_seq(self, received_at: datetime) -> int:
        if self.ts is not None:
            return int(self.ts.timestamp())
        return int(received_at.timestamp()) // 60 * 60

    def to_alert(self, received_at: datetime) -> AlertIn:
        alert_type = self.alert_type
        if alert_type is None:
            raise ValueError("this report raises no alert")
        return AlertIn(
            seq=self.alert_seq(received_at),
            ts=_epoch(self.ts),
            type=alert_type,
            loc=self.location(),
            cell=self.cell,
            batt=self.batt(),
        )

    def to_telemetry(self) -> TelemetryIn:
        return TelemetryIn(
            ts=_epoch(self.ts),
            batt=self.batt(),
            rssi=self.cell.rssi if self.cell else None,
            loc=self.location(),
            cell=self.cell,
        )


def _epoch(ts: datetime | None) -> float | None:
    # the payload models take device times as epoch numbers or text, not datetime objects
    return ts.timestamp() if ts is not None else None


def decode(query: str, body: bytes, content_type: str | None) -> list[OsmAndReport]:
    """One HTTP request -> its reports (one, or several for a JSON batch). :class:`PayloadError`
    with reason ``malformed_json``, ``invalid`` or ``bad_device_id`` otherwise."""
    if content_type and content_type.split(";")[0].strip().lower() == "application/json":
        return _decode_json(body)
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            raise PayloadError("invalid", "form body is not ASCII") from None
        params = parse_qsl(text, keep_blank_values=True)
    if not params:
        raise PayloadError("invalid", "no parameters in the query string or the body")
    return [_decode_params(params)]


def _device_id(value: object) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise PayloadError("bad_device_id", f"device id {value!r} is not a string")
    text = str(value)
    if not DEVICE_ID.match(text):
        raise PayloadError("bad_device_id", f"device id {text[:80]!r} is not [A-Za-z0-9_-]{{3,64}}")
    return text


def _num(name: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise PayloadError("invalid", f"{name}={value[:40]!r} is not a number") from None
    if not math.isfinite(x):
        raise PayloadError("invalid", f"{name}={value[:40]!r} is not finite")
    return x


def parse_timestamp(value: str) -> datetime:
    """Traccar's rule: an integer below 2**31 is seconds, above it milliseconds; else a date."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise PayloadError("invalid", f"timestamp {text[:40]!r} is not finite")
        seconds = number if number < 2**31 else number / 1000.0
        try:
            return _in_range(datetime.fromtimestamp(seconds, UTC), text)
        except (OverflowError, OSError, ValueError):
            raise PayloadError("invalid", f"timestamp {text[:40]!r} is out of range") from None
    try:
        parsed = iso_utc(text)
    except ValueError:
        raise PayloadError("invalid", f"timestamp {text[:40]!r} is not a time") from None
    return _in_range(parsed, text)


def _in_range(ts: datetime, text: str) -> datetime:
    if not _MIN_TIME <= ts <= _MAX_TIME:
        raise PayloadError("invalid", f"timestamp {text[:40]!r} is outside 2000..2100")
    return ts


def _cell(value: str) -> Cell:
    parts = value.split(",")
    if len(parts) not in (4, 5):
        raise PayloadError("invalid", f"cell={value[:60]!r} is not mcc,mnc,lac,cid[,rssi]")
    try:
        mcc, mnc, lac, cid = (int(p) for p in parts[:4])
        rssi = int(parts[4]) if len(parts) == 5 else None
        if rssi is not None and not -200 <= rssi <= 0:
            rssi = None  # some clients send a signal level, not dBm
        return Cell(mcc=mcc, mnc=mnc, lac=lac, cid=cid, rssi=rssi)
    except ValueError:
        raise PayloadError("invalid", f"cell={value[:60]!r} is not mcc,mnc,lac,cid[,rssi]") from None


def _wifi(value: str) -> WifiAccessPoint:
    mac, _, rssi = value.partition(",")
    try:
        return WifiAccessPoint(mac=mac.replace("-", ":").lower(), rssi=int(rssi))
    except ValueError:
        raise PayloadError("invalid", f"wifi={value[:60]!r} is not mac,rssi") from None


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true")


def _decode_params(params: list[tuple[str, str]]) -> OsmAndReport:
    if len(params) > MAX_PARAMS:
        raise PayloadError("invalid", f"{len(params)} parameters > {MAX_PARAMS}")
    fields: dict[str, object] = {}
    wifi: list[WifiAccessPoint] = []
    extras: dict[str, str | float | bool] = {}
    lat = lon = None
    for key, value in params:
        if key in ("id", "deviceid"):
            fields["device_id"] = _device_id(value)
        elif key == "valid":
            fields["valid"] = _bool(value)
        elif key == "timestamp":
            fields["ts"] = parse_timestamp(value)
        elif key == "lat":
            lat = _num(key, value)
        elif key == "lon":
            lon = _num(key, value)
        elif key == "location":
            a, _, b = value.partition(",")
            lat, lon = _num("location", a), _num("location", b)
        elif key == "cell":
            fields["cell"] = _cell(value)
        elif key == "wifi":
            wifi.append(_wifi(value))
        elif key == "speed":
            fields["speed_knots"] = _num(key, value)
        elif key in ("bearing", "heading"):
            fields["course"] = _num(key, value)
        elif key == "altitude":
            fields["altitude_m"] = _num(key, value)
        elif key == "accuracy":
            fields["accuracy_m"] = _num(key, value)
        elif key == "batt":
            fields["battery"] = _num(key, value)
        elif key == "charge":
            fields["charging"] = _bool(value)
        elif key == "alarm":
            fields["alarm"] = value[:64]
        else:
            extras[key[:64]] = _extra(value)
    if "device_id" not in fields:
        raise PayloadError("bad_device_id", "no id or deviceid parameter")
    _check_point(lat, lon)
    return OsmAndReport(lat=lat, lon=lon, wifi=tuple(wifi), extras=extras, **fields)  # type: ignore[arg-type]


def _extra(value: str) -> str | float | bool:
    if value in ("true", "false"):
        return value == "true"
    try:
        x = float(value)
    except ValueError:
        return value[:256]
    return x if math.isfinite(x) else value[:256]


def _check_point(lat: float | None, lon: float | None) -> None:
    if lat is not None and not -90 <= lat <= 90:
        raise PayloadError("invalid", f"latitude {lat} is outside -90..90")
    if lon is not None and not -180 <= lon <= 180:
        raise PayloadError("invalid", f"longitude {lon} is outside -180..180")


def _decode_json(body: bytes) -> list[OsmAndReport]:
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise PayloadError("malformed_json", str(e)) from None
    if not isinstance(root, dict):
        raise PayloadError("invalid", "expected a JSON object")
    device_id = _device_id(root.get("device_id"))
    locations = root.get("location")
    if isinstance(locations, dict):
        locations = [locations]
    if not isinstance(locations, list) or not locations:
        raise PayloadError("invalid", "no location object")
    if len(locations) > MAX_BATCH:
        raise PayloadError("invalid", f"{len(locations)} locations > {MAX_BATCH}")
    return [_json_location(device_id, loc) for loc in locations]


def _short(value: object) -> str:
    # str() of a list or object 1000 levels deep (orjson allows 1024) raises RecursionError
    if isinstance(value, list | dict):
        return f"<{type(value).__name__}>"
    return repr(str(value)[:40])


def _json_number(obj: dict[str, object], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError("invalid", f"{key}={_short(value)} is not a number")
    return float(value)


def _json_location(device_id: str, loc: object) -> OsmAndReport:
    if not isinstance(loc, dict):
        raise PayloadError("invalid", "a location is not a JSON object")
    ts = loc.get("timestamp")
    fields: dict[str, object] = {}
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, str | int | float):
            raise PayloadError("invalid", f"timestamp={_short(ts)} is not a time")
        fields["ts"] = parse_timestamp(str(ts))
    coords = loc.get("coords")
    lat = lon = None
    if isinstance(coords, dict):
        lat, lon = _json_number(coords, "latitude"), _json_number(coords, "longitude")
        _check_point(lat, lon)
        speed = _json_number(coords, "speed")
        if speed is not None and speed >= 0:
            fields["speed_knots"] = speed * KNOTS_PER_MPS
        heading = _json_number(coords, "heading")
        if heading is not None and heading >= 0:
            fields["course"] = heading
        accuracy = _json_number(coords, "accuracy")
        if accuracy is not None and accuracy >= 0:
            fields["accuracy_m"] = accuracy
        fields["altitude_m"] = _json_number(coords, "altitude")
    battery = loc.get("battery")
    if isinstance(battery, dict):
        level = _json_number(battery, "level")
        if level is not None and level >= 0:
            fields["battery"] = level * 100 if level <= 1 else level
        if isinstance(battery.get("is_charging"), bool):
            fields["charging"] = battery["is_charging"]
    alarm = loc.get("alarm")
    extras_obj = loc.get("extras")
    if alarm is None and isinstance(extras_obj, dict):
        alarm = extras_obj.get("alarm")
    if isinstance(alarm, str | int | float) and not isinstance(alarm, bool):
        fields["alarm"] = str(alarm)[:64]
    extras: dict[str, str | float | bool] = {}
    for key in ("event", "is_moving", "odometer", "mock"):
        value = loc.get(key)
        if isinstance(value, str | bool | int | float):
            extras[key] = value if not isinstance(value, str) else value[:256]
    activity = loc.get("activity")
    if isinstance(activity, dict) and isinstance(activity.get("type"), str):
        extras["activity"] = activity["type"][:64]
    return OsmAndReport(device_id=device_id, lat=lat, lon=lon, extras=extras, **fields)  # type: ignore[arg-type]
