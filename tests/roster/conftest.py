"""Fixtures for the roster tests: dispatch's seeded world, web app and API clients, plus helpers
to run dispatch loops (shared with tests/dispatch)."""

from __future__ import annotations

from tests.browser import browser, page  # noqa: F401  (fixtures for test_browser)
from tests.dispatch.conftest import client, dispatcher, server, settings, world  # noqa: F401  (fixtures)


