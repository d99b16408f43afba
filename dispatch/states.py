"""The incident state machine and who may move an incident where. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from core import labels
from core.roles import Role


class State(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    HANDED_TO_COMPLAINTS = "handed_to_complaints"


# What a person reads for each state: the catalogue's words (core/labels.py).
LABEL: Mapping[str, str] = labels.INCIDENT_STATE

CLOSED = frozenset({State.RESOLVED, State.FALSE_ALARM, State.HANDED_TO_COMPLAINTS})

# Roles that act on incidents; an operator only on incidents assigned to their agency.
_RESPONDERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN})
_DESK = frozenset({Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN})

# (from, to) -> roles allowed to make that move
TRANSITIONS: Mapping[tuple[State, State], frozenset[Role]] = {
    (State.NEW, State.ACKNOWLEDGED): _RESPONDERS,
    (State.ACKNOWLEDGED, State.DISPATCHED): _RESPONDERS,
    (State.DISPATCHED, State.ON_SCENE): _RESPONDERS,
    (State.DISPATCHED, State.RESOLVED): _RESPONDERS,
    (State.ON_SCENE, State.RESOLVED): _RESPONDERS,
    # false alarms are judged by someone who has looked at the incident, so not straight from new
    # by an operator; the desk may close an obvious one (a test press outside the schedule)
    (State.NEW, State.FALSE_ALARM): _DESK,
    (State.ACKNOWLEDGED, State.FALSE_ALARM): _RESPONDERS,
    (State.DISPATCHED, State.FALSE_ALARM): _RESPONDERS,
    (State.ON_SCENE, State.FALSE_ALARM): _RESPONDERS,
    # not an emergency after all (a broken street light): into the complaint pipeline
    (State.NEW, State.HANDED_TO_COMPLAINTS): _DESK,
    (State.ACKNOWLEDGED, State.HANDED_TO_COMPLAINTS): _RESPONDERS,
    (State.FALSE_ALARM, State.HANDED_TO_COMPLAINTS): _RESPONDERS,
}

# The state a device is told on its `down` topic (DESIGN.md wire contract); None = not told.
DEVICE_STATE: Mapping[State, str | None] = {
    State.NEW: None,
    State.ACKNOWLEDGED: "acknowledged",
    State.DISPATCHED: "dispatched",
    State.ON_SCENE: "on_scene",
    State.RESOLVED: "resolved",
    State.FALSE_ALARM: "false_alarm",
    State.HANDED_TO_COMPLAINTS: None,
}

# Roles that may read incidents at all; operators see only their agency's.
READERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN, Role.LEADER})
# Roles that see beyond one agency; a supervisor bound to an agency sees it and the agencies under
# it, an unbound one everything (dispatch/visibility.py incident_scope).
SEES_ALL = frozenset({Role.SUPERVISOR, Role.COMMAND_CENTRE, Role.ADMIN, Role.LEADER})
NOTE_WRITERS = _RESPONDERS


class TransitionError(Exception):
    """A move the state machine does not allow."""

    def __init__(self, current: str, target: str, role: str, reason: str) -> None:
        super().__init__(refusal(current, target, reason))
        self.current = current
        self.target = target
        self.role = role
        self.reason = reason  # 'same_state' | 'no_such_move' | 'role'


def refusal(current: str, target: str, reason: str) -> str:
    """The sentence a person reads when a move is refused (Bahasa Indonesia, state names from LABEL)."""
    cur, tgt = LABEL.get(current), LABEL.get(target)
    if cur is None or tgt is None:
        return "Status itu tidak dikenal."
    if reason == "same_state":
        return f"Insiden ini sudah berstatus {cur}."
    if reason == "role":
        return f"Peran Anda tidak boleh mengubah status insiden dari {cur} menjadi {tgt}."
    return f"Status insiden tidak dapat diubah dari {cur} menjadi {tgt}."


def changed_first(current: str, by: str, at: datetime) -> str:
    """The refusal when someone else moved the incident first (two operators pressing at once):
    what was done, by whom and when, in WIB to the second."""
    done = labels.INCIDENT_DONE.get(current)
    if done is None:
        return refusal(current, current, "same_state")
    return f"Insiden ini sudah {done} oleh {by} pada {at.astimezone(labels.WIB):%H:%M:%S} WIB."


def check(current: str, target: str, role: str) -> None:
    """Raise :class:`TransitionError` unless ``role`` may move an incident from ``current`` to ``target``."""
    try:
        cur, tgt, who = State(current), State(target), Role(role)
    except ValueError:
        raise TransitionError(current, target, role, "no_such_move") from None
    if cur is tgt:
        raise TransitionError(current, target, role, "same_state")
    allowed = TRANSITIONS.get((cur, tgt))
    if allowed is None:
        raise TransitionError(current, target, role, "no_such_move")
    if who not in allowed:
        raise TransitionError(current, target, role, "role")


def allowed_targets(current: str, role: str) -> list[str]:
    """The states ``role`` may move an incident in ``current`` to, in the order of TRANSITIONS."""
    return [
        tgt.value
        for (cur, tgt), roles in TRANSITIONS.items()
        if cur.value == current and role in {r.value for r in roles}
    ]
