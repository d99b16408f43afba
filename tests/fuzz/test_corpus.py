"""Replays tests/fuzz/corpus/<family>/: every input that ever failed a fuzz test (the crashes
found and fixed are named after what they were), plus hand-written nasties, through the same
property as the fuzz tests. Plain tests, cheap, in every run. Add a file to keep an input."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from dispatch import roster_rules
from gateway import cells, reference
from gateway.payloads import PayloadError, parse_up_topic
from tests.fuzz.support import corpus
from tests.fuzz.test_app_api import check_alert, check_registration_fields
from tests.fuzz.test_cells_csv import check_lines
from tests.fuzz.test_gt06 import check_stream
from tests.fuzz.test_mqtt_payload import check_payload
from tests.fuzz.test_open311 import check_post
from tests.fuzz.test_osmand import check_request
from tests.fuzz.test_reference_csv import check as check_seed
from tests.fuzz.test_roster_csv import PEOPLE, SHIFTS

# Inputs that still crash code this suite may not edit (reported to the integrator): strict xfail,
# so the fix turns them into failures that ask for the mark to go.
KNOWN: dict[str, dict[str, str]] = {}


pytestmark = pytest.mark.fuzz


def _cases(family: str) -> list[object]:
    known = KNOWN.get(family, {})
    cases = [
        pytest.param(
            name, raw, id=name, marks=[pytest.mark.xfail(reason=known[name], strict=True)] if name in known else []
        )
        for name, raw in corpus(family)
    ]
    assert cases, f"tests/fuzz/corpus/{family}/ is empty"
    return cases


@pytest.mark.parametrize(("name", "raw"), _cases("mqtt"))
def test_mqtt(name: str, raw: bytes) -> None:
    check_payload(raw)


@pytest.mark.parametrize(("name", "raw"), _cases("mqtt_topic"))
def test_mqtt_topic(name: str, raw: bytes) -> None:
    topic = raw.decode("utf-8")
    try:
        device_id, kind = parse_up_topic(topic, "siaga/v1")
    except PayloadError as e:
        assert e.reason in {"bad_topic", "bad_device_id"} and e.detail
    else:
        assert topic == f"siaga/v1/devices/{device_id}/{kind}" and device_id.isascii() and device_id.isprintable()


@pytest.mark.parametrize(("name", "raw"), _cases("osmand"))
def test_osmand(name: str, raw: bytes) -> None:
    if name.endswith(".query"):
        check_request(raw.decode("utf-8", "surrogateescape"), b"", None)
    elif name.endswith(".form"):
        check_request("", raw, "application/x-www-form-urlencoded")
    else:
        check_request("", raw, "application/json")


@pytest.mark.parametrize(("name", "raw"), _cases("app_api"))
def test_app_api(name: str, raw: bytes) -> None:
    if name.endswith(".key"):  # an Idempotency-Key header as aiohttp decodes one
        check_alert(b"{}", raw.decode("utf-8", "surrogateescape"))
    else:
        check_alert(raw, "k")
        check_registration_fields(raw)


@pytest.mark.parametrize(("name", "raw"), _cases("gt06"))
def test_gt06(name: str, raw: bytes) -> None:
    check_stream([raw])
    check_stream([raw[i : i + 1] for i in range(len(raw))])  # one byte per read


@pytest.mark.parametrize(("name", "raw"), _cases("open311"))
def test_open311(name: str, raw: bytes) -> None:
    check_post(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


@pytest.mark.parametrize(("name", "raw"), _cases("cells"))
def test_cells(name: str, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # read as the importer reads a file
        path = Path(tmp) / name
        path.write_bytes(raw)
        with cells.open_cells_file(path) as f:
            check_lines(list(f))


@pytest.mark.parametrize(("name", "raw"), _cases("reference"))
def test_reference(name: str, raw: bytes) -> None:
    seed = name.split("__", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / seed).write_bytes(raw)
        try:
            reference._read_csv(Path(tmp), seed)
        except reference.ReferenceDataError as e:
            assert e.file == seed and e.reason
        else:
            check_seed(seed, raw.decode("utf-8"))


@pytest.mark.parametrize(("name", "raw"), _cases("roster"))
def test_roster(name: str, raw: bytes) -> None:
    text = raw.decode("utf-8")
    try:
        if name.endswith(".month"):
            roster_rules.parse_month(text)
        else:
            roster_rules.parse_csv(text, "2026-11", SHIFTS, PEOPLE, 1)
    except roster_rules.RosterError as e:
        assert e.code and str(e)
