"""Fuzzing the live server from its own OpenAPI document (issue 11, part 10):
schemathesis generates requests for every operation, valid and invalid ones, as an
agent, a lead and an admin; every answer must be no server error (5xx) and must match
the schema the document declares for its status code (refusals included: ``4XX`` is
``ErrorOut``, see ``server/openapi_doc.py``). Bounded: ``BANGBAN_FUZZ_EXAMPLES``
examples per operation and role (default 40, about a minute here), no shrinking, so
the run stays well under three minutes on a small machine. Failures of all operations
are collected and reported together."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import DEMO_PASSWORD, LiveServer, start_live_server

MAX_EXAMPLES = int(os.environ.get("BANGBAN_FUZZ_EXAMPLES", "40"))
ROLES = ("agent", "lead", "admin")
ROLE_FREE = {"GET /api/v1/health", "POST /api/v1/auth/login"}
"""Operations whose answer does not depend on who asks: fuzzed once, without a token."""
SKIPPED = ("logout", "password")
"""Signing out or changing a password would end the very tokens the run uses."""
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server(
    seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    target = tmp_path_factory.mktemp("fuzz") / "server.sqlite3"
    shutil.copy(seeded_template, target)
    server = start_live_server(f"sqlite:///{target}", auto_assign=False)
    try:
        yield server
    finally:
        server.stop()


def _token(server: LiveServer, username: str) -> str:
    answer = requests.post(
        f"{server.url}/api/v1/auth/login",
        json={"username": username, "password": DEMO_PASSWORD},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _strategy(operation: Any) -> Any:
    """Valid requests and, where the operation takes input, invalid ones (which must be
    refused in the documented shape, never crash the server)."""
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        negative = operation.as_strategy(GenerationMode.NEGATIVE)
    except Exception:  # nothing to get wrong (no parameters, no body)
        return positive
    return st.one_of(positive, negative)


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> None:
    @given(case=_strategy(operation))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if operation.path.endswith("/events"):
            query = dict(case.query or {})
            query["wait"] = 0  # a long poll would hold each example for up to a minute
            case.query = query
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


def _describe(exc: BaseException) -> str:
    """The failure as schemathesis words it (what broke, the answer, a curl to repeat)."""
    return str(exc)[:3000]


def test_no_server_errors_and_every_answer_matches_the_document(fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    tokens = {role: _token(fuzz_server, role) for role in ROLES}
    failures: list[str] = []
    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if any(word in operation.path for word in SKIPPED):
            continue
        who: list[str | None] = [None] if label in ROLE_FREE else list(ROLES)
        for role in who:
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            try:
                _fuzz(operation, fuzz_server.url, headers)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures
                failures.append(f"{label} as {role or 'anyone'}: {_describe(exc)}")
    elapsed = time.monotonic() - started
    print(f"fuzzed {len(operations)} operations in {elapsed:.0f} s")
    assert not failures, "\n\n".join(failures)
