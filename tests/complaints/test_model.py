"""The complaint state machine: every action from every state, for every role."""

from __future__ import annotations

import pytest

from complaints.model import (
    ACTIONS,
    Accept,
    Action,
    Actor,
    Archive,
    AutoClose,
    ComplaintState,
    Dispose,
    Dispute,
    FollowUp,
    Forbidden,
    Hold,
    InvalidAction,
    InvalidTransition,
    NotAuthority,
    Resume,
    ReturnToVerification,
    SlaLimits,
    Stage,
    Status,
    allowed_actions,
    apply,
    may_see_reporter_contact,
    may_see_reporter_name,
    parse_action,
)
from core.roles import Role
from core.settings import Settings

OPD = 7
OTHER_OPD = 8
STAFF = Actor(Role.COMPLAINT_STAFF, 1, "Sari")
ADMIN = Actor(Role.ADMIN, 2)
OFFICER = Actor(Role.OPD_OFFICER, 3, agency_id=OPD)
OTHER_OFFICER = Actor(Role.OPD_OFFICER, 4, agency_id=OTHER_OPD)
UNBOUND_OFFICER = Actor(Role.OPD_OFFICER, 5)
LEADER = Actor(Role.LEADER, 6)
OPERATOR = Actor(Role.OPERATOR, 9)
CITIZEN = Actor.citizen()
SYSTEM = Actor.system()

NEW = ComplaintState()
HELD = ComplaintState(Status.TUNDA)
AT_OPD = ComplaintState(Status.DISPOSISI, opd_id=OPD, rounds=1)
FOLLOWED = ComplaintState(Status.TINDAK_LANJUT, opd_id=OPD, rounds=1)
DONE = ComplaintState(Status.SELESAI, opd_id=OPD, rounds=1, close_reason="diterima")

DISPOSE = Dispose(opd_id=OPD, category_id=3, desa_code="33.07.09.2001")

# (state, action, actor, expected status, bounce count, restart stage, pause, disposition)
GOOD = [
    (NEW, DISPOSE, STAFF, Status.DISPOSISI, 0, True, None, "open"),
    (NEW, DISPOSE, ADMIN, Status.DISPOSISI, 0, True, None, "open"),
    (NEW, Hold(reason="alamat kurang jelas"), STAFF, Status.TUNDA, 0, False, "start", None),
    (HELD, Resume(note="di depan pasar"), CITIZEN, Status.VERIFIKASI, 0, False, "end", None),
    (HELD, Resume(note="lewat telepon"), STAFF, Status.VERIFIKASI, 0, False, "end", None),
    (NEW, NotAuthority(reason="jalan nasional"), STAFF, Status.BUKAN_WEWENANG, 0, False, None, None),
    (HELD, NotAuthority(reason="sengketa perdata"), STAFF, Status.BUKAN_WEWENANG, 0, False, "end", None),
    (NEW, Archive(reason="spam"), STAFF, Status.ARSIP, 0, False, None, None),
    (HELD, Archive(reason="duplikat", duplicate_of=12), STAFF, Status.ARSIP, 0, False, "end", None),
    (AT_OPD, FollowUp(text="lampu sudah diganti"), OFFICER, Status.TINDAK_LANJUT, 0, True, None, "followed_up"),
    (AT_OPD, ReturnToVerification(reason="urusan PU"), OFFICER, Status.VERIFIKASI, 1, True, None, "returned"),
    (FOLLOWED, Accept(), CITIZEN, Status.SELESAI, 0, False, None, None),
    (FOLLOWED, Accept(note="via telepon"), STAFF, Status.SELESAI, 0, False, None, None),
    (FOLLOWED, Dispute(reason="masih mati"), CITIZEN, Status.DISPOSISI, 0, True, None, "open"),
    (FOLLOWED, AutoClose(), SYSTEM, Status.SELESAI, 0, False, None, None),
]


