from datetime import UTC, datetime

import pytest

from core.roles import Role
from dispatch.states import (
    DEVICE_STATE,
    LABEL,
    TRANSITIONS,
    State,
    TransitionError,
    allowed_targets,
    changed_first,
    check,
)

RESPONDERS = {Role.OPERATOR, Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN}
DESK = {Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN}
S = State

EXPECTED = {
    (S.NEW, S.ACKNOWLEDGED): RESPONDERS,
    (S.ACKNOWLEDGED, S.DISPATCHED): RESPONDERS,
    (S.DISPATCHED, S.ON_SCENE): RESPONDERS,
    (S.DISPATCHED, S.RESOLVED): RESPONDERS,
    (S.ON_SCENE, S.RESOLVED): RESPONDERS,
    (S.NEW, S.FALSE_ALARM): DESK,
    (S.ACKNOWLEDGED, S.FALSE_ALARM): RESPONDERS,
    (S.DISPATCHED, S.FALSE_ALARM): RESPONDERS,
    (S.ON_SCENE, S.FALSE_ALARM): RESPONDERS,
    (S.NEW, S.HANDED_TO_COMPLAINTS): DESK,
    (S.ACKNOWLEDGED, S.HANDED_TO_COMPLAINTS): RESPONDERS,
    (S.FALSE_ALARM, S.HANDED_TO_COMPLAINTS): RESPONDERS,
}

CASES = [(cur, tgt, role) for cur in State for tgt in State for role in Role]


@pytest.mark.parametrize(("current", "target", "role"), CASES)
def test_every_move_for_every_role(current: State, target: State, role: Role) -> None:
    allowed = role in EXPECTED.get((current, target), set())
    if allowed:
        check(current, target, role)
    else:
        with pytest.raises(TransitionError) as e:
            check(current, target, role)
        # the sentence a person reads names both states by their Indonesian labels, never by code
        assert LABEL[current] in str(e.value) and current.value not in str(e.value).split()
        if current is target:
            assert e.value.reason == "same_state"
        elif (current, target) in EXPECTED:
            assert e.value.reason == "role"
        else:
            assert e.value.reason == "no_such_move"
    assert (target.value in allowed_targets(current, role)) is allowed


def test_table_matches_expectation() -> None:
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED


def test_terminal_states_go_nowhere_but_complaints() -> None:
    assert allowed_targets("resolved", "admin") == []
    assert allowed_targets("handed_to_complaints", "admin") == []
    assert allowed_targets("false_alarm", "operator") == ["handed_to_complaints"]


def test_read_only_roles_move_nothing() -> None:
    for role in (Role.LEADER, Role.COMPLAINT_STAFF, Role.OPD_OFFICER):
        assert all(allowed_targets(s, role) == [] for s in State)


@pytest.mark.parametrize("bad", [("new", "exploded", "operator"), ("new", "acknowledged", "root")])
def test_unknown_names(bad: tuple[str, str, str]) -> None:
    with pytest.raises(TransitionError):
        check(*bad)


def test_device_is_told_wire_contract_states_only() -> None:
    wire = {"received", "acknowledged", "dispatched", "on_scene", "resolved", "false_alarm"}
    assert {v for v in DEVICE_STATE.values() if v} <= wire


@pytest.mark.parametrize(
    ("current", "target", "role", "sentence"),
    [
        ("acknowledged", "acknowledged", "operator", "Insiden ini sudah berstatus Diterima."),
        ("resolved", "new", "admin", "Status insiden tidak dapat diubah dari Selesai menjadi Baru."),
        (
            "new",
            "false_alarm",
            "operator",
            "Peran Anda tidak boleh mengubah status insiden dari Baru menjadi Alarm palsu.",
        ),
        ("new", "exploded", "operator", "Status itu tidak dikenal."),
    ],
)
def test_each_refusal_is_one_indonesian_sentence(current: str, target: str, role: str, sentence: str) -> None:
    with pytest.raises(TransitionError) as e:
        check(current, target, role)
    assert str(e.value) == sentence


def test_every_state_has_a_label() -> None:
    assert set(LABEL) == set(State)


@pytest.mark.parametrize(
    ("current", "sentence"),
    [
        ("acknowledged", "Insiden ini sudah diterima oleh Operator Polres pada 14:05:12 WIB."),
        ("false_alarm", "Insiden ini sudah dinyatakan alarm palsu oleh Operator Polres pada 14:05:12 WIB."),
        ("handed_to_complaints", "Insiden ini sudah diteruskan ke pengaduan oleh Operator Polres pada 14:05:12 WIB."),
        # nobody "did" new: the plain sentence
        ("new", "Insiden ini sudah berstatus Baru."),
    ],
)
def test_a_move_refused_because_someone_was_first_names_them_and_the_time_in_wib(current: str, sentence: str) -> None:
    at = datetime(2026, 12, 3, 7, 5, 12, 400000, tzinfo=UTC)  # 14:05:12 WIB
    assert changed_first(current, "Operator Polres", at) == sentence
