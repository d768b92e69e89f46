"""Schemathesis against the OpenAPI schema: every operation (GET and POST), every phase
(schema examples, the coverage phase's boundary and negative cases, random fuzzing), as a
county user and as a village doctor. No answer is a 5xx; every answer has a documented status,
content type and a body that matches its schema; schema-invalid requests are refused and
schema-valid ones are not refused for their shape.

Bounded here (a few hundred cases, without the coverage phase); ``make fuzz`` runs the same
test with the coverage phase and ``RURALWATCH_FUZZ_EXAMPLES`` raised (over 5,000 cases) and
writes a tally of the answers to ``var/fuzz.json``. On PostgreSQL too (``make fuzz
DATABASE_URL=postgres://…``): each scenario of the stateful phase is undone when it ends,
sequences included, so that Hypothesis's replays meet the same rows and ids.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
)

from ruralwatch.api.common import OWN_MESSAGE_TYPES
from ruralwatch.api.models import ApiToken
from ruralwatch.api.services import authenticate_token, create_token
from ruralwatch.areas.models import Area
from ruralwatch.briefings.models import Briefing
from ruralwatch.dispatch.models import Task
from ruralwatch.dispatch.services import sync_tasks
from ruralwatch.keygroups import services
from ruralwatch.keygroups.models import Campaign, Person, Referral, Responsible
from tests.api import conftest as _fixtures
from tests.api.conftest import World
from tests.dashboard import data
from tests.fixtures.shared_db import built_once


def _world_campaign_and_tasks(folder: Path) -> World:
    """The API tests' world, a campaign over the county and the tasks the cycle makes from the
    world's signals and missing reports (a campaign and tasks for the operations that take
    their ids)."""
    world = _fixtures.build_world(folder)
    services.create_campaign(
        name="重新摸排",
        area=Area.objects.get(code=data.COUNTY),
        start=world.today,
        deadline=world.today,
        groups=["age65"],
    )
    sync_tasks(data.DAY7, now=data.NOW)
    return world


#: Every database test here uses the world: built once for the module (tests.fixtures.shared_db),
#: with the campaign and the tasks (this replaces conftest's ``_module_world`` behind
#: ``shared_world``); each test runs in its own savepoint.
_module_world = built_once(_world_campaign_and_tasks)
world = _fixtures.shared_world

#: Random (fuzzing-phase) examples per operation and user, positive and negative; the
#: examples phase adds the schema's examples.
EXAMPLES = int(os.environ.get("RURALWATCH_FUZZ_EXAMPLES", "6"))
#: The coverage phase (boundary values and every kind of invalid value of every parameter,
#: about 1,200 cases per user) runs under ``make fuzz``.
COVERAGE = os.environ.get("RURALWATCH_FUZZ_COVERAGE", "") == "1"
#: Where ``make fuzz`` wants the tally (unset: no file).
REPORT = os.environ.get("RURALWATCH_FUZZ_REPORT", "")
#: The fewest cases the run must have sent (``make fuzz``: 5,000).
MIN_CASES = int(os.environ.get("RURALWATCH_FUZZ_MIN_CASES", "0"))

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
schema.config.phases.coverage.enabled = COVERAGE
# DHIS2's CSV import (POST /api/dataValueSets, application/csv) takes its body as text, as
# text/plain is sent; without a serializer schemathesis skipped every case of that media type.
schemathesis.serializer.alias("application/csv", "text/plain")
#: Media types sent as text (above): every generated body is a string once sent.
TEXT_BODIES = frozenset({"application/csv"})

TALLY: Counter[str] = Counter()


def _known(rows: Any, field: str) -> list[Any]:
    """The existing values of ``field``, in a fixed order (PostgreSQL returns rows in the order
    of the table's heap, which moves as rows are written and rolled back)."""
    return list(rows.order_by(field).values_list(field, flat=True))


#: Names of path, query and body values that name an object, and where the existing ones are.
#: Random strings almost never name an existing area or person, so half of the schema-valid
#: cases get an existing one instead (in or out of the user's jurisdiction): the handlers'
#: code then runs for real (date windows near the limits, paging, campaign writes …).
KNOWN: dict[str, Any] = {
    "code": lambda: _known(Area.objects, "code"),
    "area": lambda: _known(Area.objects, "code"),
    "village": lambda: _known(Area.objects.filter(level=5), "code"),
    "ref": lambda: _known(Person.objects, "ref"),
    "referral_id": lambda: _known(Referral.objects, "pk"),
    "campaign_id": lambda: _known(Campaign.objects, "pk"),
    "token_id": lambda: _known(ApiToken.objects, "pk"),
    "briefing_id": lambda: _known(Briefing.objects, "pk"),
    "task_id": lambda: _known(Task.objects, "pk"),
    "doctor": lambda: _known(Responsible.objects, "code"),
    "indicator": lambda: ["new_cases", "severe", "deaths"],
    "groups": lambda: [["age65"], ["left_behind_child"], ["age65", "living_alone"]],
}


def _with_known(values: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any] | None]:
    """``values`` with, for each name in ``KNOWN``, either the generated or an existing value."""
    if not values:
        return st.just(values)
    names = [n for n in values if n in KNOWN]
    if not names:
        return st.just(values)
    choices = {n: st.sampled_from(KNOWN[n]() or [values[n]]) for n in names}
    swapped = st.fixed_dictionaries(
        {n: st.one_of(st.just(values[n]), c) for n, c in choices.items()}
    )
    return swapped.map(lambda new: {**values, **new})


