"""The daily form asks the reporter to confirm a value far above the village's own history
(the nightly outlier screen, run on the sending before it is sent), beside the rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ruralwatch.intake.services import check_values
from ruralwatch.reporting.daily_form import form_indicators
from ruralwatch.reporting.services import import_reports
from tests.reporting.intake_world import DAY, FAST_HASHERS, NOW, PASSWORD, World, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    w = build()
    lines = ["area_code,date,new_cases,fever_visits"]
    for back in range(1, 43):
        day = DAY - dt.timedelta(days=back)
        lines.append(f"{w.villages[0].code},{day.isoformat()},{2 + back % 3},{10 + back % 4}")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(path, now=NOW)
    return w


def test_a_value_far_above_the_history_asks_to_confirm(world: World) -> None:
    village = world.villages[0]
    usual = check_values(village, DAY, {"new_cases": 3, "fever_visits": 11})
    assert not [w for w in usual if w["rule"].startswith("outlier:")]
    typo = check_values(village, DAY, {"new_cases": 300, "fever_visits": 11})
    flagged = [w for w in typo if w["rule"].startswith("outlier:")]
    assert [w["rule"] for w in flagged] == ["outlier:new_cases"]
    assert flagged[0]["severity"] == "warn" and flagged[0]["left"] == 300
    assert 2 <= flagged[0]["right"] <= 4
    assert village.name in flagged[0]["message"] and "300" in flagged[0]["message"]
    # a village without history is not judged: nothing to compare with
    assert not [
        w
        for w in check_values(world.villages[1], DAY, {"new_cases": 300})
        if "outlier" in w["rule"]
    ]


def test_the_form_check_shows_it(world: World) -> None:
    village = world.villages[0]
    doctor = Client()
    assert doctor.login(username="doc1", password=PASSWORD)
    values: dict[str, Any] = {i.code: 0 for i in form_indicators(village)}
    values.update(new_cases=300, fever_visits=11)
    body = {"key": "key-outlier-0001", "date": DAY.isoformat(), "values": values}
    answer = doctor.post(
        reverse("intake:check", kwargs={"code": village.code}),
        json.dumps(body),
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    rules = [w["rule"] for w in answer.json()["warnings"]]
    assert "outlier:new_cases" in rules
