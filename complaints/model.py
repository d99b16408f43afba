"""The complaint state machine (SP4N-LAPOR! practice), pure: who may do what, from which state.

::

    verifikasi --dispose--> disposisi --follow_up--> tindak_lanjut --accept/auto_close--> selesai
      |  ^  \\                  |                         |
      |  |   \\--hold--> tunda  +--return (bounce)--> verifikasi
      |  +--resume--/          |                         +--dispute--> disposisi (same OPD, new round)
      +--not_authority--> bukan_wewenang
      +--archive--> arsip

Three clocks run in working days: verification (3), the OPD's follow-up (5, from disposition) and
the citizen's response (10, then auto-close). ``tunda`` pauses the verification clock and the
end-to-end clock; waiting for the citizen's response pauses the end-to-end clock only. A bounce
back to verification keeps the end-to-end clock; each disposition keeps its own OPD clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Literal

from core import labels
from core.params import as_id
from core.roles import Role

# --- vocabulary --------------------------------------------------------------------


class Kind(enum.StrEnum):
    PENGADUAN = "pengaduan"
    ASPIRASI = "aspirasi"
    PERMINTAAN_INFORMASI = "permintaan_informasi"


class Status(enum.StrEnum):
    VERIFIKASI = "verifikasi"
    TUNDA = "tunda"
    DISPOSISI = "disposisi"
    TINDAK_LANJUT = "tindak_lanjut"
    SELESAI = "selesai"
    BUKAN_WEWENANG = "bukan_wewenang"
    ARSIP = "arsip"


CLOSED = frozenset({Status.SELESAI, Status.BUKAN_WEWENANG, Status.ARSIP})


class Stage(enum.StrEnum):
    """A stretch of the pipeline with its own working-day limit."""

    VERIFIKASI = "verifikasi"  # complaint staff
    TINDAK_LANJUT = "tindak_lanjut"  # the OPD
    TANGGAPAN = "tanggapan"  # the citizen's response


STAGE_OF: dict[Status, Stage | None] = {
    Status.VERIFIKASI: Stage.VERIFIKASI,
    Status.TUNDA: Stage.VERIFIKASI,
    Status.DISPOSISI: Stage.TINDAK_LANJUT,
    Status.TINDAK_LANJUT: Stage.TANGGAPAN,
    Status.SELESAI: None,
    Status.BUKAN_WEWENANG: None,
    Status.ARSIP: None,
}

# What a person reads for each status and kind: the catalogue's words (core/labels.py).
LABEL: dict[str, str] = {**labels.COMPLAINT_STATUS, **labels.COMPLAINT_KIND}


@dataclass(frozen=True)
class SlaLimits:
    """Working-day limits of the stages (settings; defaults from Wonosobo's rule of 5 days)."""

    verification_days: int = 3
    followup_days: int = 5
    response_days: int = 10
    # a red complaint goes to the Sekda this many working days after it went to the OPD head
    sekda_after_days: int = 2

    @classmethod
    def from_settings(cls, settings: Any) -> SlaLimits:
        return cls(
            verification_days=int(settings.complaint_verification_days),
            followup_days=int(settings.complaint_followup_days),
            response_days=int(settings.complaint_response_days),
            sekda_after_days=int(settings.complaint_sekda_after_days),
        )

    def for_stage(self, stage: Stage) -> int:
        return {
            Stage.VERIFIKASI: self.verification_days,
            Stage.TINDAK_LANJUT: self.followup_days,
            Stage.TANGGAPAN: self.response_days,
        }[stage]


@dataclass(frozen=True)
class Actor:
    role: str
    user_id: int | None = None
    name: str = ""
    # the OPD an opd_officer belongs to
    agency_id: int | None = None
    # where a citizen acted from (kept in the audit log: a user is known by name, a reporter is not)
    client_ip: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(Role.SYSTEM, name="sistem")

    @classmethod
    def citizen(cls) -> Actor:
        return cls(Role.CITIZEN, name="pelapor")


# --- errors ------------------------------------------------------------------------------


class ComplaintError(Exception):
    """Base of the complaint errors; the web layer maps each to a status code."""


class Forbidden(ComplaintError):
    def __init__(self, action: str, role: str, why: str = "") -> None:
        super().__init__(f"{role} may not {action}" + (f": {why}" if why else ""))
        self.action = action
        self.role = role


class InvalidTransition(ComplaintError):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} a complaint in status {status}")
        self.action = action
        self.status = status


