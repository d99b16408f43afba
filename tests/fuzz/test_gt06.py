"""GT06: the stream parser and the frame decoder, fed any bytes and hostile but well-framed
packets (valid CRC around mutated content, bad CRC, overlong and short length fields, truncated
frames, garbage between frames, any split into TCP reads). The parser answers Frames and
Refusals with a reason; decode answers a Message or FrameRefused; a Message converts to payload
models or fails with a ValidationError (stored as ``invalid``), never anything else."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway import gt06
from gateway.payloads import AlertIn, TelemetryIn
from tests.fuzz.support import fed, share

pytestmark = pytest.mark.fuzz

PARSER_REASONS = {"garbage", "bad_length", "oversize", "bad_stop", "bad_crc", "truncated"}
DECODE_REASONS = {"short_content", "bad_imei"}
RECEIVED = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
MAX_FRAME = 1024


def check_stream(chunks: list[bytes]) -> list[gt06.Frame]:
    parser = gt06.StreamParser(max_frame=MAX_FRAME)
    items: list[gt06.Frame | gt06.Refusal] = []
    for chunk in chunks:
        fed("gt06 StreamParser.feed")
        items += parser.feed(chunk)
        assert parser.buffered <= MAX_FRAME
    if (left := parser.close()) is not None:
        items.append(left)
    frames = []
    for item in items:
        if isinstance(item, gt06.Refusal):
            assert item.reason in PARSER_REASONS and item.detail and len(item.payload) <= MAX_FRAME, item
        else:
            assert isinstance(item, gt06.Frame) and item.raw.endswith(gt06.STOP)
            frames.append(item)
            check_frame(item)
    return frames


def check_frame(frame: gt06.Frame, tz_offset_min: int = 0) -> None:
    fed("gt06 decode")
    try:
        msg = gt06.decode(frame, tz_offset_min=tz_offset_min)
    except gt06.FrameRefused as e:
        assert e.reason in DECODE_REASONS and e.detail, e
        return
    (answer,) = gt06.StreamParser().feed(gt06.response(frame))
    assert isinstance(answer, gt06.Frame) and (answer.protocol, answer.serial) == (frame.protocol, frame.serial)
    if msg.kind == "login":
        assert msg.imei and msg.imei.isdigit()
        assert -2500 <= msg.extra.get("tz_offset_min", 0) <= 2500
    if msg.kind == "time_request":
        gt06.time_response(frame, RECEIVED)
    try:
        if msg.incident_type is not None:
            model: AlertIn | TelemetryIn = msg.to_alert(RECEIVED)
            assert 0 <= model.seq <= 2**62
        else:
            model = msg.to_telemetry()
    except ValidationError as e:
        assert str(e)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@share(1 / 4)
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0), max_size=8))
@example(b"\x78\x78", [])
@example(b"\x79\x79\xff\xff" + b"\x00" * 2000, [3])
@example(b"\x78\x78\x04\x01\x00\x01\x00\x00\r\n", [])
def test_any_bytes(data: bytes, cuts: list[int]) -> None:
    check_stream(split(data, cuts))


PROTOCOLS = [
    gt06.LOGIN,
    gt06.GPS,
    gt06.GPS_LBS,
    gt06.STATUS,
    gt06.GPS_LBS_STATUS,
    gt06.LBS_STATUS,
    gt06.GPS_LBS_2,
    gt06.HEARTBEAT,
    gt06.GPS_LBS_STATUS_2,
    gt06.GPS_LBS_STATUS_3,
    gt06.TIME_REQUEST,
    *sorted(gt06.COMMAND_REPLIES),
]


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    """Content shaped like a real packet's, then cut, extended or with bytes overwritten."""
    gps = bytes(
        [
            draw(st.integers(0, 255)),  # year - 2000
            draw(st.sampled_from([0, 1, 2, 12, 13, 255])),
            draw(st.sampled_from([0, 1, 28, 29, 30, 31, 32, 255])),
            draw(st.sampled_from([0, 23, 24, 255])),
            draw(st.sampled_from([0, 59, 60, 255])),
            draw(st.sampled_from([0, 59, 60, 255])),
            draw(st.integers(0, 255)),
        ]
    ) + struct.pack(
        ">IIBH",
        draw(st.sampled_from([0, 13_249_000, 162_000_000, 2**32 - 1]) | st.integers(0, 2**32 - 1)),
        draw(st.sampled_from([0, 197_825_400, 324_000_000, 2**32 - 1]) | st.integers(0, 2**32 - 1)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 0xFFFF)),
    )
    lbs = (
        bytes([draw(st.sampled_from([0, 1, 8, 9, 10, 255]))])
        + struct.pack(
            ">HBH",
            draw(st.sampled_from([0, 510, 0x8000 | 510, 0xFFFF])),
            draw(st.integers(0, 255)),
            draw(st.integers(0, 0xFFFF)),
        )
        + draw(st.binary(min_size=3, max_size=3))
    )
    status = draw(st.binary(min_size=5, max_size=6))
    login = draw(st.binary(min_size=8, max_size=8) | st.sampled_from([bytes.fromhex("0358899052140210")])) + draw(
        st.binary(max_size=4)
    )
    content = draw(
        st.sampled_from(
            [gps + lbs + status, gps + lbs[1:] + draw(st.binary(max_size=4)), lbs + status, login, status, gps]
        )
    )
    cut = draw(st.integers(0, len(content)))
    content = content[:cut] if draw(st.booleans()) else content
    for _ in range(draw(st.integers(0, 3))):
        if content:
            i = draw(st.integers(0, len(content) - 1))
            content = content[:i] + bytes([draw(st.integers(0, 255))]) + content[i + 1 :]
    return content + draw(st.binary(max_size=8))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    protocol = draw(st.sampled_from(PROTOCOLS) | st.integers(0, 255))
    raw = bytearray(gt06.encode(protocol, draw(st.integers(0, 0xFFFF)), draw(contents()), extended=draw(st.booleans())))
    damage = draw(st.sampled_from(["none"] * 6 + ["crc", "length", "stop", "truncate", "overlong"]))
    head = 4 if raw[0] == 0x79 else 3
    if damage == "crc":
        raw[-3] ^= draw(st.integers(1, 255))
    elif damage == "length":
        raw[head - 1] = draw(st.integers(0, 255))
    elif damage == "stop":
        raw[-1] = draw(st.integers(0, 255))
    elif damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif damage == "overlong" and head == 4:
        raw[2:4] = struct.pack(">H", draw(st.integers(MAX_FRAME, 0xFFFF)))
    return bytes(raw)


@share(1 / 2)
@given(
    st.lists(frames() | st.binary(max_size=20), min_size=1, max_size=6),
    st.lists(st.integers(min_value=0), max_size=6),
    st.sampled_from([0, 420, -720, 2495, -2495]),
)
def test_hostile_frames(parts: list[bytes], cuts: list[int], tz_offset_min: int) -> None:
    for frame in check_stream(split(b"".join(parts), cuts)):
        check_frame(frame, tz_offset_min)
