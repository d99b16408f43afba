"""The JSON app API's pure input handling: the alert body (with its Idempotency-Key), phone
numbers and the registration fields. An alert body answers an AlertIn or a (reason, detail)
that the handler stores as a dead letter and answers with a 400; nothing raises."""

from __future__ import annotations

import uuid

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import app_api
from gateway.payloads import ALERT_TYPES, AlertIn
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

keys = st.none() | nasty_text | st.text(min_size=190, max_size=210)


def check_alert(raw: bytes, key: str | None) -> None:
    fed("app_api alert body")
    outcome = app_api._decode_alert(raw, key)
    if isinstance(outcome, tuple):
        reason, detail = outcome
        assert reason in {"malformed_json", "invalid"} and isinstance(detail, str) and detail
    else:
        assert isinstance(outcome, AlertIn) and outcome.type in ALERT_TYPES and 0 <= outcome.seq <= 2**62


@share(1 / 2)
@given(st.binary(max_size=8000), keys)
@example(b"[" * 1025 + b"]" * 1025, "k")
@example(b'{"phone": "\\u0000"}', "k")
def test_any_bytes(raw: bytes, key: str | None) -> None:
    check_alert(raw, key)


phones = (
    st.sampled_from(["0812 3456 7890", "+62 812-3456-7890", "00628123456789", "٠٨١٢٣٤٥٦٧٨٩٠", "0812３４５６７８９０"])
    | nasty_text
    | st.text(alphabet="+0123456789 ()-.", max_size=20)
)
alert_bodies = st.fixed_dictionaries(
    {},
    optional={
        "seq": any_number | numeric_text | json_values,
        "ts": any_number | numeric_text | nasty_text,
        "type": st.sampled_from([*ALERT_TYPES, "x"]) | json_values,
        "loc": st.fixed_dictionaries(
            {}, optional={"lat": any_number, "lon": any_number, "acc": any_number, "fix_ts": any_number | nasty_text}
        )
        | json_values,
        "note": nasty_text | st.text(min_size=995, max_size=1005) | json_values,
        "phone": phones | json_values,
        "batt": any_number | json_values,
    },
)


@share(1 / 2)
@given(alert_bodies, keys, st.booleans(), st.sampled_from([0, 0, 0, 0, 1022, 1024, 5000]))
@example({"ts": "9999-12-31T23:59:59-01:00"}, "k", False, 0)  # OverflowError before the fix
@example({"phone": "٠٨١٢٣٤٥٦٧٨٩٠"}, "k", False, 0)
@example({"seq": None}, "x" * 201, False, 0)
def test_hostile_alert(body: dict[str, object], key: str | None, ascii_only: bool, depth: int) -> None:
    check_alert(deepen(with_deep_member(dumps(body, ascii_only), depth), depth), key)


@share(1 / 10)
@given(phones)
@example("٠٨١٢٣٤٥٦٧٨٩٠")  # Arabic-Indic digits were taken as a phone number before the fix
@example("+６２８１２３４５６７８９")
def test_phone(text: str) -> None:
    fed("app_api normalize_phone")
    phone = app_api.normalize_phone(text)
    if phone is not None:
        assert phone.startswith("+") and phone[1:].isascii() and phone[1:].isdigit() and 9 <= len(phone) <= 16
        assert app_api.mask_phone(phone).endswith(phone[-3:])


@share(1 / 10)
@given(json_values | nasty_text, st.sampled_from([0, 0, 0, 1000]))
@example("@deep@", 1000)  # str() of it raised RecursionError in register and verify before the fix
def test_registration_fields(value: object, depth: int) -> None:
    """What register and verify take from a body: text, or a 400 for registration_id."""
    check_registration_fields(deepen(dumps({"v": value}), depth))


def check_registration_fields(raw: bytes) -> None:
    fed("app_api registration fields")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return  # answered 400 malformed_json
    if not isinstance(body, dict):
        return  # answered 400 invalid
    for value in body.values():
        text = app_api._scalar_text(value)
        assert isinstance(text, str)
        app_api.normalize_phone(text)
        try:
            uuid.UUID(text)
        except ValueError:
            pass  # answered 400 invalid