@pytest.mark.parametrize(
    ("state", "action", "actor", "status", "bounces", "restart", "pause", "disposition"),
    GOOD,
    ids=[f"{g[0].status}-{g[1].name}-{g[2].role}" for g in GOOD],
)
def test_transition(
    state: ComplaintState,
    action: Action,
    actor: Actor,
    status: Status,
    bounces: int,
    restart: bool,
    pause: str | None,
    disposition: str | None,
) -> None:
    t = apply(state, action, actor)
    assert t.before == state
    assert t.after.status is status
    assert t.after.bounce_count == bounces
    assert t.restart_stage is restart
    assert t.pause == pause
    assert t.disposition == disposition
    assert action.name in allowed_actions(state, actor)


def test_bounce_keeps_count_and_a_dispute_keeps_the_opd() -> None:
    t1 = apply(AT_OPD, ReturnToVerification(reason="bukan kami"), OFFICER)
    assert t1.after.opd_id is None and t1.after.bounce_count == 1 and t1.stage is Stage.VERIFIKASI
    t2 = apply(t1.after, Dispose(opd_id=OTHER_OPD), STAFF)
    assert t2.after.opd_id == OTHER_OPD and t2.after.bounce_count == 1 and t2.after.rounds == 2
    t3 = apply(t2.after, FollowUp(text="sudah"), OTHER_OFFICER)
    t4 = apply(t3.after, Dispute(reason="belum beres"), CITIZEN)
    assert t4.after.opd_id == OTHER_OPD and t4.after.rounds == 3 and t4.stage is Stage.TINDAK_LANJUT
    with pytest.raises(InvalidTransition):
        apply(t4.after, AutoClose(), SYSTEM)


FORBIDDEN = [
    (NEW, DISPOSE, OFFICER),
    (NEW, DISPOSE, LEADER),
    (NEW, DISPOSE, OPERATOR),
    (NEW, DISPOSE, CITIZEN),
    (NEW, Hold(reason="x"), CITIZEN),
    (HELD, Resume(note="x"), OFFICER),
    (NEW, Archive(), LEADER),
    (AT_OPD, FollowUp(text="x"), OTHER_OFFICER),
    (AT_OPD, FollowUp(text="x"), UNBOUND_OFFICER),
    (AT_OPD, FollowUp(text="x"), STAFF),
    (AT_OPD, FollowUp(text="x"), ADMIN),
    (AT_OPD, ReturnToVerification(reason="x"), OTHER_OFFICER),
    (AT_OPD, ReturnToVerification(reason="x"), LEADER),
    (FOLLOWED, Accept(), OFFICER),
    (FOLLOWED, Dispute(reason="x"), OFFICER),
    (FOLLOWED, AutoClose(), STAFF),
    (FOLLOWED, AutoClose(), CITIZEN),
]


@pytest.mark.parametrize(("state", "action", "actor"), FORBIDDEN)
def test_forbidden(state: ComplaintState, action: Action, actor: Actor) -> None:
    with pytest.raises(Forbidden):
        apply(state, action, actor)
    assert action.name not in allowed_actions(state, actor)


WRONG_STATE = [
    (AT_OPD, DISPOSE, STAFF),
    (HELD, DISPOSE, STAFF),
    (FOLLOWED, Hold(reason="x"), STAFF),
    (NEW, Resume(note="x"), STAFF),
    (NEW, FollowUp(text="x"), Actor(Role.OPD_OFFICER, 3, agency_id=None)),
    (FOLLOWED, FollowUp(text="x"), OFFICER),
    (AT_OPD, Accept(), CITIZEN),
    (DONE, Dispute(reason="x"), CITIZEN),
    (DONE, Archive(), STAFF),
    (AT_OPD, NotAuthority(reason="x"), STAFF),
    (NEW, AutoClose(), SYSTEM),
]


@pytest.mark.parametrize(("state", "action", "actor"), WRONG_STATE)
def test_wrong_state(state: ComplaintState, action: Action, actor: Actor) -> None:
    with pytest.raises((InvalidTransition, Forbidden)):
        apply(state, action, actor)


