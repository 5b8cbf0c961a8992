"""Schemathesis over every operation of the OpenAPI document, as admin and as viewer: no 5xx,
no response that breaks the document (status code, content type, body schema).

The coordinator runs in process (its ASGI app, through schemathesis's ASGI transport) with
simulated nodes; see ``_fleet.py``. Each operation starts from fresh credentials, since the
fuzzer may revoke tokens or demote the fuzzing users.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from docklord.web import create_app
from tests.fuzz._fleet import FuzzFleet
from tests.fuzz.conftest import HTTP_EXAMPLES, fuzz_phases, fuzz_settings

#: The document as the app builds it; the fixture checks that the running app serves the same.
DOCUMENT: dict[str, Any] = create_app(object()).openapi()  # type: ignore[arg-type]
schema = schemathesis.openapi.from_dict(DOCUMENT)
# The coverage phase sends a few hundred boundary cases per operation: a long run only.
schema.config.phases.update(phases=fuzz_phases())

#: Cases sent, by operation (reported by the session summary, see conftest).
CASES: Counter[str] = Counter()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(fuzz_fleet: FuzzFleet) -> FuzzFleet:
    """The fleet, started by loading its document through schemathesis's ASGI transport."""
    assert from_asgi("/openapi.json", fuzz_fleet).raw_schema == DOCUMENT
    return fuzz_fleet


@pytest.fixture
def tokens(served: FuzzFleet) -> dict[str, str]:
    return served.call(served.reset_credentials)


@schema.parametrize()
@fuzz_settings(HTTP_EXAMPLES)
def test_every_operation_as_admin(
    case: schemathesis.Case, served: FuzzFleet, tokens: dict[str, str]
) -> None:
    call(case, served, tokens["admin"])


@schema.parametrize()
@fuzz_settings(HTTP_EXAMPLES)
def test_every_operation_as_viewer(
    case: schemathesis.Case, served: FuzzFleet, tokens: dict[str, str]
) -> None:
    call(case, served, tokens["viewer"])


def call(case: schemathesis.Case, fleet: FuzzFleet, token: str) -> None:
    CASES[f"{case.method} {case.path}"] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, app=fleet)
