"""The GT06 binary protocol of cheap GPS/SOS trackers (Concox GT06/GT06N and clones). Pure: no I/O.

Frame (all integers big-endian)::

    78 78 | len:1 | protocol:1 | content | serial:2 | crc:2 | 0D 0A     (standard)
    79 79 | len:2 | protocol:1 | content | serial:2 | crc:2 | 0D 0A     (extended)

``len`` counts protocol number .. CRC; the CRC is CRC-16/X.25 over ``len`` .. serial. The server
answers login, heartbeat/status, location and alarm packets with ``78 78 05 <protocol> <serial>
<crc> 0D 0A`` (same framing as the request); the device re-sends an alarm until it is answered.

:class:`StreamParser` cuts a TCP byte stream into frames: it resynchronises on garbage, refuses
oversize frames without buffering them, and reports a bad CRC as a refusal while the stream
stays usable. :func:`decode` turns a frame into a :class:`Message`.

Idempotency of alarms: GT06 carries no alert sequence number (the serial number wraps at 65535
and restarts at power-up). :func:`alarm_seq` derives one from the device timestamp of the alarm
position and the alarm code, so a tracker re-sending the same alarm (it does so until answered,
and again after a reconnect) is one incident. Without a usable device time it falls back to the
receive time truncated to the minute.

Policy: only the alarms of :data:`INCIDENT_TYPES` (SOS, accident, fall) become incidents; the
others (power cut, geofence, low battery...) are stored as positions and logged. The alarm bits of
status/heartbeat packets are not alerts: a tracker repeats them in every heartbeat while the
alarm lasts, and it reports the alarm itself in an alarm packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from gateway.payloads import AlertIn, AlertType, Cell, Location, PayloadError, TelemetryIn

SHORT_START = b"\x78\x78"
LONG_START = b"\x79\x79"
STOP = b"\r\n"

# Protocol numbers (Concox GT06 protocol document; the extras as Traccar's Gt06ProtocolDecoder).
LOGIN = 0x01
GPS = 0x10
GPS_LBS = 0x12
STATUS = 0x13
GPS_LBS_STATUS = 0x16  # "alarm data"
LBS_STATUS = 0x19  # LBS alarm (no GPS)
GPS_LBS_2 = 0x22
HEARTBEAT = 0x23  # GK310-style heartbeat
GPS_LBS_STATUS_2 = 0x26  # alarm data, GT06N
GPS_LBS_STATUS_3 = 0x27  # alarm data + geofence number
TIME_REQUEST = 0x8A
COMMAND_REPLIES = frozenset((0x80, 0x81, 0x82, 0x15, 0x21))

_ALARM_PROTOCOLS = frozenset((GPS_LBS_STATUS, GPS_LBS_STATUS_2, GPS_LBS_STATUS_3, LBS_STATUS))
_LOCATION_PROTOCOLS = frozenset((GPS, GPS_LBS, GPS_LBS_2))

# The alarm byte of alarm packets. 0x00..0x05 are the GT06 document's; the rest are those of the
# later Concox documents (GT06N, GT800, JM01...), named as Traccar names them.
ALARM_CODES: dict[int, str] = {
    0x01: "sos",
    0x02: "power_cut",
    0x03: "vibration",
    0x04: "geofence_enter",
    0x05: "geofence_exit",
    0x06: "overspeed",
    0x09: "vibration",
    0x0E: "low_battery",
    0x0F: "low_battery",
    0x11: "power_off",
    0x13: "tampering",
    0x14: "door",
    0x23: "fall_down",
    0x29: "acceleration",
    0x2A: "cornering",
    0x2B: "cornering",
    0x2C: "accident",
    0x30: "braking",
}
# Bits 3..5 of the terminal-information byte (the document's "alarm" field of the status byte).
TERMINAL_ALARMS: dict[int, str] = {
    0b001: "vibration",
    0b010: "power_cut",
    0b011: "low_battery",
    0b100: "sos",
    0b110: "geofence",
    0b111: "removing",
}
# The alarms that are emergencies for SIAGA and become incidents; the others are recorded with the
# position (telemetry) and logged, not dispatched.
INCIDENT_TYPES: dict[str, AlertType] = {"sos": "panic", "accident": "accident", "fall_down": "medical"}


class FrameRefused(PayloadError):
    """A frame's content refused by :func:`decode`, with a reason code like any refused payload
    (the stream parser does not raise: it returns :class:`Refusal`)."""


def crc16_x25(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


# ---- framing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    extended: bool
    protocol: int
    content: bytes  # between protocol number and serial
    serial: int
    raw: bytes


@dataclass(frozen=True)
class Refusal:
    """Bytes the parser could not use. ``reason``: garbage, bad_length, oversize, bad_stop, bad_crc,
    truncated. ``payload`` is (at most the first ``max_report`` bytes of) what was refused."""

    reason: str
    detail: str
    payload: bytes


def encode(protocol: int, serial: int, content: bytes = b"", *, extended: bool = False) -> bytes:
    """One frame, CRC included."""
    length = 1 + len(content) + 2 + 2
    head = struct.pack(">H", length) if extended else struct.pack(">B", length)
    body = head + bytes((protocol,)) + content + struct.pack(">H", serial & 0xFFFF)
    return (LONG_START if extended else SHORT_START) + body + struct.pack(">H", crc16_x25(body)) + STOP


def response(frame: Frame, content: bytes = b"") -> bytes:
    """The server's answer to ``frame``: same protocol number and serial."""
    return encode(frame.protocol, frame.serial, content, extended=frame.extended)


