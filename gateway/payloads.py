"""Device payloads of the wire contract (DESIGN.md), as pydantic models. Pure: no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# \A..\Z, not ^..$: "$" also matches before a final newline, and "abc\n" is no device id
DEVICE_ID = re.compile(r"\A[A-Za-z0-9_-]{3,64}\Z")

AlertType = Literal["panic", "crime", "fire", "medical", "accident", "test"]
ALERT_TYPES: tuple[str, ...] = ("panic", "crime", "fire", "medical", "accident", "test")

# 2000-01-01 .. 2100-01-01: anything outside is a broken device clock, not a time.
_MIN_EPOCH = 946_684_800
_MAX_EPOCH = 4_102_444_800


M = TypeVar("M", bound=BaseModel)


class PayloadError(ValueError):
    """A payload that cannot be accepted; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def iso_utc(text: str) -> datetime:
    """An ISO-8601 time (``Z`` allowed) as an aware UTC datetime; one without an offset is UTC.

    Raises ValueError when ``text`` is not one, including a time its offset pushes out of
    datetime's range (0001-01-01 at +01:00 is before ``datetime.min`` in UTC).
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as e:
        raise ValueError(str(e)) from None


def parse_device_time(value: object) -> datetime | None:
    """Epoch seconds (int/float, or milliseconds when clearly so) or ISO-8601 -> aware UTC datetime.

    A well-formed time outside 2000..2100 is a device clock that lost its setting (an RTC reset
    to 1970 after a flat battery, a GPS week rollover): it gives None, "device time unknown", so
    the alert still becomes an incident (on server time) and the raw payload keeps what was sent.
    Refusing it would dead-letter every press of that button until someone resets its clock.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("nilai boolean bukan waktu")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds > _MAX_EPOCH * 10:  # milliseconds
            seconds /= 1000.0
        if not _MIN_EPOCH <= seconds <= _MAX_EPOCH:
            return None
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit():
            return parse_device_time(float(text))
        try:
            parsed = iso_utc(text)
        except ValueError:
            raise ValueError(f"bukan waktu ISO-8601: {value[:40]!r}") from None
        if not _MIN_EPOCH <= parsed.timestamp() <= _MAX_EPOCH:
            return None
        return parsed
    raise ValueError(f"bukan waktu: {value!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Location(_Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    acc: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    fix_ts: datetime | None = None

    @field_validator("fix_ts", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime | None:
        return parse_device_time(v)


class Cell(_Strict):
    mcc: Annotated[int, Field(ge=0, le=999)]
    mnc: Annotated[int, Field(ge=0, le=999)]
    lac: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    cid: Annotated[int, Field(ge=0, le=0xFFFFFFFFF)]
    rssi: Annotated[int, Field(ge=-200, le=0)] | None = None


class AlertIn(_Strict):
    seq: Annotated[int, Field(ge=0, le=2**62)]
    ts: datetime | None = None
    type: AlertType = "panic"
    loc: Location | None = None
    cell: Cell | None = None
    batt: Annotated[int, Field(ge=0, le=100)] | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime | None:
        return parse_device_time(v)


class TelemetryIn(_Strict):
    seq: Annotated[int, Field(ge=0, le=2**62)] | None = None
    ts: datetime | None = None
    batt: Annotated[int, Field(ge=0, le=100)] | None = None
    rssi: Annotated[int, Field(ge=-200, le=0)] | None = None
    loc: Location | None = None
    cell: Cell | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime | None:
        return parse_device_time(v)


def _decode_json(raw: bytes, max_bytes: int) -> object:
    if len(raw) > max_bytes:
        raise PayloadError("oversize", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise PayloadError("malformed_json", str(e)) from None


def _validate(model: type[M], data: object) -> M:
    if not isinstance(data, dict):
        raise PayloadError("invalid", f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()[:5]
        )
        raise PayloadError("invalid", errors) from None


def decode_alert(raw: bytes, max_bytes: int = 8192) -> AlertIn:
    return _validate(AlertIn, _decode_json(raw, max_bytes))


def decode_telemetry(raw: bytes, max_bytes: int = 8192) -> TelemetryIn:
    return _validate(TelemetryIn, _decode_json(raw, max_bytes))


# ---- topics -----------------------------------------------------------------------------------

UpKind = Literal["alert", "telemetry", "status"]
_UP_KINDS = frozenset(("alert", "telemetry", "status"))


def parse_up_topic(topic: str, root: str) -> tuple[str, UpKind]:
    """``{root}/devices/{id}/{kind}`` -> (device id, kind); PayloadError otherwise."""
    prefix = root.rstrip("/") + "/devices/"
    if not topic.startswith(prefix):
        raise PayloadError("bad_topic", f"topic {topic!r} is not under {prefix!r}")
    rest = topic[len(prefix) :].split("/")
    if len(rest) != 2 or rest[1] not in _UP_KINDS:
        raise PayloadError("bad_topic", f"topic {topic!r} is not devices/<id>/(alert|telemetry|status)")
    if not DEVICE_ID.match(rest[0]):
        raise PayloadError("bad_device_id", f"device id {rest[0]!r} is not [A-Za-z0-9_-]{{3,64}}")
    return rest[0], rest[1]  # type: ignore[return-value]


def down_topic(root: str, device_id: str) -> str:
    return f"{root.rstrip('/')}/devices/{device_id}/down"


def receipt(seq: int, incident_id: str, state: str = "received") -> bytes:
    return orjson.dumps({"seq": seq, "incident_id": incident_id, "state": state})
