"""schemathesis against a served app's own /openapi.json, with a real key: every operation, no 5xx,
every answer (problems included) matching its declared schema and status code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .served import Served, start_serve

pytestmark = pytest.mark.slow

# What the API promises of every answer. Not schemathesis's positive_data_acceptance: a time or a
# cursor is free text in the spec, and random text is rightly refused with a 422 (also checked here).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def spec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_serve(tmp_path_factory.mktemp("schemathesis") / "dispatcher.db")
    yield served
    served.stop()


def test_every_operation_answers_as_its_spec_says(spec_server: Served) -> None:
    """Each operation in turn, with a few generated requests each (the whole run stays under a minute)."""
    schema = schemathesis.openapi.from_url(f"{spec_server.url}/openapi.json")
    auth = {"Authorization": f"Bearer {spec_server.key}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        check()
        checked.append(operation.label)
    assert "POST /api/v1/events" in checked and "GET /api/v1/webhooks/deliveries/" in checked
