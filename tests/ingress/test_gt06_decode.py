"""GT06 framing and decoding, tabled from the example packets of the Concox GT06 protocol document
and of Traccar's Gt06ProtocolDecoderTest (real device captures)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import gt06
from gateway.gt06 import Frame, FrameRefused, Refusal, StreamParser

RECEIVED = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)

# document examples
DOC_LOGIN = "78780D01012345678901234500018CDD0D0A"
DOC_LOGIN_REPLY = "787805010001D9DC0D0A"
DOC_GPS_LBS = "78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A"
DOC_STATUS = "78780A134004040001000FDCEE0D0A"
DOC_ALARM_SOS = "787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A"
# captures from Traccar's tests
LOGIN_2 = "78780D01086471700328358100093F040D0A"
GPS_LBS_2 = "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A"
ALARM_REMOVING = "7878251613020C12141AC5027951430C2A16F60014000900000000001A00007C550300020002F1E70D0A"
ALARM_26 = "7878252612030C063816C3026C10540C38C9700144030901CC002866000EEE0C06040302000DA2DB0D0A"
STATUS_BATT = "7878151330802b00000642014f0008720000802b5ee4d4c90d0a"
HEARTBEAT_23 = "78780B23C00122040001000818720D0A"
EXTENDED_9B = "797900099b0380d600046f91e90d0a"


def frames(hexes: str) -> list[Frame | Refusal]:
    return StreamParser().feed(bytes.fromhex(hexes))


def frame(hexes: str) -> Frame:
    out = frames(hexes)
    assert len(out) == 1 and isinstance(out[0], Frame), out
    return out[0]


def message(hexes: str) -> gt06.Message:
    return gt06.decode(frame(hexes))


@pytest.mark.parametrize(
    ("data", "expect"),
    [(b"123456789", 0x906E), (bytes.fromhex("0D0101234567890123450001"), 0x8CDD)],
)
def test_crc16_x25(data: bytes, expect: int) -> None:
    assert gt06.crc16_x25(data) == expect


def test_login_and_its_documented_reply() -> None:
    f = frame(DOC_LOGIN)
    m = gt06.decode(f)
    assert (m.kind, m.imei, m.serial) == ("login", "123456789012345", 1)
    assert gt06.response(f).hex().upper() == DOC_LOGIN_REPLY
    assert message(LOGIN_2).imei == "864717003283581"


def test_login_with_type_and_timezone() -> None:
    # GT06N login with type id 0x3608 and extension bits for GMT+7:00 (0x2BC = 700, east)
    content = bytes.fromhex("0123456789012345") + bytes.fromhex("3608") + ((700 << 4) | 0x2).to_bytes(2, "big")
    m = gt06.decode(frame(gt06.encode(gt06.LOGIN, 5, content).hex()))
    assert m.extra == {"type_id": 0x3608, "tz_offset_min": 420}


def test_device_time_zone_from_login() -> None:
    wib = gt06.decode(frame(DOC_GPS_LBS), tz_offset_min=420)
    assert wib.gps is not None and wib.gps.time == datetime(2011, 8, 29, 10, 46, 16, tzinfo=UTC)


def test_documented_gps_lbs_location() -> None:
    m = message(DOC_GPS_LBS)
    assert m.kind == "location" and m.serial == 3
    g = m.gps
    assert g is not None
    assert g.time == datetime(2011, 8, 29, 17, 46, 16, tzinfo=UTC)
    assert (g.satellites, g.speed_kmh, g.course, g.positioned) == (0xF, 0, 0x8F, True)
    assert g.lat == pytest.approx(0x027AC7EB / 1_800_000) and g.lon == pytest.approx(0x0C465849 / 1_800_000)
    assert m.cell == gt06.CellTower(mcc=460, mnc=0, lac=0x287D, cid=0x1FB8)
    assert m.incident_type is None


def test_gps_lbs_22_with_acc_fields() -> None:
    m = message(GPS_LBS_2)
    assert m.kind == "location" and m.gps is not None and m.gps.positioned
    assert m.extra == {"acc": 0, "upload_mode": 0, "reupload": 1}


def test_documented_sos_alarm() -> None:
    f = frame(DOC_ALARM_SOS)
    m = gt06.decode(f)
    assert (m.kind, m.alarm_code, m.alarm, m.incident_type) == ("alarm", 1, "sos", "panic")
    assert m.status is not None and m.status.alarm == "sos" and m.status.battery_percent == 100
    assert m.status.gsm_level == 4 and m.status.charging
    assert m.cell == gt06.CellTower(mcc=460, mnc=0, lac=0x287D, cid=0x1F72)
    alert = m.to_alert(RECEIVED)
    assert alert.type == "panic" and alert.batt == 100 and alert.loc is not None
    assert alert.seq == int(datetime(2011, 11, 15, 14, 36, 29, tzinfo=UTC).timestamp()) * 256 + 1
    # the reply to an alarm: same protocol and serial
    assert gt06.response(f) == gt06.encode(0x16, 0x36, b"")
    # a re-sent alarm (new serial, same content) has the same key
    again = gt06.encode(0x16, 0x99, f.content)
    assert gt06.decode(frame(again.hex())).to_alert(RECEIVED).seq == alert.seq


@pytest.mark.parametrize(
    ("hexes", "code", "name", "incident"),
    [
        (ALARM_REMOVING, 0, "removing", None),  # alarm byte 0: the terminal-information bits
        (ALARM_26, 3, "vibration", None),
    ],
)
def test_other_alarms(hexes: str, code: int, name: str, incident: str | None) -> None:
    m = message(hexes)
    assert (m.kind, m.alarm_code, m.alarm, m.incident_type) == ("alarm", code, name, incident)
    with pytest.raises(ValueError):
        m.to_alert(RECEIVED)


@pytest.mark.parametrize(
    ("code", "name", "incident"),
    [
        (0x01, "sos", "panic"),
        (0x02, "power_cut", None),
        (0x03, "vibration", None),
        (0x04, "geofence_enter", None),
        (0x05, "geofence_exit", None),
        (0x06, "overspeed", None),
        (0x0E, "low_battery", None),
        (0x11, "power_off", None),
        (0x13, "tampering", None),
        (0x23, "fall_down", "medical"),
        (0x2C, "accident", "accident"),
        (0x77, None, None),
    ],
)
def test_alarm_codes(code: int, name: str | None, incident: str | None) -> None:
    content = bytearray(bytes.fromhex(DOC_ALARM_SOS)[4:-6])
    content[27] = 0x40  # terminal info without alarm bits
    content[30] = code
    m = gt06.decode(frame(gt06.encode(0x26, 7, bytes(content)).hex()))
    assert (m.alarm, m.incident_type) == (name, incident)


def test_lbs_alarm_without_gps() -> None:
    content = bytes.fromhex("0901CC0A287D001F726003020102")
    m = gt06.decode(frame(gt06.encode(gt06.LBS_STATUS, 9, content).hex()))
    assert m.kind == "alarm" and m.gps is None and m.alarm == "sos"
    alert = m.to_alert(RECEIVED)
    assert alert.loc is None and alert.cell is not None and alert.cell.mnc == 10 and alert.ts is None
    assert alert.seq == int(RECEIVED.timestamp()) * 256 + 1


def test_status_and_heartbeats() -> None:
    m = message(DOC_STATUS)
    assert m.kind == "heartbeat" and m.status is not None
    assert (m.status.battery_percent, m.status.gsm_level, m.status.alarm) == (66, 4, None)
    assert gt06.response(frame(DOC_STATUS)) == gt06.encode(0x13, 0x0F)
    assert message(STATUS_BATT).status is not None
    hb = message(HEARTBEAT_23)
    assert hb.kind == "heartbeat" and hb.status is not None and hb.status.battery_percent is not None
    t = m.to_telemetry()
    assert t.batt == 66 and t.loc is None


def test_extended_framing() -> None:
    f = frame(EXTENDED_9B)
    assert f.extended and f.protocol == 0x9B and f.serial == 0x046F
    assert gt06.decode(f).kind == "other"
    reply = gt06.response(f)
    assert reply[:2] == gt06.LONG_START and frame(reply.hex()).serial == 0x046F
    # a location in extended framing decodes like the standard one
    f2 = frame(gt06.encode(0x12, 3, frame(DOC_GPS_LBS).content, extended=True).hex())
    assert gt06.decode(f2).gps == gt06.decode(frame(DOC_GPS_LBS)).gps


def test_time_request_answer() -> None:
    f = frame(gt06.encode(gt06.TIME_REQUEST, 2).hex())
    assert gt06.decode(f).kind == "time_request"
    reply = frame(gt06.time_response(f, datetime(2026, 11, 27, 20, 1, 2, tzinfo=UTC)).hex())
    assert reply.content == bytes((26, 11, 27, 20, 1, 2)) and reply.serial == 2


@pytest.mark.parametrize(
    ("protocol", "content", "reason"),
    [
        (gt06.LOGIN, b"\x01\x23", "short_content"),
        (gt06.LOGIN, bytes.fromhex("0A23456789012345"), "bad_imei"),
        (gt06.GPS_LBS, bytes(10), "short_content"),
        (gt06.GPS_LBS_STATUS, bytes(20), "short_content"),
        (gt06.STATUS, b"", "short_content"),
    ],
)
def test_short_or_bad_content(protocol: int, content: bytes, reason: str) -> None:
    with pytest.raises(FrameRefused) as info:
        gt06.decode(frame(gt06.encode(protocol, 1, content).hex()))
    assert info.value.reason == reason


def test_invalid_gps_date_gives_no_time() -> None:
    content = bytearray(frame(DOC_GPS_LBS).content)
    content[1] = 13  # month 13
    m = gt06.decode(frame(gt06.encode(0x12, 1, bytes(content)).hex()))
    assert m.gps is not None and m.gps.time is None


# ---- stream parser ----------------------------------------------------------------------------


def kinds(out: list[Frame | Refusal]) -> list[str]:
    return [o.reason if isinstance(o, Refusal) else f"frame:{o.protocol:02x}" for o in out]


def test_byte_by_byte_and_back_to_back() -> None:
    stream = bytes.fromhex(DOC_LOGIN + DOC_STATUS + DOC_ALARM_SOS + EXTENDED_9B)
    p = StreamParser()
    out: list[Frame | Refusal] = []
    for i in range(len(stream)):
        out += p.feed(stream[i : i + 1])
    assert kinds(out) == ["frame:01", "frame:13", "frame:16", "frame:9b"]
    assert p.buffered == 0 and p.close() is None
    assert kinds(StreamParser().feed(stream)) == kinds(out)


@pytest.mark.parametrize(
    ("stream", "expect"),
    [
        ("DEADBEEF" + DOC_LOGIN, ["garbage", "frame:01"]),
        (DOC_LOGIN + "00112233" + DOC_STATUS, ["frame:01", "garbage", "frame:13"]),
        # a stray 78 before a frame reads as a frame of length 0x78 and is held: ambiguous until the
        # bytes run out (the server's partial-frame deadline ends it), unless too long to be a frame
        ("78" + DOC_LOGIN, []),
        # a bad CRC costs that one packet; the next one is read
        (DOC_LOGIN[:-8] + "0000" + "0D0A" + DOC_STATUS, ["bad_crc", "frame:13"]),
        # a length field pointing past the real end: no 0D0A there -> resync at the next start
        ("7878FF01" + "00" * 300, ["oversize", "garbage"]),
        ("78780F01" + DOC_LOGIN[8:] + DOC_STATUS, ["bad_stop", "garbage", "frame:13"]),
        ("7878020102" + DOC_LOGIN, ["bad_length", "garbage", "frame:01"]),
        ("79790800" + DOC_LOGIN, ["oversize", "garbage", "frame:01"]),
    ],
)
def test_resync(stream: str, expect: list[str]) -> None:
    assert kinds(StreamParser(max_frame=256).feed(bytes.fromhex(stream))) == expect


def test_stray_start_byte_with_small_frame_limit() -> None:
    assert kinds(StreamParser(max_frame=100).feed(bytes.fromhex("78" + DOC_LOGIN))) == ["oversize", "frame:01"]


def test_garbage_is_reported_once_and_bounded() -> None:
    p = StreamParser(max_report=64)
    out = p.feed(bytes(range(0x70)) * 1000)
    assert kinds(out) == ["garbage"]
    assert isinstance(out[0], Refusal) and len(out[0].payload) == 64 and "112000 bytes" in out[0].detail
    assert p.buffered <= 1


def test_oversize_is_not_buffered() -> None:
    p = StreamParser(max_frame=512)
    out = p.feed(bytes.fromhex("7979FFFF01") + bytes(100))
    assert kinds(out) == ["oversize", "garbage"] and p.buffered == 0


def test_truncated_frame_is_held_then_reported_at_close() -> None:
    p = StreamParser()
    assert p.feed(bytes.fromhex(DOC_ALARM_SOS)[:20]) == []
    assert p.buffered == 20
    left = p.close()
    assert left is not None and left.reason == "truncated" and p.buffered == 0


def test_impossible_coordinates_are_no_fix() -> None:
    content = bytearray(frame(DOC_GPS_LBS).content)
    content[7:11] = b"\xff\xff\xff\xff"  # latitude 2386 degrees
    m = gt06.decode(frame(gt06.encode(0x12, 1, bytes(content)).hex()))
    assert m.location() is None and m.to_telemetry().loc is None


def test_gps_time_before_2000_after_the_zone_shift_is_no_time() -> None:
    content = bytearray(frame(DOC_GPS_LBS).content)
    content[0:6] = bytes((0, 1, 1, 3, 0, 0))  # 2000-01-01 03:00 local, UTC+7
    m = gt06.decode(frame(gt06.encode(0x12, 1, bytes(content)).hex()), tz_offset_min=420)
    assert m.gps is not None and m.gps.time is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=10, max_value=600))
def test_any_bytes_never_break_the_parser(chunks: list[bytes], max_frame: int) -> None:
    p = StreamParser(max_frame=max_frame)
    for chunk in chunks:
        for item in p.feed(chunk):
            if isinstance(item, Frame):
                with contextlib.suppress(FrameRefused):
                    gt06.decode(item)
        assert p.buffered <= max_frame


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200), st.integers(min_value=1, max_value=50))
def test_a_frame_after_junk_is_found(junk: bytes, content: bytes, split: int) -> None:
    good = gt06.encode(0x12, 7, content)
    stream = junk.replace(b"\x78", b"\x00").replace(b"\x79", b"\x00") + good
    p = StreamParser(max_frame=512)
    out = p.feed(stream[:split]) + p.feed(stream[split:])
    frames = [o for o in out if isinstance(o, Frame)]
    assert len(frames) == 1 and frames[0].content == content and frames[0].serial == 7