@schema.hook
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)  # a negative case keeps the value that makes it invalid

    def build(parts: tuple[Any, Any, Any]) -> Any:
        case.path_parameters, case.query, body = parts
        if isinstance(case.body, dict):
            case.body = body
        return case

    body = case.body if isinstance(case.body, dict) else None
    return st.tuples(
        _with_known(case.path_parameters), _with_known(case.query), _with_known(body)
    ).map(build)


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[Counter[str]]:
    TALLY.clear()
    yield TALLY
    if REPORT:
        path = Path(REPORT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(TALLY.items())), indent=2) + "\n")
    assert TALLY["cases"] >= MIN_CASES, f"only {TALLY['cases']} cases (want {MIN_CASES})"


@pytest.fixture(params=["county", "doctor"])
def token(request: pytest.FixtureRequest, world: World) -> Iterator[str]:
    # Thousands of requests a minute from one token: the intake rate limit (its own tests in
    # tests/intake) would answer 429 to schema-valid requests.
    request.getfixturevalue("settings").RURALWATCH_INTAKE_RATE_PER_MINUTE = 1_000_000
    user = request.getfixturevalue(request.param)
    # Requests run in the test's transaction: keep Django from closing the connection
    # at the end of each request (as its own test client does).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield create_token(user, "schemathesis")[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _refused_for_its_shape(response: Any) -> bool:
    """A 422 of request validation: an error with a field path (``loc``) of a type that checks
    what the schema states (pydantic's own types; ours for dates and phones, which the schema
    states as patterns). Not a refusal of the content: an import's ``problems``, a registry
    rule's message such as a wrong check digit, or a rule the schema cannot state given with
    its field path as a ``value_error`` (``POST /api/stock``: a facility outside the
    jurisdiction, an item that does not exist, a date before 2000)."""
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    return any(
        isinstance(e, dict) and "loc" in e and e.get("type") not in OWN_MESSAGE_TYPES
        for e in errors
    )


def schema_invalid_request_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's "negative data rejected", less one case it cannot tell: a body of a
    media type sent as text (``TEXT_BODIES``) generated as an object or a number is a string
    on the wire, as its schema asks, when the body is the only invalid part (the check itself
    makes this exception for text/plain only)."""
    meta = case.meta
    if meta is not None and case.media_type in TEXT_BODIES:
        negated = {where for where in ParameterLocation if meta.is_negative_at(where)}
        if negated == {ParameterLocation.BODY}:
            return None
    return negative_data_rejection(ctx, response, case)


#: Cases generated with an invalid part that the harness replaced before sending (the
#: Authorization header): schemathesis may then count them valid, but their other parts were
#: generated along an invalid case's path and are not held to "valid data accepted".
GENERATED_INVALID: set[int] = set()


def schema_valid_request_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """What the schema calls valid is never refused for its shape (by the same rules the
    schema states); it may still be refused for its content (a 422 naming the rule), or be
    missing or out of the user's jurisdiction (404)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or id(case) in GENERATED_INVALID:
        return None
    allowed = response.status_code < 300 or response.status_code in (401, 403, 404, 413)
    if not allowed and (response.status_code != 422 or _refused_for_its_shape(response)):
        raise AssertionError(
            f"schema-valid request refused: {response.status_code} {response.text[:500]}"
        )
    return None


