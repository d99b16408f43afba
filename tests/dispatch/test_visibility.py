"""The visibility rules of the event stream: a table of cases, and every kind the code emits has one."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.auth import User
from core.events import Cursor, Event
from core.roles import USER_ROLES, Role
from dispatch import visibility
from dispatch.visibility import RULES, Facts
from tests.dispatch import emitted

POLSEK, DISHUB, CENTRE, OPD_A, OPD_B = 11, 12, 1, 21, 22
IID = uuid.UUID(int=7)

USERS = {
    "op-polsek": User(1, "op-polsek", "", Role.OPERATOR, POLSEK),
    "op-dishub": User(2, "op-dishub", "", Role.OPERATOR, DISHUB),
    "op-cc": User(3, "op-cc", "", Role.OPERATOR, CENTRE),
    "supervisor": User(4, "supervisor", "", Role.SUPERVISOR, None),
    "cc": User(5, "cc", "", Role.COMMAND_CENTRE, None),
    "admin": User(6, "admin", "", Role.ADMIN, None),
    "leader": User(7, "leader", "", Role.LEADER, None),
    "staff": User(8, "staff", "", Role.COMPLAINT_STAFF, None),
    "opd-a": User(9, "opd-a", "", Role.OPD_OFFICER, OPD_A),
    "opd-b": User(10, "opd-b", "", Role.OPD_OFFICER, OPD_B),
    "opd-none": User(11, "opd-none", "", Role.OPD_OFFICER, None),
}

# the data of each kind as the code emits it
_INC = {"incident_id": str(IID), "number": 5, "type": "panic", "state": "new"}
DATA: dict[str, dict[str, Any]] = {
    "incident.created": {**_INC, "device_id": "btn-1"},
    "incident.routed": {**_INC, "device_id": "btn-1", "agencies": [POLSEK], "dispatch": True, "reason": "rule"},
    "incident.state": {
        **_INC,
        "from": "new",
        "to": "acknowledged",
        "by": "op-polsek",
        "agencies": [POLSEK],
        "unit": "P1",
    },
    "incident.note": {"incident_id": str(IID), "note_id": 3, "agencies": [POLSEK]},
    "incident.unattended": {
        **_INC,
        "empty_agency_id": POLSEK,
        "added": [CENTRE],
        "on_call": [],
        "agencies": [POLSEK, CENTRE],
    },
    "agency.unattended": {
        "agency_id": POLSEK,
        "agency": "Polsek",
        "open_incidents": [5],
        "incident_ids": [str(IID)],
        "agencies": [CENTRE],
    },
    "complaint.created": {"tracking_id": "WSB-AAAA-BBBB", "channel": "web", "kind": "pengaduan"},
    "complaint.dispose": {"status": "disposisi", "opd_id": OPD_A, "tracking_id": "WSB-AAAA-BBBB"},
    "complaint.return": {"status": "verifikasi", "opd_id": None, "tracking_id": "WSB-AAAA-BBBB"},
    "complaint.red": {"stage": "tindak_lanjut", "opd_id": OPD_A, "tracking_id": "WSB-AAAA-BBBB", "notify": "opd_head"},
    "complaint.teguran": {"teguran_id": 4, "opd_id": OPD_A},
}
AT_A = Facts(complaint_opd={40: OPD_A})
AT_B = Facts(complaint_opd={40: OPD_B})
NOWHERE = Facts(complaint_opd={40: None})

STATE_FOR_LEADER = {"incident_id", "number", "type", "state", "from", "to", "agencies"}

# (who, kind, facts, extra data, expected: None = refused, "all" = as emitted, a set = only those fields)
CASES: list[tuple[str, str, Facts, dict[str, Any], set[str] | str | None]] = [
    # operators: their agency's incidents and alarms addressed to their agency, nothing else
    ("op-polsek", "incident.created", Facts(), {}, None),
    ("op-polsek", "incident.routed", Facts(), {}, "all"),
    ("op-dishub", "incident.routed", Facts(), {}, None),
    ("op-polsek", "incident.state", Facts(), {}, "all"),
    ("op-polsek", "incident.note", Facts(), {}, "all"),
    ("op-dishub", "incident.note", Facts(), {}, None),
    ("op-cc", "incident.unattended", Facts(), {}, "all"),
    ("op-dishub", "incident.unattended", Facts(), {}, None),
    ("op-cc", "agency.unattended", Facts(), {}, "all"),
    ("op-polsek", "agency.unattended", Facts(), {}, None),
    ("op-polsek", "complaint.created", AT_A, {}, None),
    ("op-cc", "complaint.teguran", Facts(), {}, None),
    # the desk: every incident and alarm; the supervisor no complaint
    ("supervisor", "incident.created", Facts(), {}, "all"),
    ("supervisor", "agency.unattended", Facts(), {}, "all"),
    ("supervisor", "complaint.dispose", AT_A, {}, None),
    ("cc", "incident.note", Facts(), {}, "all"),
    ("cc", "complaint.dispose", AT_A, {}, "all"),
    ("admin", "incident.state", Facts(), {}, "all"),
    ("admin", "complaint.teguran", Facts(), {}, "all"),
    # the leader: what the dashboard shows
    ("leader", "incident.state", Facts(), {}, STATE_FOR_LEADER),
    ("leader", "incident.routed", Facts(), {}, {"incident_id", "number", "type", "state", "agencies", "dispatch"}),
    ("leader", "incident.created", Facts(), {}, {"incident_id", "number", "type", "state"}),
    ("leader", "incident.note", Facts(), {}, None),
    ("leader", "agency.unattended", Facts(), {}, "all"),
    ("leader", "complaint.created", AT_A, {}, {"tracking_id", "kind"}),
    ("leader", "complaint.red", AT_A, {}, "all"),
    ("leader", "complaint.teguran", Facts(), {}, "all"),
    # complaint staff: complaints, no incident, no police alarm
    ("staff", "incident.routed", Facts(), {}, None),
    ("staff", "incident.note", Facts(), {}, None),
    ("staff", "agency.unattended", Facts(), {}, None),
    ("staff", "complaint.created", AT_A, {}, "all"),
    ("staff", "complaint.return", NOWHERE, {}, "all"),
    # OPD officers: complaints disposed to their OPD now, never naming another OPD
    ("opd-a", "complaint.dispose", AT_A, {}, "all"),
    ("opd-b", "complaint.dispose", AT_A, {}, None),
    ("opd-a", "complaint.dispose", AT_B, {}, None),  # re-disposed to B: A hears no more of it
    ("opd-b", "complaint.dispose", AT_B, {}, None),  # B does not learn A's part...
    ("opd-b", "complaint.red", AT_B, {}, None),
    ("opd-b", "complaint.return", AT_B, {}, "all"),  # ...only that it came back to verification
    ("opd-b", "complaint.created", AT_B, {}, {"tracking_id", "kind"}),
    ("opd-a", "complaint.created", NOWHERE, {}, None),  # not disposed yet
    ("opd-a", "complaint.created", Facts(), {}, None),  # no facts: refused
    ("opd-none", "complaint.dispose", AT_A, {}, None),
    ("opd-a", "complaint.red", AT_A, {}, "all"),
    ("opd-a", "complaint.teguran", Facts(), {}, "all"),
    ("opd-b", "complaint.teguran", Facts(), {}, None),
    ("opd-a", "incident.routed", AT_A, {}, None),
    ("opd-a", "agency.unattended", Facts(), {}, None),
    # fields nobody was granted never go out (a reporter's contact, say)
    ("staff", "complaint.created", AT_A, {"reporter_phone": "0812"}, {"tracking_id", "channel", "kind"}),
    ("opd-a", "complaint.dispose", AT_A, {"reporter_name": "Budi"}, {"status", "opd_id", "tracking_id"}),
    ("cc", "incident.routed", Facts(), {"reporter": "x"}, set(DATA["incident.routed"])),
    # deny by default: a kind without a rule reaches no one
    ("admin", "complaint.exploded", AT_A, {}, None),
    ("cc", "device.online", Facts(), {}, None),
]


def _event(kind: str, extra: dict[str, Any]) -> Event:
    complaint = kind.startswith("complaint.") and kind != "complaint.teguran"
    incident = kind.startswith("incident.") or kind == "complaint.created"
    return Event(
        Cursor(1, 1),
        datetime(2026, 12, 1, tzinfo=UTC),
        kind,
        IID if incident else None,
        40 if complaint else None,
        {**DATA.get(kind, {"tracking_id": "WSB-AAAA-BBBB"}), **extra},
    )


@pytest.mark.parametrize(("who", "kind", "facts", "extra", "expected"), CASES)
def test_rule(who: str, kind: str, facts: Facts, extra: dict[str, Any], expected: set[str] | str | None) -> None:
    ev = _event(kind, extra)
    got = visibility.visible(USERS[who], ev, facts)
    if expected is None:
        assert got is None
        return
    assert got is not None
    want = set(ev.data) if expected == "all" else expected
    assert set(got.data) == want
    assert all(got.data[k] == ev.data[k] for k in want)
    assert (got.kind, got.cursor, got.complaint_id) == (ev.kind, ev.cursor, ev.complaint_id)


def test_opd_officers_never_get_the_incident_a_complaint_came_from() -> None:
    ev = _event("complaint.created", {})
    assert ev.incident_id is not None
    for who in ("opd-a",):
        got = visibility.visible(USERS[who], ev, AT_A)
        assert got is not None and got.incident_id is None
    for who in ("staff", "cc", "leader", "admin"):
        got = visibility.visible(USERS[who], ev, AT_A)
        assert got is not None and got.incident_id == IID


def test_data_that_is_not_an_object_gives_no_agency() -> None:
    ev = Event(Cursor(1, 1), datetime(2026, 12, 1, tzinfo=UTC), "incident.routed", IID, None, [POLSEK])  # type: ignore[arg-type]
    assert visibility.visible(USERS["op-polsek"], ev) is None
    got = visibility.visible(USERS["cc"], ev)
    assert got is not None and got.data == {}


def test_every_rule_decides_for_every_role() -> None:
    """A row names each role a user may hold, granted or NEVER: a new role has to be decided for every kind."""
    undecided = {kind: sorted(USER_ROLES - set(row)) for kind, row in RULES.items() if set(row) != USER_ROLES}
    assert not undecided


# --- every kind the code emits ---------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> emitted.Emitted:
    return emitted.collect()


def test_the_collector_reads_the_code(found: emitted.Emitted) -> None:
    assert not found.problems, "\n".join(found.problems)
    # a collector that finds nothing would pass the next test vacuously
    for kind, where in {
        "incident.created": "gateway/store.py",
        "incident.routed": "dispatch/service.py",
        "agency.unattended": "dispatch/presence.py",
        "complaint.dispose": "complaints/store.py",
        "complaint.auto_close": "complaints/store.py",
        "complaint.teguran": "complaints/store.py",
    }.items():
        assert any(w.startswith(where) for w in found.kinds.get(kind, [])), (kind, where)


def test_every_emitted_kind_has_a_rule(found: emitted.Emitted) -> None:
    missing = {kind: where for kind, where in sorted(found.kinds.items()) if kind not in RULES}
    assert not missing, f"event kinds without a visibility rule in dispatch/visibility.py RULES: {missing}"


def test_every_rule_is_for_a_kind_the_code_emits(found: emitted.Emitted) -> None:
    """The table keeps up with the code (e.g. a renamed complaint action leaves no dead row)."""
    assert sorted(set(RULES) - set(found.kinds)) == []


def test_the_collector_sees_a_new_kind_however_it_is_written(tmp_path: Path) -> None:
    pkg = tmp_path / "newpkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        textwrap.dedent(
            """
            from core import events
            from core.events import append_many as many

            async def f(conn, action, thing):
                await events.append(conn, "incident.teleported", {})
                await events.append(conn, f"complaint.{action.name}", {})
                await many(conn, "unit.lost", [])
                await events.append(conn, f"x.{thing}", {})
                await events.append(conn, thing, {})
                await conn.execute("INSERT INTO event (kind, data) VALUES ('device.exploded', '{}')")
                await conn.execute("INSERT INTO event (data, kind) SELECT '{}'::jsonb, $1", thing)
                await conn.execute("INSERT INTO event_archive (kind) VALUES ($1)", thing)
            """
        )
    )
    (pkg / "m.sql").write_text("INSERT INTO event (kind, incident_id, data) SELECT 'incident.cloned', id, '{}' FROM x;")
    got = emitted.collect(tmp_path, ["newpkg"])
    assert {"incident.teleported", "unit.lost", "device.exploded", "incident.cloned"} <= set(got.kinds)
    assert {"complaint.dispose", "complaint.accept", "complaint.auto_close"} <= set(got.kinds)
    assert len(got.problems) == 3, got.problems  # {thing}, a kind in a variable, a parameter in SQL
    assert not {"incident.teleported", "unit.lost", "device.exploded", "incident.cloned"} & set(RULES)