class StreamParser:
    """Incremental frame parser for one TCP connection; holds at most ``max_frame`` bytes."""

    def __init__(self, max_frame: int = 1024, max_report: int = 256) -> None:
        if max_frame < 10:
            raise ValueError("max_frame must hold at least a minimal frame (10 bytes)")
        self.max_frame = max_frame
        self.max_report = max_report
        self._buf = bytearray()
        self._garbage = bytearray()
        self._garbage_count = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | Refusal]:
        self._buf += data
        out: list[Frame | Refusal] = []
        buf = self._buf
        while buf:
            start = _find_start(buf)
            if start < 0:
                # keep a last 0x78/0x79: it may be the first half of a start marker
                keep = 1 if buf[-1] in (0x78, 0x79) else 0
                self._skip(len(buf) - keep, out)
                break
            if start:
                self._skip(start, out)
                continue
            extended = buf[0] == 0x79
            head = 4 if extended else 3
            if len(buf) < head:
                break
            length = struct.unpack_from(">H", buf, 2)[0] if extended else buf[2]
            total = head + length + 2
            if length < 5:
                self._flush_garbage(out)
                out.append(Refusal("bad_length", f"length field {length} < 5", bytes(buf[:head])))
                del buf[:1]
                continue
            if total > self.max_frame:
                self._flush_garbage(out)
                out.append(Refusal("oversize", f"frame of {total} bytes > limit {self.max_frame}", bytes(buf[:head])))
                del buf[:1]
                continue
            if len(buf) < total:
                break
            if buf[total - 2 : total] != STOP:
                self._flush_garbage(out)
                out.append(Refusal("bad_stop", "no 0D 0A where the length says the frame ends", bytes(buf[:total])))
                del buf[:1]
                continue
            raw = bytes(buf[:total])
            del buf[:total]
            self._flush_garbage(out)
            body = raw[2 : total - 4]
            crc = struct.unpack_from(">H", raw, total - 4)[0]
            if crc16_x25(body) != crc:
                out.append(Refusal("bad_crc", f"crc {crc:04x} != {crc16_x25(body):04x}", raw))
                continue
            out.append(
                Frame(
                    extended=extended,
                    protocol=raw[head],
                    content=raw[head + 1 : total - 6],
                    serial=struct.unpack_from(">H", raw, total - 6)[0],
                    raw=raw,
                )
            )
        self._flush_garbage(out)
        return out

    def close(self) -> Refusal | None:
        """At end of stream: the incomplete frame left over, if any."""
        if not self._buf:
            return None
        left = bytes(self._buf[: self.max_report])
        n = len(self._buf)
        self._buf.clear()
        return Refusal("truncated", f"stream ended inside a frame ({n} bytes)", left)

    def _skip(self, n: int, out: list[Frame | Refusal]) -> None:
        if n <= 0:
            return
        room = self.max_report - len(self._garbage)
        if room > 0:
            self._garbage += self._buf[: min(n, room)]
        self._garbage_count += n
        del self._buf[:n]

    def _flush_garbage(self, out: list[Frame | Refusal]) -> None:
        if self._garbage_count:
            out.append(Refusal("garbage", f"{self._garbage_count} bytes outside any frame", bytes(self._garbage)))
            self._garbage.clear()
            self._garbage_count = 0


