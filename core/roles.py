"""Who acts in SIAGA: the roles of user accounts and the two actors that are not users.

Pure (no web, database or hashing imports), so state machines and access tables can name roles
without pulling in the sign-in machinery of :mod:`core.auth`.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    COMMAND_CENTRE = "command_centre"
    COMPLAINT_STAFF = "complaint_staff"
    OPD_OFFICER = "opd_officer"
    LEADER = "leader"
    ADMIN = "admin"
    # Not user accounts: they act on complaints only and can never sign in.
    CITIZEN = "citizen"  # the reporter, proven by the complaint's secret (complaints/citizen.py)
    SYSTEM = "system"  # the SLA sweep


# The roles a user account may hold (the CHECK on app_user.role lists the same seven).
USER_ROLES = frozenset(Role) - {Role.CITIZEN, Role.SYSTEM}
