"""The transition rules without a database: who may do what from which state, and what it writes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from complaints.clock import Pause, WorkingDayClock
from complaints.model import (
    STAGE_OF,
    Accept,
    Action,
    Actor,
    Archive,
    AutoClose,
    Dispose,
    Dispute,
    FollowUp,
    Forbidden,
    Hold,
    InvalidTransition,
    NotAuthority,
    Resume,
    ReturnToVerification,
    Role,
    SlaLimits,
    Status,
)
from complaints.transitions import COMPLAINT_COLUMNS, Decision, OpenDisposition, PauseRow, decide

CLOCK = WorkingDayClock()
LIMITS = SlaLimits()
OPD = 7
# Monday 30 November 2026, 10:00 WIB; the complaint came in the Monday before
NOW = datetime(2026, 11, 30, 3, tzinfo=UTC)
RECEIVED = NOW - timedelta(days=7)

SAMPLE: dict[str, Action] = {
    "dispose": Dispose(opd_id=OPD),
    "hold": Hold(reason="foto kurang jelas"),
    "resume": Resume(note="foto dikirim"),
    "not_authority": NotAuthority(reason="jalan nasional"),
    "archive": Archive(reason="spam"),
    "follow_up": FollowUp(text="sudah ditambal"),
    "return": ReturnToVerification(reason="bukan kami"),
    "accept": Accept(),
    "dispute": Dispute(reason="belum beres"),
    "auto_close": AutoClose(),
}

STAFF = {Role.COMPLAINT_STAFF, Role.ADMIN}
# the model written out: who may take each action, from which states, into which state
RULES: dict[str, tuple[set[str], set[Status], Status]] = {
    "dispose": (STAFF, {Status.VERIFIKASI}, Status.DISPOSISI),
    "hold": (STAFF, {Status.VERIFIKASI}, Status.TUNDA),
    "resume": (STAFF | {Role.CITIZEN}, {Status.TUNDA}, Status.VERIFIKASI),
    "not_authority": (STAFF, {Status.VERIFIKASI, Status.TUNDA}, Status.BUKAN_WEWENANG),
    "archive": (STAFF, {Status.VERIFIKASI, Status.TUNDA}, Status.ARSIP),
    "follow_up": ({Role.OPD_OFFICER}, {Status.DISPOSISI}, Status.TINDAK_LANJUT),
    "return": ({Role.OPD_OFFICER}, {Status.DISPOSISI}, Status.VERIFIKASI),
    "accept": (STAFF | {Role.CITIZEN}, {Status.TINDAK_LANJUT}, Status.SELESAI),
    "dispute": (STAFF | {Role.CITIZEN}, {Status.TINDAK_LANJUT}, Status.DISPOSISI),
    "auto_close": ({Role.SYSTEM}, {Status.TINDAK_LANJUT}, Status.SELESAI),
}


def row_in(status: Status, **fields: Any) -> dict[str, Any]:
    """A complaint row in ``status`` whose current stage started yesterday."""
    stage = STAGE_OF[status]
    started = NOW - timedelta(days=1)
    row: dict[str, Any] = {k: None for k in COMPLAINT_COLUMNS}
    row.update(
        id=1,
        status=status.value,
        opd_id=OPD if status in (Status.DISPOSISI, Status.TINDAK_LANJUT) else None,
        bounce_count=0,
        rounds=1 if status in (Status.DISPOSISI, Status.TINDAK_LANJUT) else 0,
        close_reason=None,
        received_at=RECEIVED,
        updated_at=started,
        stage=stage.value if stage else None,
        stage_started_at=started if stage else None,
        yellow_at=CLOCK.yellow_at(started, LIMITS.for_stage(stage)) if stage else None,
        due_at=CLOCK.add(started, LIMITS.for_stage(stage)) if stage else None,
        paused_at=started if status == Status.TUNDA else None,
    )
    row.update(fields)
    return row


def actor_as(role: str) -> Actor:
    return Actor(role, user_id=1, name=str(role), agency_id=OPD if role == Role.OPD_OFFICER else None)


def decide_as(status: Status, action: Action, role: str, **inputs: Any) -> Decision:
    """The decision for ``role`` acting on a complaint in ``status``, now."""
    return decide(row_in(status), action, actor_as(role), clock=CLOCK, limits=LIMITS, now=NOW, **inputs)


def expected(action: str, status: Status, role: str) -> str | Status:
    roles, sources, after = RULES[action]
    if role not in roles:
        return "forbidden"
    # an officer acts only on what is disposed to their OPD; before disposition it has no OPD
    if role == Role.OPD_OFFICER and status not in (Status.DISPOSISI, Status.TINDAK_LANJUT):
        return "forbidden"
    if status not in sources:
        return "invalid"
    return after


@pytest.mark.parametrize(
    ("action", "status", "role"), list(itertools.product(sorted(SAMPLE), list(Status), [str(r) for r in Role]))
)
def test_every_action_state_and_role(action: str, status: Status, role: str) -> None:
    want = expected(action, status, role)
    run = lambda: decide_as(status, SAMPLE[action], role)  # noqa: E731
    if want == "forbidden":
        with pytest.raises(Forbidden):
            run()
    elif want == "invalid":
        with pytest.raises(InvalidTransition):
            run()
    else:
        decision = run()
        assert decision.complaint["status"] == want
        assert (decision.complaint["closed_at"] is not None) == decision.transition.closed


def test_the_table_covers_the_model() -> None:
    assert set(RULES) == set(SAMPLE)
    for name, action in SAMPLE.items():
        roles, sources, _ = RULES[name]
        assert (action.name, set(action.roles), set(action.sources)) == (name, roles, sources)


@pytest.mark.parametrize("action", ["follow_up", "return"])
def test_an_officer_of_another_opd_is_refused(action: str) -> None:
    other = Actor(Role.OPD_OFFICER, user_id=2, name="lain", agency_id=OPD + 1)
    with pytest.raises(Forbidden):
        decide(row_in(Status.DISPOSISI), SAMPLE[action], other, clock=CLOCK, limits=LIMITS, now=NOW)


def test_hold_stops_the_verification_clock() -> None:
    d = decide_as(Status.VERIFIKASI, SAMPLE["hold"], Role.COMPLAINT_STAFF)
    assert d.start_pauses == (("tunda", "foto kurang jelas"),) and d.end_pauses == ()
    assert (d.complaint["paused_at"], d.complaint["due_at"], d.complaint["yellow_at"]) == (NOW, None, None)
    assert d.complaint["stage_started_at"] == NOW - timedelta(days=1)  # the same stage, paused


def test_resume_moves_the_due_date_by_the_pause() -> None:
    started = NOW - timedelta(days=1)
    held = started + timedelta(hours=2)
    row = row_in(Status.TUNDA, stage_started_at=started)
    d = decide(
        row,
        SAMPLE["resume"],
        actor_as(Role.CITIZEN),
        clock=CLOCK,
        limits=LIMITS,
        now=NOW,
        pauses=[PauseRow("tunda", held)],
    )
    paused = [Pause(held, NOW)]
    assert d.end_pauses == ("tunda",) and d.start_pauses == ()
    assert d.complaint["paused_at"] is None
    assert d.complaint["due_at"] == CLOCK.add(started, LIMITS.verification_days, paused)
    assert d.complaint["yellow_at"] == CLOCK.yellow_at(started, LIMITS.verification_days, paused)


def test_dispose_opens_the_opd_record_with_its_clock() -> None:
    action = Dispose(opd_id=OPD, category_id=3, desa_code="33.07.01.2001", note="mohon segera")
    d = decide_as(Status.VERIFIKASI, action, Role.COMPLAINT_STAFF)
    due = CLOCK.add(NOW, LIMITS.followup_days)
    assert d.complaint["stage"] == "tindak_lanjut" and d.complaint["due_at"] == due
    assert (d.complaint["category_id"], d.complaint["desa_code"]) == (3, "33.07.01.2001")
    assert d.open_disposition is not None
    assert (d.open_disposition.opd_id, d.open_disposition.round, d.open_disposition.due_at) == (OPD, 1, due)
    assert d.open_disposition.note == "mohon segera"


def test_follow_up_finishes_the_record_and_waits_for_the_citizen() -> None:
    disposed = NOW - timedelta(days=1)
    d = decide_as(
        Status.DISPOSISI,
        SAMPLE["follow_up"],
        Role.OPD_OFFICER,
        open_disposition=OpenDisposition(9, disposed, NOW + timedelta(days=3)),
        photo=(b"jpeg", "image/jpeg"),
    )
    done = d.finish_disposition
    assert done is not None and (done.id, done.outcome, done.on_time) == (9, "followed_up", True)
    assert (done.followup_text, done.followup_photo, done.return_reason) == ("sudah ditambal", b"jpeg", None)
    assert done.working_s == CLOCK.elapsed(disposed, NOW).total_seconds()
    assert d.start_pauses == (("tanggapan", ""),)
    assert d.complaint["due_at"] == CLOCK.add(NOW, LIMITS.response_days)


def test_a_late_return_is_recorded_as_late() -> None:
    d = decide_as(
        Status.DISPOSISI,
        SAMPLE["return"],
        Role.OPD_OFFICER,
        open_disposition=OpenDisposition(9, NOW - timedelta(days=9), NOW - timedelta(days=1)),
        photo=(b"jpeg", "image/jpeg"),
    )
    done = d.finish_disposition
    assert done is not None and (done.outcome, done.on_time, done.followup_photo) == ("returned", False, None)
    assert d.complaint["opd_id"] is None and d.complaint["bounce_count"] == 1
    assert d.complaint["stage"] == "verifikasi" and d.complaint["stage_started_at"] == NOW


def test_closing_counts_the_end_to_end_time_without_the_pauses() -> None:
    held, answered = RECEIVED + timedelta(hours=1), RECEIVED + timedelta(days=1)
    waiting = NOW - timedelta(days=1)
    d = decide_as(
        Status.TINDAK_LANJUT,
        SAMPLE["accept"],
        Role.CITIZEN,
        pauses=[PauseRow("tunda", held, answered), PauseRow("tanggapan", waiting)],
    )
    assert d.end_pauses == ("tanggapan",)
    e2e = CLOCK.elapsed(RECEIVED, NOW, [Pause(held, answered), Pause(waiting, NOW)]).total_seconds()
    assert d.complaint["e2e_working_s"] == e2e
    assert (d.complaint["stage"], d.complaint["due_at"], d.complaint["closed_at"]) == (None, None, NOW)
    assert d.complaint["close_reason"] == "diterima" and not d.on_behalf


def test_staff_acting_for_the_citizen_is_on_behalf() -> None:
    d = decide_as(Status.TINDAK_LANJUT, SAMPLE["dispute"], Role.ADMIN)
    assert d.on_behalf and d.note == "belum beres"
    assert d.open_disposition is not None and d.open_disposition.round == 2
    assert d.end_pauses == ("tanggapan",)


def test_closing_from_tunda_ends_the_pause() -> None:
    d = decide_as(
        Status.TUNDA,
        SAMPLE["archive"],
        Role.COMPLAINT_STAFF,
        pauses=[PauseRow("tunda", NOW - timedelta(hours=3))],
    )
    assert d.end_pauses == ("tunda",)
    assert (d.complaint["paused_at"], d.complaint["close_reason"]) == (None, "spam")