def _find_start(buf: bytearray) -> int:
    a = buf.find(SHORT_START)
    b = buf.find(LONG_START)
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)


# ---- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpsFix:
    time: datetime | None
    satellites: int
    lat: float
    lon: float
    speed_kmh: int
    course: int
    positioned: bool


@dataclass(frozen=True)
class CellTower:
    mcc: int
    mnc: int
    lac: int
    cid: int


@dataclass(frozen=True)
class TerminalStatus:
    info: int  # the terminal-information byte
    battery_percent: int | None
    gsm_level: int | None  # 0..4
    alarm: str | None  # from bits 3..5 of ``info``

    @property
    def charging(self) -> bool:
        return bool(self.info & 0b100)


MessageKind = Literal["login", "heartbeat", "location", "alarm", "time_request", "command_reply", "other"]


@dataclass(frozen=True)
class Message:
    kind: MessageKind
    protocol: int
    serial: int
    imei: str | None = None
    gps: GpsFix | None = None
    cell: CellTower | None = None
    status: TerminalStatus | None = None
    alarm_code: int | None = None
    alarm: str | None = None  # name, from the alarm byte or else the terminal-information bits
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def needs_response(self) -> bool:
        return self.kind in ("login", "heartbeat", "location", "alarm", "other")

    @property
    def incident_type(self) -> AlertType | None:
        """The alert type when this message is an emergency SIAGA dispatches, else None."""
        if self.kind != "alarm" or self.alarm is None:
            return None
        return INCIDENT_TYPES.get(self.alarm)

    def device_time(self) -> datetime | None:
        return self.gps.time if self.gps else None

    def location(self) -> Location | None:
        g = self.gps
        if g is None or not g.positioned or (g.lat == 0 and g.lon == 0):
            return None
        if not (-90 <= g.lat <= 90 and -180 <= g.lon <= 180):
            return None
        return Location(lat=g.lat, lon=g.lon, fix_ts=_epoch(g.time))

    def payload_cell(self) -> Cell | None:
        c = self.cell
        if c is None or c.cid == 0 or c.mcc > 999 or c.mnc > 999:
            return None
        return Cell(mcc=c.mcc, mnc=c.mnc, lac=c.lac, cid=c.cid)

    def battery(self) -> int | None:
        return self.status.battery_percent if self.status else None

    def to_alert(self, received_at: datetime) -> AlertIn:
        alert_type = self.incident_type
        if alert_type is None:
            raise ValueError("not an emergency alarm")
        return AlertIn(
            seq=alarm_seq(self.device_time(), self.alarm_code or 0, received_at),
            ts=_epoch(self.device_time()),
            type=alert_type,
            loc=self.location(),
            cell=self.payload_cell(),
            batt=self.battery(),
        )

    def to_telemetry(self) -> TelemetryIn:
        return TelemetryIn(
            ts=_epoch(self.device_time()), batt=self.battery(), loc=self.location(), cell=self.payload_cell()
        )


def _epoch(ts: datetime | None) -> float | None:
    # the payload models take device times as epoch numbers or text, not datetime objects
    return ts.timestamp() if ts is not None else None


def alarm_seq(device_time: datetime | None, alarm_code: int, received_at: datetime) -> int:
    """The idempotency key of a GT06 alarm: device epoch seconds * 256 + alarm code (see module doc)."""
    if device_time is not None:
        seconds = int(device_time.timestamp())
    else:
        seconds = int(received_at.timestamp()) // 60 * 60
    return seconds * 256 + (alarm_code & 0xFF)


