"""The judgement sentence is worded by the assessments app (gettext, zh-Hans and English) from
the codes and numbers ``epi`` returns, and says word for word what ``epi`` used to write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from ruralwatch.assessments import phrases
from ruralwatch.epi.assess.judgement import REBOUND_STATES
from tests.assessments.sentence_cases import cases, unit_key

RECORDED = json.loads((Path(__file__).parent / "data" / "sentences.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def phrased() -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    out = {}
    for case, js in cases():
        for u in js.units:
            out[unit_key(case, u.code)] = (u.statement, phrases.sentences(u.statement))
    return out


def test_every_recorded_sentence_comes_out_the_same(phrased: Any) -> None:
    assert set(phrased) == set(RECORDED)
    differ = [
        (key, texts, RECORDED[key])
        for key, (_, texts) in phrased.items()
        if [texts["zh-hans"], texts["en"]] != RECORDED[key]
    ]
    assert not differ, differ[:3]


def test_the_cases_reach_every_branch(phrased: Any) -> None:
    said = [s for s, _ in phrased.values()]
    assert {s["rebound"]["state"] for s in said} == set(REBOUND_STATES)
    assert {s["level"] for s in said} >= {"below_threshold", "low", "medium", "high", "very_high"}
    assert {s["phase"] for s in said} == {
        "growth",
        "plateau",
        "peak_passed",
        "steady_decline",
        "low_level",
        "undetermined",
    }
    assert any(s["pooled"] for s in said) and any(not s["pooled"] for s in said)
    numbers = [s["numbers"] for s in said]
    for name in ("change", "growth_r", "rt"):
        assert any(n[name] is None for n in numbers) and any(n[name] is not None for n in numbers)


def test_the_demo_headline(phrased: Any) -> None:
    """The task force's sentence of 5 February 2023, from the baseline scenario."""
    _, texts = phrased["baseline/990101000000"]
    assert texts["zh-hans"].startswith(
        "疫情处于低流行水平，呈稳步下降态势；春节后未出现新的小高峰。"
    )
    assert texts["en"].startswith(
        "The epidemic is at a low level and declining steadily; no new peak after the Spring "
        "Festival."
    )


def test_the_sentence_follows_the_active_language(phrased: Any) -> None:
    said, texts = phrased["baseline/990101000000"]
    with translation.override("en"):
        assert phrases.sentence(said) == texts["en"]
    with translation.override("zh-hans"):
        assert phrases.sentence(said) == texts["zh-hans"]


def test_epi_returns_codes_and_numbers_not_words(phrased: Any) -> None:
    said, _ = phrased["rebound/990101203000"]
    assert said["level"] == "high" and said["phase"] == "growth"
    assert said["rebound"]["state"] == "new_peak" and said["rebound"]["event"] == "spring_festival"
    assert said["rebound"]["onset_date"] == "2023-01-24"
    text = json.dumps(said, ensure_ascii=False)
    assert "疫情" not in text and "epidemic" not in text.lower()


def test_an_event_of_ones_own_keeps_its_names() -> None:
    said = {
        "state": "no_new_peak",
        "event": "county_fair",
        "event_names": {"zh": "庙会", "en": "the fair"},
    }
    with translation.override("zh-hans"):
        assert phrases._rebound(said) == "庙会后未出现新的小高峰"
    with translation.override("en"):
        assert phrases._rebound(said) == "no new peak after the fair"


def test_days_and_months() -> None:
    with translation.override("zh-hans"):
        assert phrases.day_and_month("2023-01-24") == "1月24日"
        assert phrases.day_and_month("2023-12-03") == "12月3日"
    with translation.override("en"):
        assert phrases.day_and_month("2023-01-24") == "24 January"


def test_the_renewed_rise_below() -> None:
    with translation.override("zh-hans"):
        text = phrases.appended("甲。", phrases.rise_below(["一乡", "二乡"], "2023-01-25"))
        assert text == "甲。节后一乡、二乡自2023-01-25起出现疫情回升。"
    with translation.override("en"):
        text = phrases.appended("A.", phrases.rise_below(["One", "Two"], "2023-01-25"))
        assert text == "A. A renewed rise after the holiday in One, Two, from 2023-01-25."
