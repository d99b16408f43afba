"""schemathesis against ``/api/v1/openapi.json`` of the real web role (served over HTTP on a free
port, as ``siaga run --role web`` builds it), as each of the seven roles with a bearer token.

Every operation of the document is called with data that fits its schema and with data that does
not; each answer must be no server error, a status the document lists for that operation, of a
content type it lists, and (where it lists a schema) of that schema. The bar: 0 server errors,
0 undocumented status codes.

``make test`` runs a few examples per operation, mode and role; ``make fuzz`` runs the same test
long: the examples per operation are ``SIAGA_SCHEMATHESIS_EXAMPLES``, by default a thousandth of
``SIAGA_FUZZ_EXAMPLES`` (at least 3). Runs are derandomized and keep no example database."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.dispatch import factory
from tests.fuzz.support import EXAMPLES
from tests.security.conftest import USER_OF_ROLE, Site

pytestmark = pytest.mark.fuzz

PER_OPERATION = int(os.environ.get("SIAGA_SCHEMATHESIS_EXAMPLES", str(max(3, EXAMPLES // 1000))))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# the operations that end the session they are called with: each call gets a fresh one, so the
# examples after it still run signed in
ENDS_SESSION = frozenset({"post_logout"})


@dataclass
class Run:
    """What the run saw, for the assertion and the figures printed after it."""

    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    operations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, role: str, operation: str, what: str, text: str) -> None:
        with self.lock:
            self.failures.setdefault((role, operation, what), text[:3000])


def _exercise(url: str, role: str, token_of: Callable[[], str], known: dict[str, str], run: Run) -> None:
    """Every operation, in both generation modes, as ``role`` (runs in a worker thread: requests
    and hypothesis block, while the server answers on the test's event loop). An operation with
    path parameters also runs with the ``known`` ones (a real incident, a real agency), so the
    examples reach past "not found" into the handler."""
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json", timeout=30)
    token = [token_of()]
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            op_id = operation.definition.raw.get("operationId", operation.label)
            run.operations.add(op_id)
            names = {p.name for p in operation.path_parameters}
            fixed = {k: v for k, v in known.items() if k in names}
            runs = [(schemathesis.GenerationMode.POSITIVE, {}), (schemathesis.GenerationMode.NEGATIVE, {})]
            if fixed:
                runs.append((schemathesis.GenerationMode.POSITIVE, fixed))
            for mode, path_parameters in runs:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
                examples = _examples(strategy, mode, op_id, url, role, token, token_of, http, run)
                try:
                    examples()
                except Unsatisfiable:
                    pass  # nothing in the operation can be made invalid (no parameters, no body)


def _examples(
    strategy: SearchStrategy[schemathesis.Case],
    mode: schemathesis.GenerationMode,
    op_id: str,
    url: str,
    role: str,
    token: list[str],
    token_of: Callable[[], str],
    http: requests.Session,
    run: Run,
) -> Callable[[], None]:
    @hsettings(
        max_examples=PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: schemathesis.Case) -> None:
        if op_id in ENDS_SESSION:
            token[0] = token_of()
        headers = {"Authorization": f"Bearer {token[0]}"}
        try:
            response = case.call(base_url=url, session=http, headers=headers, timeout=30)
        except requests.RequestException as e:
            run.fail(role, op_id, f"{mode.value}: transport", repr(e))
            return
        with run.lock:
            run.calls += 1
            run.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as e:
            run.fail(role, op_id, f"{mode.value}: {response.status_code}", str(e))
        if op_id in ENDS_SESSION:
            token[0] = token_of()

    return call


def _document_paths(site: Site) -> dict[str, Any]:
    from dispatch.api import openapi_document

    return openapi_document(site.app)["paths"]


@pytest.mark.parametrize("role", sorted(USER_OF_ROLE))
async def test_schemathesis_finds_no_server_error_and_no_undocumented_status(site: Site, role: str) -> None:
    loop = asyncio.get_running_loop()

    def token_of() -> str:
        # minted on the server's loop, from the worker thread
        return asyncio.run_coroutine_threadsafe(site.mint(role), loop).result(timeout=30)[0]

    async with site.pool.acquire() as conn:
        made = await factory.incident(conn, police_agency_id=site.world.polsek_wonosobo)
    known = {"incident_id": str(made.incident_id), "agency": "t-polsek-wsb"}
    run = Run()
    await asyncio.to_thread(_exercise, site.url, role, token_of, known, run)
    print(
        f"\nschemathesis as {role}: {run.calls} calls over {len(run.operations)} operations "
        f"({PER_OPERATION} examples per operation and mode), statuses {dict(sorted(run.statuses.items()))}"
    )
    # schemathesis leaves out the document's own route (GET /api/v1/openapi.json, which
    # tests/security/test_openapi.py covers): every other operation ran
    assert run.calls >= len(run.operations) == sum(len(item) for item in _document_paths(site).values()) - 1
    assert not run.failures, "\n\n".join(f"{r} {op} [{what}]\n{text}" for (r, op, what), text in run.failures.items())
    # the documented refusals of the signed-in routes were really reached, not only 2xx
    assert any(400 <= s < 500 for s in run.statuses)