def decode(frame: Frame, *, tz_offset_min: int = 0) -> Message:
    """Frame -> Message; :class:`FrameRefused` ('short_content', 'bad_imei') when the content is too
    short or malformed for its protocol number. Device times are UTC (the GT06 document) unless the
    device announced a time zone in its login (GT06N extension bits), as Traccar reads them."""
    p, c = frame.protocol, frame.content
    try:
        if p == LOGIN:
            return _login(frame)
        if p == STATUS:
            return Message("heartbeat", p, frame.serial, status=_status(c, 0), alarm_code=_opt(c, 3))
        if p == HEARTBEAT:
            return _gk310_heartbeat(frame)
        if p == TIME_REQUEST:
            return Message("time_request", p, frame.serial)
        if p in _LOCATION_PROTOCOLS:
            gps = _gps(c, 0, tz_offset_min)
            cell = _cell(c, 18) if p != GPS and len(c) >= 26 else None
            extra: dict[str, int] = {}
            if p == GPS_LBS_2 and len(c) >= 29:
                extra = {"acc": c[26], "upload_mode": c[27], "reupload": c[28]}
            return Message("location", p, frame.serial, gps=gps, cell=cell, extra=extra)
        if p in _ALARM_PROTOCOLS:
            return _alarm(frame, tz_offset_min)
        if p in COMMAND_REPLIES:
            return Message("command_reply", p, frame.serial)
    except (IndexError, struct.error):
        raise FrameRefused("short_content", f"protocol 0x{p:02x} content of {len(c)} bytes") from None
    return Message("other", p, frame.serial)


def _opt(c: bytes, i: int) -> int | None:
    return c[i] if len(c) > i else None


def _login(frame: Frame) -> Message:
    c = frame.content
    if len(c) < 8:
        raise FrameRefused("short_content", f"login content of {len(c)} bytes")
    digits = c[:8].hex()
    if not digits.isdigit():
        raise FrameRefused("bad_imei", f"IMEI BCD {digits!r} is not decimal")
    imei = digits[1:] if digits[0] == "0" else digits
    extra: dict[str, int] = {}
    if len(c) >= 10:
        extra["type_id"] = struct.unpack_from(">H", c, 8)[0]
    if len(c) >= 12:
        bits = struct.unpack_from(">H", c, 10)[0]
        minutes = (bits >> 4) // 100 * 60 + (bits >> 4) % 100
        extra["tz_offset_min"] = -minutes if bits & 0x8 else minutes
    return Message("login", LOGIN, frame.serial, imei=imei, extra=extra)


def _gk310_heartbeat(frame: Frame) -> Message:
    c = frame.content
    info = c[0]
    battery = None
    if len(c) >= 3:
        volts = struct.unpack_from(">H", c, 1)[0] / 100.0
        # a 1-cell Li-ion: ~3.4 V empty .. 4.2 V full
        battery = max(0, min(100, round((volts - 3.4) / 0.8 * 100)))
    status = TerminalStatus(
        info=info,
        battery_percent=battery,
        gsm_level=_opt(c, 3),
        alarm=None,
    )
    return Message("heartbeat", HEARTBEAT, frame.serial, status=status)


def _gps(c: bytes, at: int, tz_offset_min: int = 0) -> GpsFix:
    if len(c) < at + 18:
        raise IndexError("gps block")
    yy, mo, dd, hh, mi, ss, sats = c[at : at + 7]
    lat_raw, lon_raw, speed, flags = struct.unpack_from(">IIBH", c, at + 7)
    lat = lat_raw / 1_800_000.0
    lon = lon_raw / 1_800_000.0
    if not flags & (1 << 10):  # bit 10 set = north
        lat = -lat
    if flags & (1 << 11):  # bit 11 set = west
        lon = -lon
    try:
        time: datetime | None = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=UTC) - timedelta(minutes=tz_offset_min)
    except ValueError:
        time = None
    if time is not None and not 2000 <= time.year < 2100:
        time = None
    return GpsFix(
        time=time,
        satellites=sats & 0x0F,
        lat=round(lat, 7),
        lon=round(lon, 7),
        speed_kmh=speed,
        course=flags & 0x3FF,
        positioned=bool(flags & (1 << 12)),
    )


