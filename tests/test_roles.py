"""The one Role: which of its members a user account may hold. No database needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import auth
from core.roles import USER_ROLES, Role

MIGRATION = Path(__file__).parents[1] / "core" / "migrations" / "0003_dispatch.sql"


def test_user_roles_match_the_table_check() -> None:
    check = re.search(r"role\s+text NOT NULL CHECK \(role IN\s*\(([^)]*)\)\)", MIGRATION.read_text())
    assert check is not None
    assert set(re.findall(r"'([a-z_]+)'", check.group(1))) == USER_ROLES


@pytest.mark.parametrize(("role", "user"), [(r, r not in (Role.CITIZEN, Role.SYSTEM)) for r in Role])
def test_who_is_a_user(role: Role, user: bool) -> None:
    assert (role in USER_ROLES) is user


@pytest.mark.parametrize("role", ["citizen", "system", "nobody"])
async def test_no_account_for_a_non_user_role(role: str) -> None:
    # refused before the database is asked, so no connection is needed
    with pytest.raises(auth.AuthError) as e:
        await auth.create_user(None, "abc", "password1", role)  # type: ignore[arg-type]
    assert e.value.code == "bad_role"
    assert str(e.value).endswith(f"pilih salah satu: {', '.join(sorted(USER_ROLES))}.")
