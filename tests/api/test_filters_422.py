"""Issue 12, defect 12: an invalid filter is a 422 that lists the allowed values, on every
route, never a silent "everything" (``/api/keygroups/persons?tier=purple`` returned the
whole list).

The routes are not listed by hand: every GET operation of the OpenAPI document is walked, and
each of its query parameters with a closed set of values (an enum), a bound (minimum,
maximum) or a date gets a value outside it; each operation also gets a parameter it does not
declare. A route added later is covered without touching this file.
"""

from __future__ import annotations

import re
from typing import Any

from ruralwatch.api.api import api
from tests.api.conftest import World, login
from tests.dashboard import data

#: A value for each path parameter, by name (the routes' own names).
PATH_VALUES = {
    "code": data.TOWN_A,
    "area": data.TOWN_A,
    "area_code": data.TOWN_A,
}

#: Parameters whose valid values are rows, not an enum: the 422 names the rows there are.
ROW_PARAMETERS = {
    "indicator": ("new_cases", "deaths"),
    "kind": ("signal", "missing_report"),  # task kinds (rows of dispatch's TaskKind)
}


def _schema() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix="/api/")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        target: Any = schema
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return _resolve(schema, target)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            got = _resolve(schema, option)
            if got.get("type") != "null":
                return {**node, **got}
    return node


def _get_operations() -> list[tuple[str, dict[str, Any]]]:
    schema = _schema()
    out = []
    for path, operations in schema["paths"].items():
        op = operations.get("get")
        if op is not None:
            out.append((path, op))
    return out


def _url(path: str, world: World) -> str | None:
    """``path`` with its parameters filled in, or ``None`` when one has no known value."""
    values = {**PATH_VALUES, "ref": str(world.person_a.ref)}
    names = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    if any(n not in values for n in names):
        return None
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


def _invalid_cases() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(path, parameter, invalid value, words the 422 must contain) for every GET route."""
    schema = _schema()
    cases = []
    for path, op in _get_operations():
        for param in op.get("parameters", []):
            if param.get("in") != "query":
                continue
            name = param["name"]
            node = _resolve(schema, param.get("schema", {}))
            if "enum" in node:
                allowed = tuple(str(v) for v in node["enum"])
                cases.append((path, name, "purple", allowed))
            elif name in ROW_PARAMETERS:
                cases.append((path, name, "nothing", ROW_PARAMETERS[name]))
            elif node.get("type") == "integer" and "maximum" in node:
                cases.append((path, name, str(int(node["maximum"]) + 1), (str(node["maximum"]),)))
            elif node.get("type") == "integer" and "minimum" in node:
                cases.append((path, name, str(int(node["minimum"]) - 1), (str(node["minimum"]),)))
            elif node.get("format") == "date":
                cases.append((path, name, "2023-02-30", ("2023-02-30",)))
    return cases


def _errors(response: Any) -> str:
    body = response.json()
    return str(body.get("detail", "")) + " " + " ".join(str(e) for e in body.get("errors", []))


def test_the_walk_finds_the_filters_of_the_issue() -> None:
    cases = {(p, n) for p, n, _v, _a in _invalid_cases()}
    assert ("/api/keygroups/persons", "tier") in cases
    assert ("/api/keygroups/persons", "due") in cases
    assert ("/api/signals", "method") in cases
    assert ("/api/tasks", "kind") in cases and ("/api/tasks", "status") in cases
    assert len({p for p, _n in cases}) >= 8  # most list routes have a filter


def test_every_invalid_filter_is_422_listing_the_allowed_values(world: World, county: Any) -> None:
    client = login(county)
    failures = []
    cases = [(*case, language) for case in _invalid_cases() for language in ("en", "zh-hans")]
    for path, name, value, allowed, language in cases:
        url = _url(path, world)
        if url is None:
            continue
        response = client.get(url, {name: value}, HTTP_ACCEPT_LANGUAGE=language)
        if response.status_code != 422:
            failures.append(f"{url}?{name}={value} ({language}): {response.status_code}")
            continue
        text = _errors(response)
        missing = [a for a in allowed if a not in text]
        if missing:
            failures.append(
                f"{url}?{name}={value} ({language}): 422 without {missing}: {text[:200]}"
            )
    assert not failures, "\n".join(failures)


def test_every_get_route_refuses_a_parameter_it_does_not_take(world: World, county: Any) -> None:
    client = login(county)
    failures = []
    for path, op in _get_operations():
        url = _url(path, world)
        if url is None:
            continue
        response = client.get(url, {"tier_colour": "purple"}, HTTP_ACCEPT_LANGUAGE="en")
        if response.status_code != 422 or "tier_colour" not in _errors(response):
            failures.append(f"{url}: {response.status_code}")
        # What it does take is named, so the caller can correct the request.
        takes = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
        if response.status_code == 422 and takes and takes[0] not in _errors(response):
            failures.append(f"{url}: 422 does not name {takes[0]}")
    assert not failures, "\n".join(failures)


def test_the_issues_example(world: World, county: Any) -> None:
    response = login(county).get("/api/keygroups/persons?tier=purple", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    text = _errors(response)
    assert all(t in text for t in ("red", "yellow", "green")), text
    body = response.json()
    assert body["errors"][0]["loc"][-1] == "tier"
