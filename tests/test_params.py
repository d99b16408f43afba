"""core.params, the typed parameters of the HTTP boundary: tables of values and what they become."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from core import params
from core.params import INT64_MAX, BadParam


@pytest.mark.parametrize(
    ("value", "multiline", "bad"),
    [
        ("Jalan Kalianget 12", False, None),
        ("baris satu\nbaris dua\tdan\r\n", True, None),
        ("baris satu\nbaris dua", False, "\n"),
        ("tab\there", False, "\t"),
        ("a\x00b", True, "\x00"),
        ("\x1b[31m", True, "\x1b"),
        ("del\x7f", True, "\x7f"),
        ("next line\x85", True, "\x85"),
        ("lone \ud800", True, "\ud800"),
        ("Wonosobo ☂ 日本 ẞ", False, None),
        ("gnp\u202eexe", False, "\u202e"),  # a single-line name may not read backwards
        ("gnp\u202eexe", True, None),  # free text may hold Arabic or Hebrew runs
    ],
)
def test_bad_character(value: str, multiline: bool, bad: str | None) -> None:
    assert params.bad_character(value, multiline=multiline, bidi=multiline) == bad


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(INT64_MAX), INT64_MAX),
        (7, 7),
        ("²", None),  # str.isdigit() says yes
        ("١٢", None),  # int() says 12
        ("1" * 25, None),
        (str(INT64_MAX + 1), None),
        ("0", None),
        ("-1", None),
        ("1.0", None),
        ("1e3", None),
        ("", None),
        (None, None),
        (True, None),
        (2**63, None),
    ],
)
def test_reference(value: object, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(BadParam) as e:
            params.reference(value, "nomor")
        assert e.value.status == 400 and "nomor" in e.value.message
    else:
        assert params.reference(value, "nomor") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), ("polres-wonosobo", None), ("²", None), ("1" * 20, None), (str(INT64_MAX), INT64_MAX), ("0", None)],
)
def test_as_id(value: str, expected: int | None) -> None:
    assert params.as_id(value) == expected


def test_integer_bounds() -> None:
    assert params.integer("-5", "x", lo=-10, hi=10) == -5
    with pytest.raises(BadParam):
        params.integer("11", "x", lo=-10, hi=10)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "NaN", "delapan", "", None, "25"])
def test_number_refuses_what_is_not_a_finite_number_in_range(value: object) -> None:
    with pytest.raises(BadParam):
        params.number(value, "jam", lo=0, hi=24)


def test_number() -> None:
    assert params.number(" 7.5 ", "jam", lo=0, hi=24) == 7.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-24", date(2026, 12, 24)),
        ("1900-01-01", date(1900, 1, 1)),
        ("2100-12-31", date(2100, 12, 31)),
        ("0001-01-01", None),
        ("9999-12-31", None),
        ("1899-12-31", None),
        ("2026-02-30", None),
        ("24-12-2026", None),
        ("", None),
    ],
)
def test_day(value: str, expected: date | None) -> None:
    if expected is None:
        with pytest.raises(BadParam):
            params.day(value, "tanggal")
    else:
        assert params.day(value, "tanggal") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T07:00:00+07:00", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("2026-12-01T00:00:00Z", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("1900-01-01T00:00:00+14:00", datetime(1899, 12, 31, 10, 0, tzinfo=UTC)),
        ("0001-01-01T00:00:00+14:00", None),  # would be before datetime.min in UTC
        ("9999-12-31T23:59:59-14:00", None),  # would be after datetime.max
        ("2026-12-01T07:00:00", None),  # no offset
        ("kemarin", None),
    ],
)
def test_instant(value: str, expected: datetime | None) -> None:
    if expected is None:
        with pytest.raises(BadParam):
            params.instant(value, "from")
    else:
        assert params.instant(value, "from") == expected


def test_instant_without_offset_when_allowed() -> None:
    assert params.instant("2026-12-01T00:00:00", "t", need_offset=False) == datetime(2026, 12, 1, tzinfo=UTC)


def test_text() -> None:
    assert params.text("  Pasar Induk  ", "alamat", max_length=20) == "Pasar Induk"
    assert params.text(None, "alamat", max_length=20) == ""
    for bad in ("x" * 21, "a\x00", "a\nb"):
        with pytest.raises(BadParam):
            params.text(bad, "alamat", max_length=20)
    assert params.text("a\nb", "catatan", max_length=20, multiline=True) == "a\nb"
    with pytest.raises(BadParam):
        params.text("", "alamat", max_length=20, required=True)


class _Body(BaseModel):
    name: params.Line
    note: params.Text | None = None
    unit_id: params.Id | None = None
    day: params.Day | None = None
    at: params.Instant | None = None
    hours: params.Finite = 1.0


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\u0000b"}',
        '{"name": "a\\nb"}',
        '{"name": "\\u202eabc"}',
        '{"name": "x", "note": "a\\u0007"}',
        '{"name": "x", "unit_id": 9223372036854775808}',
        '{"name": "x", "unit_id": 0}',
        '{"name": "x", "day": "0001-01-01"}',
        '{"name": "x", "at": "9999-12-31T23:59:59-14:00"}',
        '{"name": "x", "hours": NaN}',
        '{"name": "x", "hours": 1e400}',
    ],
)
def test_request_model_types_refuse(body: str) -> None:
    with pytest.raises(ValidationError):
        _Body.model_validate_json(body)


def test_request_model_types_accept() -> None:
    b = _Body.model_validate_json(
        '{"name": "Patroli 1", "note": "baris\\nbaris", "unit_id": 9223372036854775807, "day": "2026-12-01",'
        ' "at": "2026-12-01T07:00:00+07:00", "hours": 8}'
    )
    assert b.unit_id == INT64_MAX and b.note == "baris\nbaris"


def test_every_string_of_a_json_body_is_found_keys_included() -> None:
    found = dict(params._strings({"rules": [{"note": "a"}, {"k\x00": ["b", {"c": "d"}]}]}))
    assert found["rules[0].note"] == "a" and found["rules[1].k\x00"] == "k\x00" and found["rules[1].k\x00[1].c"] == "d"
    deep: list[object] = []
    cur = deep
    for _ in range(5000):  # deeper than the recursion limit
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    cur.append("\x00")
    assert [v for _, v in params._strings(deep)] == ["\x00"]


@pytest.mark.parametrize(
    ("value", "line", "text"),
    [
        ("Patroli 1", True, True),
        ("a\nb\tc", False, True),
        ("a\x00", False, False),
        ("\u202eabc", False, True),
        ("x\x85", False, False),
        ("日本 ☂", True, True),
    ],
)
def test_the_documented_patterns_say_what_the_validators_do(value: str, line: bool, text: bool) -> None:
    import re

    schema = _Body.model_json_schema()["properties"]
    line_pattern = schema["name"]["pattern"]
    text_pattern = schema["note"]["anyOf"][0]["pattern"]
    assert bool(re.fullmatch(line_pattern, value)) is line is (params.bad_character(value, bidi=False) is None)
    assert bool(re.fullmatch(text_pattern, value)) is text is (params.bad_character(value, multiline=True) is None)


class _Choice(BaseModel):
    to: Literal["open", "closed", "all"]
    ref: uuid.UUID | None = None
    unit: str | None = Field(default=None, max_length=3)


@pytest.mark.parametrize(
    ("model", "body", "kind", "loc", "msg"),
    [
        (_Body, "{}", "missing", ["name"], "isian 'name' wajib diisi"),
        (_Body, "[]", "model_type", [], "isi harus berupa objek JSON"),
        (_Body, "{", "json_invalid", [], "isi bukan JSON yang sah"),
        (_Body, '{"name": 5}', "string_type", ["name"], "isian 'name' harus berupa teks"),
        (_Body, '{"name": "a", "unit_id": 0}', "greater_than_equal", ["unit_id"], "isian 'unit_id' paling kecil 1"),
        (_Body, '{"name": "a", "unit_id": "x"}', "int_parsing", ["unit_id"], "isian 'unit_id' harus bilangan bulat"),
        (_Body, '{"name": "a", "hours": 1e400}', "finite_number", ["hours"], "isian 'hours' harus angka terhingga"),
        (
            _Body,
            '{"name": "a", "day": "3000-01-01"}',
            "value_error",
            ["day"],
            "isian 'day' tahun harus antara 1900 dan 2100",
        ),
        (
            _Body,
            '{"name": "a\\u202e"}',
            "value_error",
            ["name"],
            "isian 'name' berisi karakter yang tidak diizinkan (U+202E RIGHT-TO-LEFT OVERRIDE)",
        ),
        (
            _Choice,
            '{"to": "x"}',
            "literal_error",
            ["to"],
            "isian 'to' harus salah satu dari 'open', 'closed' atau 'all'",
        ),
        (_Choice, '{"to": "all", "ref": "z"}', "uuid_parsing", ["ref"], "isian 'ref' harus UUID"),
        (
            _Choice,
            '{"to": "all", "unit": "abcd"}',
            "string_too_long",
            ["unit"],
            "isian 'unit' paling banyak 3 karakter",
        ),
    ],
)
def test_pydantic_refusals_are_told_in_bahasa_indonesia(
    model: type[BaseModel], body: str, kind: str, loc: list[object], msg: str
) -> None:
    with pytest.raises(ValidationError) as e:
        model.model_validate_json(body)
    assert params.validation_detail(e.value)[0] == {"type": kind, "loc": loc, "msg": msg}


def test_a_pydantic_error_type_without_a_sentence_gets_a_general_one_never_pydantic_s_english() -> None:
    class _Odd(BaseModel):
        at: complex

    with pytest.raises(ValidationError) as e:
        _Odd.model_validate({"at": object()})
    (detail,) = params.validation_detail(e.value)
    assert detail["msg"] == "isian 'at' tidak sah" and detail["loc"] == ["at"]