def _cell(c: bytes, at: int) -> CellTower:
    if len(c) < at + 8:
        raise IndexError("lbs block")
    mcc = struct.unpack_from(">H", c, at)[0]
    if mcc & 0x8000:  # 2-byte MNC
        mnc = struct.unpack_from(">H", c, at + 2)[0]
        at += 1
    else:
        mnc = c[at + 2]
    lac = struct.unpack_from(">H", c, at + 3)[0]
    cid = int.from_bytes(c[at + 5 : at + 8], "big")
    return CellTower(mcc=mcc & 0x7FFF, mnc=mnc, lac=lac, cid=cid)


def _status(c: bytes, at: int) -> TerminalStatus:
    info, voltage_level, gsm = c[at], c[at + 1], c[at + 2]
    return TerminalStatus(
        info=info,
        battery_percent=min(100, voltage_level * 100 // 6),
        gsm_level=gsm,
        alarm=TERMINAL_ALARMS.get((info >> 3) & 0b111),
    )


def _alarm(frame: Frame, tz_offset_min: int = 0) -> Message:
    p, c = frame.protocol, frame.content
    at = 0
    gps = None
    if p != LBS_STATUS:
        gps = _gps(c, 0, tz_offset_min)
        at = 18
    lbs_len = c[at]
    cell = _cell(c, at + 1) if lbs_len else None
    # the length byte counts itself; 0 = no cell block at all
    at += max(9, lbs_len) if lbs_len else 1
    status = _status(c, at)
    code = c[at + 3]
    extra: dict[str, int] = {"language": c[at + 4]} if len(c) > at + 4 else {}
    if p == GPS_LBS_STATUS_3 and len(c) > at + 5:
        extra["geofence"] = c[at + 5]
    name = ALARM_CODES.get(code) if code else status.alarm
    return Message(
        "alarm", p, frame.serial, gps=gps, cell=cell, status=status, alarm_code=code, alarm=name, extra=extra
    )


def time_response(frame: Frame, now: datetime) -> bytes:
    """Answer to a time request (0x8A): the server's UTC time."""
    t = now.astimezone(UTC)
    content = bytes((t.year - 2000, t.month, t.day, t.hour, t.minute, t.second))
    return encode(TIME_REQUEST, frame.serial, content, extended=frame.extended)


# ---- encoders for simulators, tests and the benchmark -----------------------------------------


def encode_gps(
    time: datetime,
    lat: float,
    lon: float,
    *,
    speed_kmh: int = 0,
    course: int = 0,
    satellites: int = 9,
    positioned: bool = True,
) -> bytes:
    """The 18-byte GPS block of location and alarm packets."""
    t = time.astimezone(UTC)
    flags = (
        (course & 0x3FF) | (1 << 12 if positioned else 0) | (1 << 10 if lat >= 0 else 0) | (1 << 11 if lon < 0 else 0)
    )
    return bytes((t.year - 2000, t.month, t.day, t.hour, t.minute, t.second, 0xC0 | (satellites & 0x0F))) + struct.pack(
        ">IIBH", round(abs(lat) * 1_800_000), round(abs(lon) * 1_800_000), speed_kmh & 0xFF, flags
    )


def encode_cell(mcc: int, mnc: int, lac: int, cid: int) -> bytes:
    return struct.pack(">HBH", mcc, mnc, lac) + cid.to_bytes(3, "big")


def encode_alarm_content(
    time: datetime,
    lat: float,
    lon: float,
    *,
    alarm_code: int = 0x01,
    cell: tuple[int, int, int, int] = (510, 10, 1, 1),
    voltage_level: int = 5,
    gsm_level: int = 4,
) -> bytes:
    """Content of an alarm packet (0x16/0x26): GPS, LBS with its length byte, status, alarm, language."""
    info = 0x40 | (0b100 << 3 if alarm_code == 0x01 else 0)
    return (
        encode_gps(time, lat, lon)
        + b"\x09"
        + encode_cell(*cell)
        + bytes((info, voltage_level, gsm_level, alarm_code, 0x02))
    )
