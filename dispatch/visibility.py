"""Who receives which event of the bus, and which of its fields: one rule per event kind and role.

Pure: the stream looks up the facts an event does not carry (:class:`Facts`, once per batch of
events) and asks :func:`visible` for each socket. The table :data:`RULES` names every event kind
the code emits and, for each kind, every role: a :class:`Grant` or :data:`NEVER`. A kind missing
from the table, or a role missing from a kind's row, is refused, and a granted event carries only
the fields its grant lists (deny by default, for fields too: a field added to an event later
reaches nobody until a rule here says who may see it). ``tests/dispatch/test_visibility.py``
collects every kind the code emits and fails on one without a row here.

The roles' rows follow the pages each role may open, since the stream must not tell anyone more
than their pages would:

* operator: the incidents assigned to its agency (as ``/api/v1/incidents``) and the alarms
  addressed to its agency; never complaints (it has no complaint page).
* supervisor: bound to an agency, the incidents and alarms of that agency and of the agencies
  under it (the Polres supervisor: every Polsek's, :func:`incident_scope`); unbound, like the
  command centre.
* command centre, admin: every incident (``states.SEES_ALL``) and every alarm.
* leader: what the dashboard shows (``dashboard/``): incident states for the
  time-to-acknowledge and area tables, the agencies left without an operator, complaint states,
  red list and teguran; not who did what, devices, routing reasons or notes, which it does not show.
* complaint staff: complaints and teguran (the desk); no incident or police alarm: its pages
  show none, and a complaint handed over from an incident arrives as ``complaint.created``.
* OPD officer: only events of complaints disposed to its own OPD *now* (``Facts.complaint_opd``),
  and none of those that name another OPD (the disposition, red mark or escalation of an earlier
  OPD), so a complaint re-disposed from OPD A to OPD B disappears from A's stream, for the live
  feed and a replay alike, and B does not learn of A's part; its own teguran; never incidents,
  never reporter fields, never the incident a complaint came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.auth import User
from core.events import Event
from core.roles import Role
from dispatch.states import SEES_ALL


@dataclass(frozen=True)
class Facts:
    """What the rules need beyond the event itself, as the stream found it when sending."""

    # complaint id -> the OPD it is disposed to now (``complaint.opd_id``; None: no OPD now)
    complaint_opd: Mapping[int, int | None] = field(default_factory=dict)


NO_FACTS = Facts()

Audience = Callable[[User, Event, Facts], bool]


def _data(ev: Event) -> dict[str, Any]:
    return ev.data if isinstance(ev.data, dict) else {}


def anyone(user: User, ev: Event, facts: Facts) -> bool:
    return True


def addressed_to_own_agency(user: User, ev: Event, facts: Facts) -> bool:
    """The event lists the user's agency among ``agencies`` (an incident's assignments at the time,
    or the agencies an alarm is addressed to)."""
    agencies = _data(ev).get("agencies")
    return user.agency_id is not None and isinstance(agencies, list) and user.agency_id in agencies


def incident_scope(user: User) -> frozenset[int] | None:
    """The agencies whose incidents ``user`` sees (None: every incident). An operator its own
    agency; a supervisor bound to an agency that one and those under it (``User.child_agency_ids``);
    the roles of ``SEES_ALL`` otherwise everything. Pure: the incident list, detail and
    transitions (dispatch/service.py) and the stream ask the same question here."""
    if user.role == Role.SUPERVISOR and user.agency_id is not None:
        return frozenset({user.agency_id, *user.child_agency_ids})
    if user.role in SEES_ALL:
        return None
    return frozenset() if user.agency_id is None else frozenset({user.agency_id})


def in_scope(user: User, agencies: Collection[int]) -> bool:
    """Whether an incident assigned to ``agencies`` is one ``user`` sees."""
    scope = incident_scope(user)
    return scope is None or not scope.isdisjoint(agencies)


def supervised(user: User, ev: Event, facts: Facts) -> bool:
    """A supervisor's: everything when unbound, else an event naming an agency of its scope."""
    if incident_scope(user) is None:
        return True
    agencies = _data(ev).get("agencies")
    return isinstance(agencies, list) and in_scope(user, [a for a in agencies if isinstance(a, int)])


