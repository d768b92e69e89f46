"""Validation rules: every operator and every missing-value strategy on a corpus of good and
bad values (expected violations written out by hand), expression errors, the nightly run,
the form's check and the violations list of the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from ruralwatch.areas.models import Area
from ruralwatch.intake import nightly, services
from ruralwatch.intake import rules as engine
from ruralwatch.intake.models import Violation
from tests.intake import h4world
from tests.intake.h4world import post, value

KNOWN = ["a", "b", "c", "d", "deaths"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """The reasons are asserted in English (the catalogs translate them; the HTTP answers
    below follow the request's language, zh-Hans by default)."""
    with translation.override("en"):
        yield


DAY = dt.date(2023, 1, 5)


def _frame(rows: dict[str, dict[str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"area_code": k, "date": DAY, **{c: v.get(c) for c in "abcd"}} for k, v in rows.items()],
        schema={"area_code": pl.String, "date": pl.Date, **{c: pl.Float64 for c in "abcd"}},
    )


PAIRS = _frame(
    {
        "r1": {"a": 3, "b": 5},
        "r2": {"a": 5, "b": 5},
        "r3": {"a": 7, "b": 5},
        "r4": {"b": 5},
        "r5": {"a": 3},
        "r6": {},
        "r7": {"a": 0, "b": 0},
    }
)


def _hits(rule: engine.Rule, frame: pl.DataFrame) -> set[str]:
    return set(engine.evaluate([rule], frame)["area_code"].to_list())


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("less_than_or_equal_to", {"r3"}),
        ("less_than", {"r2", "r3", "r7"}),
        ("greater_than", {"r1", "r2", "r7"}),
        ("greater_than_or_equal_to", {"r1"}),
        ("equal_to", {"r1", "r3"}),
        ("not_equal_to", {"r2", "r7"}),
        ("compulsory_pair", {"r4", "r5"}),
        ("exclusive_pair", {"r1", "r2", "r3", "r7"}),
    ],
)
def test_every_operator(operator: str, expected: set[str]) -> None:
    assert _hits(engine.make_rule("x", "a", operator, "b", KNOWN), PAIRS) == expected


def test_never_skip_counts_missing_as_zero() -> None:
    rule = engine.make_rule(
        "x", "a", "less_than_or_equal_to", "b", KNOWN,
        left_missing="NEVER_SKIP", right_missing="NEVER_SKIP",
    )  # fmt: skip
    assert _hits(rule, PAIRS) == {"r3", "r5"}  # r5: 3 <= 0; r4: 0 <= 5 and r6: 0 <= 0 hold


STRATEGIES = _frame(
    {
        "one_missing": {"a": 2, "b": 1},  # left a + c with c missing: 2 <= -1 fails
        "all_missing": {"b": 1},  # left missing entirely: 0 <= -1 fails only if never skipped
        "good": {"a": 1, "c": 1, "b": 5},  # 2 <= 3
        "bad": {"a": 4, "c": 1, "b": 5},  # 5 <= 3 fails whatever the strategy
    }
)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("SKIP_IF_ANY_VALUE_MISSING", {"bad"}),
        ("SKIP_IF_ALL_VALUES_MISSING", {"bad", "one_missing"}),
        ("NEVER_SKIP", {"bad", "one_missing", "all_missing"}),
    ],
)
def test_every_strategy_on_the_left(strategy: str, expected: set[str]) -> None:
    rule = engine.make_rule(
        "x", "a + c", "less_than_or_equal_to", "b - 2", KNOWN, left_missing=strategy
    )
    assert _hits(rule, STRATEGIES) == expected


RIGHT = _frame(
    {
        "one_missing": {"a": 9, "b": 1},  # 9 <= 1 + d, d missing
        "all_missing": {"a": 9},  # 9 <= (b + d), both missing
        "good": {"a": 2, "b": 1, "d": 1},
        "bad": {"a": 9, "b": 1, "d": 1},
    }
)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("SKIP_IF_ANY_VALUE_MISSING", {"bad"}),
        ("SKIP_IF_ALL_VALUES_MISSING", {"bad", "one_missing"}),
        ("NEVER_SKIP", {"bad", "one_missing", "all_missing"}),
    ],
)
def test_every_strategy_on_the_right(strategy: str, expected: set[str]) -> None:
    rule = engine.make_rule(
        "x", "a", "less_than_or_equal_to", "b + d", KNOWN, right_missing=strategy
    )
    assert _hits(rule, RIGHT) == expected


def test_constants_division_and_values() -> None:
    frame = _frame({"zero": {"a": 5, "b": 0}, "half": {"a": 5, "b": 2}, "ok": {"a": 1, "b": 4}})
    rule = engine.make_rule("x", "a / b", "less_than_or_equal_to", "(1 + 1) * 0.5", KNOWN)
    found = engine.evaluate([rule], frame)
    assert found["area_code"].to_list() == ["half"]  # zero: divides by zero, skipped
    assert found.row(0, named=True)["left"] == 2.5 and found.row(0, named=True)["right"] == 1.0
    # A side of numbers only is never "all missing".
    const = engine.make_rule("y", "a", "less_than_or_equal_to", "-1", KNOWN)
    assert _hits(const, frame) == {"zero", "half", "ok"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("nope + a", "nope"),
        ("__import__('os')", "+ - * /"),
        ("a ** 2", "+ - * /"),
        ("a if b else c", "+ - * /"),
        ("'text'", "numbers"),
        ("True", "numbers"),
        ("a +", "not an expression"),
        ("a" + " + a" * 200, "300"),
    ],
)
def test_expression_errors_name_the_reason(text: str, reason: str) -> None:
    with pytest.raises(engine.ExpressionError, match="left") as info:
        engine.make_rule("x", text, "less_than", "b", KNOWN)
    assert reason in str(info.value)
    with pytest.raises(engine.ExpressionError, match="operator"):
        engine.make_rule("x", "a", "about", "b", KNOWN)
    with pytest.raises(engine.ExpressionError, match="strategy"):
        engine.make_rule("x", "a", "less_than", "b", KNOWN, right_missing="SOMETIMES")