@pytest.mark.parametrize(
    ("state", "action", "actor", "field"),
    [
        (NEW, Dispose(opd_id=0), STAFF, "opd_id"),
        (NEW, Hold(reason="  "), STAFF, "reason"),
        (HELD, Resume(note=""), CITIZEN, "note"),
        (NEW, NotAuthority(), STAFF, "reason"),
        (NEW, Archive(reason="duplikat"), STAFF, "duplicate_of"),
        (NEW, Archive(reason="bosan"), STAFF, "reason"),  # type: ignore[arg-type]
        (AT_OPD, FollowUp(text=""), OFFICER, "text"),
        (AT_OPD, FollowUp(text="x" * 10001), OFFICER, "text"),
        (AT_OPD, ReturnToVerification(), OFFICER, "reason"),
        (FOLLOWED, Dispute(), CITIZEN, "reason"),
    ],
)
def test_bad_data(state: ComplaintState, action: Action, actor: Actor, field: str) -> None:
    with pytest.raises(InvalidAction) as e:
        apply(state, action, actor)
    assert e.value.field == field


def test_allowed_actions_per_role() -> None:
    assert allowed_actions(NEW, STAFF) == ["dispose", "hold", "not_authority", "archive"]
    assert allowed_actions(HELD, CITIZEN) == ["resume"]
    assert allowed_actions(AT_OPD, OFFICER) == ["follow_up", "return"]
    assert allowed_actions(AT_OPD, OTHER_OFFICER) == []
    assert allowed_actions(FOLLOWED, CITIZEN) == ["accept", "dispute"]
    assert allowed_actions(DONE, STAFF) == []
    assert allowed_actions(NEW, LEADER) == []


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("dispose", {"opd_id": "7", "category_id": "", "note": "ok"}, Dispose(opd_id=7, note="ok")),
        ("archive", {"reason": "duplikat", "duplicate_of": "12"}, Archive(reason="duplikat", duplicate_of=12)),
        ("follow_up", {"text": "selesai", "has_photo": "on"}, FollowUp(text="selesai", has_photo=True)),
        ("hold", {"reason": "x", "ignored": "y"}, Hold(reason="x")),
    ],
)
def test_parse_action(name: str, data: dict[str, object], expected: Action) -> None:
    assert parse_action(name, data) == expected


@pytest.mark.parametrize(("name", "data"), [("fly", {}), ("dispose", {"opd_id": "tujuh"})])
def test_parse_action_bad(name: str, data: dict[str, object]) -> None:
    with pytest.raises(InvalidAction):
        parse_action(name, data)


def test_every_action_is_parseable() -> None:
    assert set(ACTIONS) == {
        "dispose",
        "hold",
        "resume",
        "not_authority",
        "archive",
        "follow_up",
        "return",
        "accept",
        "dispute",
        "auto_close",
    }


@pytest.mark.parametrize(
    ("actor", "anonim", "name", "contact"),
    [
        (STAFF, True, True, True),
        (STAFF, False, True, True),
        (OFFICER, False, True, False),
        (OFFICER, True, False, False),
        (LEADER, True, False, False),
        (CITIZEN, False, False, False),
        (OPERATOR, False, False, False),
    ],
)
def test_reporter_privacy(actor: Actor, anonim: bool, name: bool, contact: bool) -> None:
    assert may_see_reporter_name(actor, anonim) is name
    assert may_see_reporter_contact(actor) is contact


def test_sla_limits_from_settings() -> None:
    settings = Settings(
        database_url="postgresql://unused",
        complaint_verification_days=2,
        complaint_followup_days=4,
        complaint_response_days=7,
        complaint_sekda_after_days=1,
    )
    assert SlaLimits.from_settings(settings) == SlaLimits(2, 4, 7, 1)
    assert SlaLimits.from_settings(Settings(database_url="postgresql://unused")) == SlaLimits()
