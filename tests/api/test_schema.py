"""Schemathesis against the OpenAPI schema: generated GET requests never get a 5xx.

Bounded: a few examples per operation, with a bearer token of the county user (so requests
reach the endpoints' code, in and out of scope).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ruralwatch.api.services import create_token
from tests.api.conftest import World

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application()).include(
    method="GET"
)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(world: World, county: Any) -> Iterator[str]:
    # Requests run in the test's transaction: keep Django from closing the connection
    # at the end of each request (as its own test client does).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield create_token(county, "schemathesis")[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.schemathesis
@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_get_endpoints_never_fail(case: Any, token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.path, case.query, response.text[:500])
    # Documented status codes, JSON bodies that match the declared schemas. (Not "every
    # schema-valid request is accepted": a date range may be too long, an area unknown.)
    case.validate_response(response, checks=CHECKS)