# --- with the database ---------------------------------------------------------------------


@pytest.fixture
def world(db: None) -> h4world.World:
    return h4world.build()


def test_save_rule_refuses_a_bad_side(world: h4world.World) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="right: unknown indicator tests"):
        services.save_rule(code="pos_le_tests", name_zh="阳", name_en="p", left="antigen_pos",
                           operator="less_than_or_equal_to", right="tests")  # fmt: skip
    rule = services.save_rule(
        code="severe_le_cases", name_zh="重症", name_en="severe", left="severe_cases",
        operator="less_than_or_equal_to", right="new_cases", severity="warn",
    )  # fmt: skip
    assert rule.pk == "severe_le_cases"


def _history(world: h4world.World) -> list[dict[str, Any]]:
    a1, a2, b1 = world.villages_a[0], world.villages_a[1], world.villages_b[0]
    return [
        value(a1, "new_cases", 9), value(a1, "antigen_pos", 2), value(a1, "pcr_pos", 1),
        value(a2, "new_cases", 1), value(a2, "antigen_pos", 2),
        value(b1, "deaths", 11),  # population 2000: more than 0.5 % in a day
        value(b1, "new_cases", 3, day=DAY - dt.timedelta(days=1)),
    ]  # fmt: skip


def test_nightly_run_lists_violations_per_area(world: h4world.World) -> None:
    status, body = post(world.county, _history(world))
    assert status == 200
    assert {(v["rule"], v["area"]) for v in body["violations"]} == {
        ("cases_le_positives", world.villages_a[0]),
        ("deaths_le_population_share", world.villages_b[0]),
    }
    Violation.objects.all().delete()
    run = nightly.run_rules(DAY - dt.timedelta(days=3), DAY)
    assert (run.rules, run.violations) == (2, 2)
    again = nightly.run_rules(DAY - dt.timedelta(days=3), DAY)
    assert again.violations == 2 and Violation.objects.count() == 2
    # A run over one township replaces that township's violations only.
    town_a = Area.objects.get(code=h4world.TOWN_A)
    Violation.objects.filter(area_id=world.villages_a[0]).delete()
    assert nightly.run_rules(DAY, DAY, path=town_a.path).violations == 1
    assert Violation.objects.count() == 2
    r = world.county.get("/api/intake/violations", {"start": "2023-01-01", "end": "2023-01-05"})
    assert r.status_code == 200, r.json()
    areas = {a["area"]: a for a in r.json()["areas"]}
    assert areas[world.villages_b[0]]["rules"] == {"deaths_le_population_share": 1}
    r = world.town_a.get("/api/intake/violations", {"start": "2023-01-01", "end": "2023-01-05"})
    assert {a["area"] for a in r.json()["areas"]} == {world.villages_a[0]}  # scoped
    # A village without a population skips the population rule (SKIP_IF_ANY on the right).
    Area.objects.filter(code=world.villages_b[0]).update(population=None)
    assert nightly.run_rules(DAY, DAY).violations == 1


def test_form_check_over_stored_values(world: h4world.World) -> None:
    a1 = world.villages_a[0]
    post(world.county, [value(a1, "antigen_pos", 2), value(a1, "pcr_pos", 0)])
    r = world.town_a.post(
        "/api/intake/check",
        data={"area": a1, "date": "2023-01-05", "values": {"new_cases": 5, "deaths": None}},
        content_type="application/json",
    )
    assert r.status_code == 200
    [found] = r.json()
    assert found["rule"] == "cases_le_positives" and (found["left"], found["right"]) == (5, 2)
    assert "new_cases" in found["message"]
    r = world.town_a.post(
        "/api/intake/check",
        data={"area": a1, "date": "2023-01-05", "values": {"new_cases": 2}},
        content_type="application/json",
    )
    assert r.json() == []
    r = world.town_a.post(
        "/api/intake/check",
        data={"area": world.villages_b[0], "date": "2023-01-05", "values": {}},
        content_type="application/json",
    )
    assert r.status_code == 404
    r = world.town_a.post(
        "/api/intake/check",
        data={"area": a1, "date": "2023-01-05", "values": {"tests": 1}},
        content_type="application/json",
    )
    assert r.status_code == 422 and "tests" in r.json()["detail"]


def test_a_report_file_is_checked_on_import(world: h4world.World) -> None:
    a1 = world.villages_a[0]
    text = f"area_code,date,new_cases,antigen_pos,pcr_pos\n{a1},2023-01-05,7,2,1\n"
    upload = SimpleUploadedFile("day.csv", text.encode(), content_type="text/csv")
    r = world.county.post("/api/reports/import", {"file": upload})
    assert r.status_code == 200, r.json()
    found = Violation.objects.get()
    assert (found.rule_id, found.area_id, found.left_value, found.right_value) == (
        "cases_le_positives",
        a1,
        7,
        3,
    )