class InvalidAction(ComplaintError):
    """Bad data in one field. ``field`` stays the code (API clients read it); the text names the
    field as a person reads it: ``Isi laporan wajib diisi``, not ``description: ...``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field_refusal(field, message))
        self.field = field
        self.message = message


def field_refusal(field: str, message: str) -> str:
    """``message`` about ``field`` as one sentence: prefixed with the field's name unless it already
    starts with it or is a sentence of its own (capitalised)."""
    name = labels.COMPLAINT_FIELD.get(field)
    if message[:1].isupper():
        return message
    if name is None or message.lower().startswith(name.lower()):
        return message[:1].upper() + message[1:]
    return f"{name} {message}"


class NotFound(ComplaintError):
    pass


# --- actions -----------------------------------------------------------------------------

STAFF = frozenset({Role.COMPLAINT_STAFF, Role.ADMIN})


@dataclass(frozen=True)
class Action:
    name: ClassVar[str]
    sources: ClassVar[frozenset[Status]]
    roles: ClassVar[frozenset[str]]

    def validate(self) -> None:
        """Raise InvalidAction for bad data."""


def _need_text(field: str, value: str, limit: int = 10000) -> None:
    if not value or not value.strip():
        raise InvalidAction(field, "wajib diisi")
    if len(value) > limit:
        raise InvalidAction(field, f"paling panjang {limit} karakter")


@dataclass(frozen=True)
class Dispose(Action):
    """Verified: send it to one OPD."""

    name: ClassVar[str] = "dispose"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.VERIFIKASI})
    roles: ClassVar[frozenset[str]] = STAFF
    opd_id: int = 0
    category_id: int | None = None
    desa_code: str | None = None
    kecamatan_code: str | None = None
    note: str = ""

    def validate(self) -> None:
        if self.opd_id <= 0:
            raise InvalidAction("opd_id", "wajib dipilih")


@dataclass(frozen=True)
class Hold(Action):
    """Tunda: the citizen is asked for more; the clock stops."""

    name: ClassVar[str] = "hold"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.VERIFIKASI})
    roles: ClassVar[frozenset[str]] = STAFF
    reason: str = ""

    def validate(self) -> None:
        _need_text("reason", self.reason)


@dataclass(frozen=True)
class Resume(Action):
    """The citizen answered (or staff record the answer): back to verification, clock runs."""

    name: ClassVar[str] = "resume"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.TUNDA})
    roles: ClassVar[frozenset[str]] = STAFF | {Role.CITIZEN}
    note: str = ""

    def validate(self) -> None:
        _need_text("note", self.note)


@dataclass(frozen=True)
class NotAuthority(Action):
    """Bukan wewenang: not the regency's business (e.g. a national road, a private dispute)."""

    name: ClassVar[str] = "not_authority"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.VERIFIKASI, Status.TUNDA})
    roles: ClassVar[frozenset[str]] = STAFF
    reason: str = ""

    def validate(self) -> None:
        _need_text("reason", self.reason)


@dataclass(frozen=True)
class Archive(Action):
    name: ClassVar[str] = "archive"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.VERIFIKASI, Status.TUNDA})
    roles: ClassVar[frozenset[str]] = STAFF
    reason: Literal["spam", "duplikat"] = "spam"
    duplicate_of: int | None = None
    note: str = ""

    def validate(self) -> None:
        if self.reason not in ("spam", "duplikat"):
            raise InvalidAction("reason", "harus spam atau duplikat")
        if self.reason == "duplikat" and not self.duplicate_of:
            raise InvalidAction("duplicate_of", "wajib diisi untuk laporan duplikat")


