import pytest

from dispatch.routing import Directory, Jurisdiction, Rule, Target, route

CC, POLRES, POLSEK, DISHUB, DAMKAR, PSC = 1, 10, 11, 20, 30, 40

SEED = [
    Rule("panic", Target.COVERING_POLICE),
    Rule("crime", Target.COVERING_POLICE),
    Rule("accident", Target.COVERING_POLICE),
    Rule("accident", Target.COVERING_DISHUB),
    Rule("fire", Target.AGENCY_KIND, "damkar"),
    Rule("medical", Target.AGENCY_KIND, "psc119"),
    Rule("test", Target.NONE),
]
FULL = Directory(
    CC,
    {
        "polres": [POLRES],
        "polsek": [POLSEK],
        "dishub": [DISHUB],
        "damkar": [DAMKAR],
        "psc119": [PSC],
        "command_centre": [CC],
    },
)
BARE = Directory(CC, {"command_centre": [CC]})
HERE = Jurisdiction(police_agency_id=POLSEK, dishub_agency_id=DISHUB)
NO_POLSEK = Jurisdiction(police_agency_id=None, dishub_agency_id=None)


@pytest.mark.parametrize(
    ("alert_type", "where", "directory", "agencies", "dispatch", "reason"),
    [
        ("panic", HERE, FULL, [POLSEK], True, "rule"),
        ("crime", HERE, FULL, [POLSEK], True, "rule"),
        ("accident", HERE, FULL, [POLSEK, DISHUB], True, "rule"),
        ("fire", HERE, FULL, [DAMKAR], True, "rule"),
        ("fire", HERE, BARE, [CC], True, "rule_fallback"),
        ("medical", HERE, FULL, [PSC], True, "rule"),
        ("medical", HERE, BARE, [CC], True, "rule_fallback"),
        ("test", HERE, FULL, [], False, "no_dispatch"),
        ("test", Jurisdiction(located=False), FULL, [], False, "no_dispatch"),
        ("panic", Jurisdiction(outside_regency=True), FULL, [CC], True, "outside_regency"),
        ("fire", Jurisdiction(police_agency_id=POLSEK, outside_regency=True), FULL, [CC], True, "outside_regency"),
        ("panic", Jurisdiction(located=False), FULL, [CC], True, "unknown_location"),
        # no polsek covers the place: the polres; no dishub post known: any Dishub
        ("panic", NO_POLSEK, FULL, [POLRES], True, "rule"),
        ("accident", NO_POLSEK, FULL, [POLRES, DISHUB], True, "rule"),
        # no police at all in the directory: the command centre
        ("panic", NO_POLSEK, BARE, [CC], True, "rule_fallback"),
        ("accident", Jurisdiction(police_agency_id=POLSEK), BARE, [POLSEK, CC], True, "rule_fallback"),
        ("flood", HERE, FULL, [CC], True, "no_rule"),
    ],
)
def test_seed_rules(alert_type, where, directory, agencies, dispatch, reason) -> None:
    r = route(alert_type, where, SEED, directory)
    assert list(r.agency_ids) == agencies
    assert r.dispatch is dispatch
    assert r.reason == reason


def test_rules_are_data() -> None:
    # an admin sends panics to the command centre as well
    rules = [*SEED, Rule("panic", Target.COMMAND_CENTRE)]
    assert list(route("panic", HERE, rules, FULL).agency_ids) == [POLSEK, CC]
    # ... and switches off the command-centre fallback for fires
    rules = [Rule("fire", Target.AGENCY_KIND, "damkar", fallback_command_centre=False)]
    r = route("fire", HERE, rules, BARE)
    assert list(r.agency_ids) == [CC] and r.reason == "no_agency"


def test_fallback_is_labelled() -> None:
    r = route("accident", Jurisdiction(police_agency_id=POLSEK), SEED, BARE)
    assert r.assignments == ((POLSEK, "rule"), (CC, "fallback"))