@pytest.mark.schemathesis
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_schema(case: Any, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    # The token goes into the case itself, replacing a generated Authorization header: the
    # negative-data check then judges the header that was sent (a case whose only invalid
    # parts are an Authorization header replaced here and a query value that is a valid
    # string once sent, e.g. ``?facility=false``, was taken for accepted invalid data).
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        GENERATED_INVALID.add(id(case))
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.headers.update(headers)
    try:
        _call_and_check(case, headers)
    finally:
        GENERATED_INVALID.discard(id(case))


def _call_and_check(case: Any, headers: dict[str, str]) -> None:
    response = case.call()
    TALLY["cases"] += 1
    TALLY[f"status {response.status_code}"] += 1
    assert response.status_code < 500, (case.method, case.path, case.query, response.text[:500])
    # Every check schemathesis has (status codes, content types, response schemas, headers,
    # positive data accepted, negative data refused, authentication not ignored …).
    # The built-in "positive data accepted" check counts every 422 as a refusal of the shape;
    # ours tells a request-validation 422 from a refusal of the content. "Negative data
    # rejected" is the built-in one but for bodies sent as text (schema_invalid_request_refused).
    case.validate_response(
        response,
        headers=headers,
        additional_checks=[
            not_a_server_error,
            schema_valid_request_accepted,
            schema_invalid_request_refused,
        ],
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )


def _sequences() -> dict[str, tuple[int, bool]]:
    """PostgreSQL's sequences (name → last value, whether it was handed out): writes rolled
    back keep the ids they took. SQLite's AUTOINCREMENT counters live in a table that rolls
    back with the rest."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, sequencename),"
            " coalesce(last_value, start_value), last_value IS NOT NULL FROM pg_sequences"
        )
        return {name: (value, called) for name, value, called in cursor.fetchall()}


@contextmanager
def _undone() -> Iterator[None]:
    """Everything written inside is undone at the end, sequences included: a scenario of the
    stateful phase starts from the world as the fixtures left it and its objects get the same
    ids at every replay. (Hypothesis replays a scenario while it searches and shrinks; a pool of
    known ids or a bundle of responses that changed between replays stopped it on
    PostgreSQL with FlakyStrategyDefinition.)"""
    before = _sequences()
    savepoint = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(savepoint)
        after = _sequences()
        with connection.cursor() as cursor:
            for name, state in before.items():
                if after.get(name) != state:
                    cursor.execute("SELECT setval(%s::regclass, %s, %s)", [name, *state])


#: Scenarios of the stateful phase (chains of calls along the links schemathesis infers from
#: the OpenAPI, e.g. an area's detail → its series, a token's creation → its revocation).
SCENARIOS = int(os.environ.get("RURALWATCH_FUZZ_SCENARIOS", "3"))


@pytest.mark.schemathesis
def test_chains_of_calls_keep_the_schema(token: str) -> None:
    # A session, not the token: a chain may list the user's tokens and revoke them all.
    client = Client()
    client.force_login(authenticate_token(token))
    csrf = "c" * 32
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    headers = {"X-CSRFToken": csrf}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self._undone = _undone()
            self._undone.__enter__()

        def teardown(self) -> None:
            self._undone.__exit__(None, None, None)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"X-CSRFToken": csrf}, "cookies": cookies}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            TALLY["cases"] += 1
            TALLY[f"status {response.status_code}"] += 1
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            case.validate_response(
                response,
                headers=headers,
                additional_checks=[
                    not_a_server_error,
                    schema_valid_request_accepted,
                    schema_invalid_request_refused,
                ],
                # Authentication is enforced (checked in the test above, with the token);
                # here the session cookie is ours, not one the schema's probes can remove.
                excluded_checks=[positive_data_acceptance, negative_data_rejection, ignored_auth],
            )

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_a_scenario_leaves_nothing_and_the_same_ids(county: Any) -> None:
    """What the stateful phase relies on: after a scenario the rows and the ids are as before."""

    def new_token() -> int:
        return int(create_token(county, "scenario")[0].pk)

    tokens = ApiToken.objects.count()
    with _undone():
        first = new_token()
        new_token()
    assert ApiToken.objects.count() == tokens
    with _undone():
        assert new_token() == first
    assert new_token() == first  # and outside a scenario, as if none had run


@pytest.mark.parametrize("path", ["/api/dataValueSets", "/api/dataValueSets.json"])
@pytest.mark.parametrize("name", ["dataSet", "dataElement", "period", "orgUnit"])
def test_a_nul_byte_in_a_dhis2_filter_is_refused(county: Any, path: str, name: str) -> None:
    """A finding of the fuzz on PostgreSQL (which refuses NUL in a query): it was a 500."""
    client = Client()
    client.force_login(county)
    response = client.get(path, {"period": "20230105", name: "\x00"})
    assert response.status_code == 422, response.content[:300]
    assert response.json()["errors"][0]["loc"][-2:] in (["query", name], [name, 0])