@dataclass(frozen=True)
class FollowUp(Action):
    """Tindak lanjut by the OPD it was disposed to."""

    name: ClassVar[str] = "follow_up"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.DISPOSISI})
    roles: ClassVar[frozenset[str]] = frozenset({Role.OPD_OFFICER})
    text: str = ""
    has_photo: bool = False

    def validate(self) -> None:
        _need_text("text", self.text)


@dataclass(frozen=True)
class ReturnToVerification(Action):
    """The OPD says it is not its authority: back to verification (a bounce)."""

    name: ClassVar[str] = "return"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.DISPOSISI})
    roles: ClassVar[frozenset[str]] = frozenset({Role.OPD_OFFICER})
    reason: str = ""

    def validate(self) -> None:
        _need_text("reason", self.reason)


@dataclass(frozen=True)
class Accept(Action):
    name: ClassVar[str] = "accept"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.TINDAK_LANJUT})
    roles: ClassVar[frozenset[str]] = STAFF | {Role.CITIZEN}
    note: str = ""


@dataclass(frozen=True)
class Dispute(Action):
    """The citizen is not satisfied: the same OPD gets it back with a fresh follow-up clock."""

    name: ClassVar[str] = "dispute"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.TINDAK_LANJUT})
    roles: ClassVar[frozenset[str]] = STAFF | {Role.CITIZEN}
    reason: str = ""

    def validate(self) -> None:
        _need_text("reason", self.reason)


@dataclass(frozen=True)
class AutoClose(Action):
    name: ClassVar[str] = "auto_close"
    sources: ClassVar[frozenset[Status]] = frozenset({Status.TINDAK_LANJUT})
    roles: ClassVar[frozenset[str]] = frozenset({Role.SYSTEM})


ACTIONS: dict[str, type[Action]] = {
    a.name: a
    for a in (
        Dispose,
        Hold,
        Resume,
        NotAuthority,
        Archive,
        FollowUp,
        ReturnToVerification,
        Accept,
        Dispute,
        AutoClose,
    )
}


# --- state and transitions ---------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintState:
    status: Status = Status.VERIFIKASI
    opd_id: int | None = None
    bounce_count: int = 0
    # disposition rounds so far (a dispute opens a new round at the same OPD)
    rounds: int = 0
    close_reason: str | None = None


@dataclass(frozen=True)
class Transition:
    """What an action does; the store turns it into rows."""

    action: Action
    before: ComplaintState
    after: ComplaintState
    # a new stage clock starts now (False when resuming from tunda: the paused clock continues)
    restart_stage: bool
    # the tunda pause (stops the verification and end-to-end clocks)
    pause: Literal["start", "end"] | None = None
    # the disposition row of the current OPD
    disposition: Literal["open", "followed_up", "returned"] | None = None

    @property
    def stage(self) -> Stage | None:
        return STAGE_OF[self.after.status]

    @property
    def closed(self) -> bool:
        return self.after.status in CLOSED


def check_role(state: ComplaintState, action: Action, actor: Actor) -> None:
    if actor.role not in action.roles:
        raise Forbidden(action.name, actor.role)
    if actor.role == Role.OPD_OFFICER and (actor.agency_id is None or actor.agency_id != state.opd_id):
        raise Forbidden(action.name, actor.role, "laporan ini tidak didisposisikan ke OPD Anda")


def allowed_actions(state: ComplaintState, actor: Actor) -> list[str]:
    """Names of the actions ``actor`` may take now (for the buttons a page shows)."""
    out = []
    for name, cls in ACTIONS.items():
        if state.status not in cls.sources or actor.role not in cls.roles:
            continue
        if actor.role == Role.OPD_OFFICER and actor.agency_id != state.opd_id:
            continue
        out.append(name)
    return out


