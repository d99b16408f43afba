"""Routing rules: which agencies an incident goes to. Pure; the rules are rows an admin edits.

An incident carries its jurisdiction (the covering police unit, the Dishub post, whether it is
inside the regency and located at all); the rules say, per alert type, which targets get it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Target(StrEnum):
    COVERING_POLICE = "covering_police"
    COVERING_DISHUB = "covering_dishub"
    AGENCY_KIND = "agency_kind"
    COMMAND_CENTRE = "command_centre"
    NONE = "none"


ALERT_TYPES = ("panic", "crime", "fire", "medical", "accident", "test")

# Lower sorts first in the console: people in danger before property before tests.
TYPE_URGENCY: Mapping[str, int] = {
    "panic": 0,
    "crime": 0,
    "fire": 1,
    "medical": 1,
    "accident": 2,
    "test": 9,
}


def type_urgency(alert_type: str) -> int:
    return TYPE_URGENCY.get(alert_type, 5)


@dataclass(frozen=True)
class Rule:
    alert_type: str
    target: Target
    agency_kind: str | None = None
    fallback_command_centre: bool = True


@dataclass(frozen=True)
class Jurisdiction:
    """Where the incident is, as far as routing cares."""

    police_agency_id: int | None = None
    dishub_agency_id: int | None = None
    located: bool = True
    outside_regency: bool = False


@dataclass(frozen=True)
class Directory:
    """The active agencies by kind, and the command centre."""

    command_centre_id: int
    by_kind: Mapping[str, Sequence[int]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> tuple[int, ...]:
        return tuple(self.by_kind.get(kind, ()))


@dataclass(frozen=True)
class Route:
    """The outcome: agencies (with why each was chosen) and whether operators are alerted."""

    dispatch: bool
    assignments: tuple[tuple[int, str], ...]  # (agency_id, 'rule' | 'fallback')
    reason: str

    @property
    def agency_ids(self) -> tuple[int, ...]:
        return tuple(a for a, _ in self.assignments)


def _resolve(rule: Rule, where: Jurisdiction, directory: Directory) -> tuple[int, ...]:
    match rule.target:
        case Target.COVERING_POLICE:
            if where.police_agency_id is not None:
                return (where.police_agency_id,)
            # a place no polsek covers is still the polres's
            return directory.of_kind("polres")
        case Target.COVERING_DISHUB:
            if where.dishub_agency_id is not None:
                return (where.dishub_agency_id,)
            return directory.of_kind("dishub")
        case Target.AGENCY_KIND:
            return directory.of_kind(rule.agency_kind or "")
        case Target.COMMAND_CENTRE:
            return (directory.command_centre_id,)
        case Target.NONE:
            return ()


def route(alert_type: str, where: Jurisdiction, rules: Iterable[Rule], directory: Directory) -> Route:
    """Decide who gets an incident of ``alert_type`` at ``where``."""
    cc = directory.command_centre_id
    mine = [r for r in rules if r.alert_type == alert_type]
    if mine and all(r.target is Target.NONE for r in mine):
        return Route(dispatch=False, assignments=(), reason="no_dispatch")
    if not where.located:
        return Route(dispatch=True, assignments=((cc, "fallback"),), reason="unknown_location")
    if where.outside_regency:
        return Route(dispatch=True, assignments=((cc, "fallback"),), reason="outside_regency")
    if not mine:
        return Route(dispatch=True, assignments=((cc, "fallback"),), reason="no_rule")

    chosen: dict[int, str] = {}
    fell_back = False
    for rule in mine:
        if rule.target is Target.NONE:
            continue
        found = _resolve(rule, where, directory)
        for agency_id in found:
            chosen.setdefault(agency_id, "rule")
        if not found and rule.fallback_command_centre:
            fell_back = True
            chosen.setdefault(cc, "fallback")
    if not chosen:
        return Route(dispatch=True, assignments=((cc, "fallback"),), reason="no_agency")
    return Route(dispatch=True, assignments=tuple(chosen.items()), reason="rule_fallback" if fell_back else "rule")
