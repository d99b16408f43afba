from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser import browser, page  # noqa: F401  (fixtures for the end-to-end console test)
from tests.gateway.harness import Stack, make_stack


@pytest.fixture
async def stack(db_dsn: str, tmp_path: Path, topic_root: str) -> AsyncIterator[Stack]:
    async with make_stack(db_dsn, tmp_path, topic_root) as s:
        yield s