def supervised_agency(user: User, ev: Event, facts: Facts) -> bool:
    """An ``agency.unattended`` about an agency of the supervisor's scope (all when unbound)."""
    scope = incident_scope(user)
    return scope is None or _data(ev).get("agency_id") in scope


def own_opd_complaint(user: User, ev: Event, facts: Facts) -> bool:
    """A complaint now disposed to the user's OPD, in an event that names no other OPD."""
    if user.agency_id is None or ev.complaint_id is None:
        return False
    if facts.complaint_opd.get(ev.complaint_id) != user.agency_id:
        return False
    named = _data(ev).get("opd_id")
    return named is None or named == user.agency_id


def own_opd(user: User, ev: Event, facts: Facts) -> bool:
    """An event addressed to the user's OPD itself (a teguran)."""
    return user.agency_id is not None and _data(ev).get("opd_id") == user.agency_id


@dataclass(frozen=True)
class Grant:
    """A role receives the event when ``audience`` says so, with only ``fields`` of its data."""

    audience: Audience
    fields: frozenset[str]
    # whether the event keeps its incident id (the incident a complaint came from): only for
    # roles that may open incidents
    incident_link: bool = True


NEVER: Grant | None = None

# --- the fields of each kind, as the code emits them ---------------------------------------------

_INCIDENT = frozenset({"incident_id", "number", "type", "state"})
_CREATED = _INCIDENT | {"device_id"}
_ROUTED = _INCIDENT | {"device_id", "agencies", "dispatch", "reason"}
_STATE = _INCIDENT | {"from", "to", "by", "agencies", "unit"}
_NOTE = frozenset({"incident_id", "note_id", "agencies"})
_ESCALATED = _INCIDENT | {"level", "raised_to", "added", "agencies"}
_FLAGGED = _INCIDENT | {"flag", "agencies"}
_UNATTENDED = _INCIDENT | {"empty_agency_id", "added", "on_call", "agencies"}
_AGENCY_UNATTENDED = frozenset({"agency_id", "agency", "open_incidents", "incident_ids", "agencies"})
# what the dashboard shows of an incident: its number, type, state and agencies, when it moved;
# not who moved it, the unit, the device, the routing reason or who is on call. `dispatch` (whether
# it needs a response at all) stays: a leader may watch the console, which alarms on new ones
_LEADER_INCIDENT = _INCIDENT | {
    "from",
    "to",
    "agencies",
    "dispatch",
    "level",
    "raised_to",
    "added",
    "flag",
    "empty_agency_id",
}

_COMPLAINT_CREATED = frozenset({"tracking_id", "channel", "kind"})
_COMPLAINT_ACTION = frozenset({"status", "opd_id", "tracking_id"})
_COMPLAINT_RED = frozenset({"stage", "opd_id", "tracking_id", "notify"})
_COMPLAINT_ESCALATED = frozenset({"notify", "opd_id", "tracking_id"})
_TEGURAN = frozenset({"teguran_id", "opd_id"})


def _incident_row(fields: frozenset[str], *, leader: bool = True) -> dict[Role, Grant | None]:
    return {
        Role.OPERATOR: Grant(addressed_to_own_agency, fields),
        Role.SUPERVISOR: Grant(supervised, fields),
        Role.COMMAND_CENTRE: Grant(anyone, fields),
        Role.ADMIN: Grant(anyone, fields),
        Role.LEADER: Grant(anyone, fields & _LEADER_INCIDENT) if leader else NEVER,
        Role.COMPLAINT_STAFF: NEVER,
        Role.OPD_OFFICER: NEVER,
    }


