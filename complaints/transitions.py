"""What a transition writes, decided without the database.

Given a complaint's row as it is, an action, the actor and the clock, :func:`decide` says whether
the action is allowed (raising the refusal otherwise), what the complaint becomes and which rows
change: the complaint's own columns with its stage clock, the pauses that end or start, the OPD's
disposition record. The store reads the inputs under the row lock and writes what this returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from complaints.clock import Pause, WorkingDayClock
from complaints.model import (
    STAGE_OF,
    Action,
    Actor,
    ComplaintState,
    FollowUp,
    Hold,
    ReturnToVerification,
    SlaLimits,
    Stage,
    Status,
    Transition,
    apply,
)
from core.roles import Role

# the complaint columns a transition sets, in the order the store's UPDATE names them
COMPLAINT_COLUMNS = (
    "status",
    "opd_id",
    "bounce_count",
    "rounds",
    "close_reason",
    "updated_at",
    "stage",
    "stage_started_at",
    "yellow_at",
    "due_at",
    "red_at",
    "paused_at",
    "closed_at",
    "e2e_working_s",
    "category_id",
    "desa_code",
    "kecamatan_code",
)


@dataclass(frozen=True)
class PauseRow:
    """A row of ``complaint_pause``: ``tunda`` or ``tanggapan``; ``end`` None while it runs."""

    kind: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class OpenDisposition:
    """The unfinished disposition of the complaint's current OPD."""

    id: int
    disposed_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class NewDisposition:
    opd_id: int | None
    round: int
    disposed_by: str
    note: str
    yellow_at: datetime | None
    due_at: datetime | None


@dataclass(frozen=True)
class FinishedDisposition:
    id: int
    outcome: str
    followup_text: str | None
    followup_photo: bytes | None
    followup_photo_type: str | None
    return_reason: str | None
    working_s: float
    on_time: bool


@dataclass(frozen=True)
class Decision:
    """The rows one transition writes, at ``now``."""

    transition: Transition
    now: datetime
    complaint: dict[str, Any]
    # kinds of the running pauses that end now
    end_pauses: tuple[str, ...]
    # (kind, reason) of the pauses that start now
    start_pauses: tuple[tuple[str, str], ...]
    open_disposition: NewDisposition | None
    finish_disposition: FinishedDisposition | None
    note: str
    # staff recording what the reporter said (phone, walk-in)
    on_behalf: bool


def state_of(row: Mapping[str, Any]) -> ComplaintState:
    return ComplaintState(
        status=Status(row["status"]),
        opd_id=row["opd_id"],
        bounce_count=row["bounce_count"],
        rounds=row["rounds"],
        close_reason=row["close_reason"],
    )


def note_of(action: Action) -> str:
    for name in ("reason", "note", "text"):
        value = getattr(action, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def decide(
    row: Mapping[str, Any],
    action: Action,
    actor: Actor,
    *,
    clock: WorkingDayClock,
    limits: SlaLimits,
    now: datetime,
    pauses: Sequence[PauseRow] = (),
    open_disposition: OpenDisposition | None = None,
    photo: tuple[bytes, str] | None = None,
) -> Decision:
    """The rows ``action`` by ``actor`` writes to the complaint ``row``; raises ComplaintError when
    the action is refused. ``pauses`` are all the complaint's pauses so far."""
    t = apply(state_of(row), action, actor)
    after = t.after
    upd: dict[str, Any] = {k: row[k] for k in COMPLAINT_COLUMNS}
    upd.update(
        status=after.status.value,
        opd_id=after.opd_id,
        bounce_count=after.bounce_count,
        rounds=after.rounds,
        close_reason=after.close_reason,
        updated_at=now,
        closed_at=None,
        e2e_working_s=None,
    )
    for k in ("category_id", "desa_code", "kecamatan_code"):
        if getattr(action, k, None) is not None:
            upd[k] = getattr(action, k)

    # waiting for the citizen's response stops the end-to-end clock
    end_pauses = (("tunda",) if t.pause == "end" else ()) + (
        ("tanggapan",) if row["status"] == Status.TINDAK_LANJUT else ()
    )
    start_pauses = ((("tunda", action.reason if isinstance(action, Hold) else ""),) if t.pause == "start" else ()) + (
        (("tanggapan", ""),) if after.status == Status.TINDAK_LANJUT else ()
    )
    pauses_after = [PauseRow(p.kind, p.start, now if p.end is None and p.kind in end_pauses else p.end) for p in pauses]
    pauses_after += [PauseRow(kind, now) for kind, _ in start_pauses]

    if t.pause == "start":
        upd["paused_at"] = now
        # the due date is unknown until the citizen answers; a stage already yellow stays yellow
        upd["due_at"] = None
        if row["yellow_at"] is None or row["yellow_at"] > now:
            upd["yellow_at"] = None
    elif t.pause == "end":
        upd["paused_at"] = None
        if not t.closed:
            stage_pauses = _clock_pauses(pauses_after, ("tunda",))
            limit = limits.for_stage(Stage.VERIFIKASI)
            upd["yellow_at"] = clock.yellow_at(row["stage_started_at"], limit, stage_pauses)
            upd["due_at"] = clock.add(row["stage_started_at"], limit, stage_pauses)

    if t.restart_stage:
        stage = STAGE_OF[after.status]
        assert stage is not None
        limit = limits.for_stage(stage)
        upd.update(
            stage=stage.value,
            stage_started_at=now,
            yellow_at=clock.yellow_at(now, limit),
            due_at=clock.add(now, limit),
            red_at=None,
        )

    new_disposition = None
    if t.disposition == "open":
        new_disposition = NewDisposition(
            opd_id=after.opd_id,
            round=after.rounds,
            disposed_by=actor.name or str(actor.role),
            note=note_of(action),
            yellow_at=upd["yellow_at"],
            due_at=upd["due_at"],
        )
    finished = None
    if t.disposition in ("followed_up", "returned") and open_disposition is not None:
        d = open_disposition
        # only a follow-up carries a photo
        kept_photo = photo if isinstance(action, FollowUp) else None
        finished = FinishedDisposition(
            id=d.id,
            outcome=t.disposition,
            followup_text=action.text if isinstance(action, FollowUp) else None,
            followup_photo=kept_photo[0] if kept_photo is not None else None,
            followup_photo_type=kept_photo[1] if kept_photo is not None else None,
            return_reason=action.reason if isinstance(action, ReturnToVerification) else None,
            working_s=clock.elapsed(d.disposed_at, now).total_seconds(),
            on_time=now < d.due_at,
        )

    if t.closed:
        # a complaint closed while still paused in tunda ends that pause (above)
        upd.update(
            stage=None,
            yellow_at=None,
            due_at=None,
            paused_at=None,
            closed_at=now,
            e2e_working_s=clock.elapsed(
                row["received_at"], now, _clock_pauses(pauses_after, ("tunda", "tanggapan"))
            ).total_seconds(),
        )

    return Decision(
        transition=t,
        now=now,
        complaint=upd,
        end_pauses=end_pauses,
        start_pauses=start_pauses,
        open_disposition=new_disposition,
        finish_disposition=finished,
        note=note_of(action),
        on_behalf=Role.CITIZEN in action.roles and actor.role in (Role.COMPLAINT_STAFF, Role.ADMIN),
    )


def _clock_pauses(pauses: Sequence[PauseRow], kinds: Sequence[str]) -> list[Pause]:
    return [Pause(p.start, p.end) for p in pauses if p.kind in kinds]