def apply(state: ComplaintState, action: Action, actor: Actor) -> Transition:
    """The transition ``action`` by ``actor`` makes from ``state``; raises ComplaintError."""
    check_role(state, action, actor)
    if state.status not in action.sources:
        raise InvalidTransition(action.name, state.status)
    action.validate()
    s = state
    match action:
        case Dispose():
            after = replace(s, status=Status.DISPOSISI, opd_id=action.opd_id, rounds=s.rounds + 1)
            return Transition(action, s, after, restart_stage=True, disposition="open")
        case Hold():
            return Transition(action, s, replace(s, status=Status.TUNDA), restart_stage=False, pause="start")
        case Resume():
            after = replace(s, status=Status.VERIFIKASI)
            return Transition(action, s, after, restart_stage=False, pause="end")
        case NotAuthority():
            after = replace(s, status=Status.BUKAN_WEWENANG, close_reason="bukan_wewenang")
            return Transition(action, s, after, restart_stage=False, pause="end" if s.status == Status.TUNDA else None)
        case Archive():
            after = replace(s, status=Status.ARSIP, close_reason=action.reason)
            return Transition(action, s, after, restart_stage=False, pause="end" if s.status == Status.TUNDA else None)
        case FollowUp():
            after = replace(s, status=Status.TINDAK_LANJUT)
            return Transition(action, s, after, restart_stage=True, disposition="followed_up")
        case ReturnToVerification():
            after = replace(s, status=Status.VERIFIKASI, opd_id=None, bounce_count=s.bounce_count + 1)
            return Transition(action, s, after, restart_stage=True, disposition="returned")
        case Accept():
            after = replace(s, status=Status.SELESAI, close_reason="diterima")
            return Transition(action, s, after, restart_stage=False)
        case Dispute():
            after = replace(s, status=Status.DISPOSISI, rounds=s.rounds + 1)
            return Transition(action, s, after, restart_stage=True, disposition="open")
        case AutoClose():
            after = replace(s, status=Status.SELESAI, close_reason="otomatis")
            return Transition(action, s, after, restart_stage=False)
    raise InvalidAction("action", f"tindakan {action!r} tidak dikenal")


def parse_action(name: str, data: dict[str, object]) -> Action:
    """An action from a form or JSON body (strings in, typed fields out); InvalidAction if bad."""
    cls = ACTIONS.get(name)
    if cls is None:
        raise InvalidAction("action", f"tindakan {name!r} tidak dikenal")
    fields = {f for f in cls.__dataclass_fields__ if f not in ("name", "sources", "roles")}
    kwargs: dict[str, object] = {}
    for key in fields:
        if key not in data or data[key] in (None, ""):
            continue
        value = data[key]
        if key in ("opd_id", "category_id", "duplicate_of"):
            # a bigint id: int() would also take 25 digits, which no column holds
            value = as_id(str(value))
            if value is None:
                raise InvalidAction(key, "harus nomor yang sah")
        elif key == "has_photo":
            value = value in (True, "1", "true", "on")
        else:
            value = str(value)
        kwargs[key] = value
    return cls(**kwargs)  # type: ignore[arg-type]


# --- finding complaints -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    """Filters of Open311 ``GET requests`` (and the desk's search)."""

    ids: tuple[str, ...] = ()
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()  # SIAGA statuses that match the open/closed filter
    public_only: bool = True
    limit: int = 1000


# --- privacy ------------------------------------------------------------------------------------


def may_see_reporter_contact(actor: Actor) -> bool:
    """Reporter contact details: verification staff only (and every view is audited)."""
    return actor.role in STAFF


def may_see_reporter_name(actor: Actor, anonim: bool) -> bool:
    if actor.role in STAFF:
        return True
    return not anonim and actor.role in (Role.OPD_OFFICER, Role.LEADER)


def public_text_visible(rahasia: bool, anonim: bool = False) -> bool:
    """A rahasia complaint's content never appears in a public listing, on its public status page or
    in Open311; nor does an anonim one's, whose words (a place, a neighbour) may name the reporter."""
    return not (rahasia or anonim)
