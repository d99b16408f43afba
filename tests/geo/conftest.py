"""The area indexes are immutable and take a fraction of a second to build: one per session."""

from __future__ import annotations

import pytest

from core.areas import AreaIndex


@pytest.fixture(scope="session")
def desa_index() -> AreaIndex:
    return AreaIndex.load("desa")


@pytest.fixture(scope="session")
def kecamatan_index() -> AreaIndex:
    return AreaIndex.load("kecamatan")