def _complaint_row(fields: frozenset[str]) -> dict[Role, Grant | None]:
    return {
        # complaints are not the consoles' business; a handed-over incident's own events say
        # that it left them
        Role.OPERATOR: NEVER,
        Role.SUPERVISOR: NEVER,
        # the complaint desk's readers (complaints/web.py DESK_READERS)
        Role.COMMAND_CENTRE: Grant(anyone, fields),
        Role.ADMIN: Grant(anyone, fields),
        Role.COMPLAINT_STAFF: Grant(anyone, fields),
        Role.LEADER: Grant(anyone, fields - {"channel"}),
        Role.OPD_OFFICER: Grant(own_opd_complaint, fields - {"channel"}, incident_link=False),
    }


def _complaint_kinds() -> dict[str, dict[Role, Grant | None]]:
    # one row per action of the complaint state machine (complaints/model.py ACTIONS), each an
    # event `complaint.<action>` of {status, opd_id, tracking_id}; named here, not imported, as
    # dispatch never imports the complaint pipeline (the kinds test checks the two agree)
    actions = (
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
    )
    return {f"complaint.{name}": _complaint_row(_COMPLAINT_ACTION) for name in actions}


RULES: Mapping[str, Mapping[Role, Grant | None]] = {
    # the gateway's first word on a new incident: no agency yet, so no operator (routed follows)
    "incident.created": _incident_row(_CREATED),
    "incident.routed": _incident_row(_ROUTED),
    "incident.state": _incident_row(_STATE),
    "incident.handed_to_complaints": _incident_row(_STATE),
    # the note's text is not in the event; the leader's dashboard shows no notes at all
    "incident.note": _incident_row(_NOTE, leader=False),
    "incident.escalated": _incident_row(_ESCALATED),
    "incident.flagged": _incident_row(_FLAGGED),
    "incident.unattended": _incident_row(_UNATTENDED),
    # an agency left without an operator while it has open incidents: addressed to the command
    # centre's agency (its operators), for the desk, and on the dashboard's presence table
    "agency.unattended": {
        Role.OPERATOR: Grant(addressed_to_own_agency, _AGENCY_UNATTENDED),
        Role.SUPERVISOR: Grant(supervised_agency, _AGENCY_UNATTENDED),
        Role.COMMAND_CENTRE: Grant(anyone, _AGENCY_UNATTENDED),
        Role.ADMIN: Grant(anyone, _AGENCY_UNATTENDED),
        Role.LEADER: Grant(anyone, _AGENCY_UNATTENDED),
        Role.COMPLAINT_STAFF: NEVER,
        Role.OPD_OFFICER: NEVER,
    },
    "complaint.created": _complaint_row(_COMPLAINT_CREATED),
    **_complaint_kinds(),
    "complaint.red": _complaint_row(_COMPLAINT_RED),
    "complaint.escalated": _complaint_row(_COMPLAINT_ESCALATED),
    # a reprimand to an OPD: the leader who issues it, the desk, and that OPD's own officers
    "complaint.teguran": {
        **_complaint_row(_TEGURAN),
        Role.LEADER: Grant(anyone, _TEGURAN),
        Role.OPD_OFFICER: Grant(own_opd, _TEGURAN, incident_link=False),
    },
}


def visible(user: User, ev: Event, facts: Facts = NO_FACTS) -> Event | None:
    """The event as ``user`` may receive it (fields the rule does not grant removed), or None."""
    grant = RULES.get(ev.kind, {}).get(user.role)
    if grant is None or not grant.audience(user, ev, facts):
        return None
    data = {k: v for k, v in _data(ev).items() if k in grant.fields}
    incident_id = ev.incident_id if grant.incident_link else None
    if data == ev.data and incident_id == ev.incident_id:
        return ev
    return dataclasses.replace(ev, data=data, incident_id=incident_id)


def needs_complaint_opd(ev: Event) -> bool:
    """Whether deciding ``ev`` for some role needs ``Facts.complaint_opd`` of its complaint."""
    return ev.complaint_id is not None
