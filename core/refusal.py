"""What kind of "no" a domain refusal is, with no transport in it.

Domain errors (a dispatch, roster or Open311 refusal) carry a ``kind`` from here and a
message for people; each web boundary keeps its own table from kind to HTTP status, so the
rules stay usable from the CLI and from tests without a web framework in mind.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    UNREADABLE = "unreadable"  # the input cannot be read at all (e.g. a NUL in a field)
    INVALID = "invalid"  # read, but breaks a rule
    FORBIDDEN = "forbidden"  # the caller may not do this
    NOT_FOUND = "not_found"  # no such thing, or not one the caller may see
    CONFLICT = "conflict"  # clashes with the current state
