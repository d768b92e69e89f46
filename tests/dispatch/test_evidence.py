"""Evidence in words: method names, parameters, and the sentences of every kind of task."""

from __future__ import annotations

from django.utils import translation

from ruralwatch.dispatch.evidence import method_name, param_rows, sentences
from ruralwatch.dispatch.models import Source


def test_methods_by_name_and_parameters_without_noise() -> None:
    with translation.override("en"):
        assert method_name("ears-c2") == "EARS C2"
        assert method_name("cidars-mpm") == "CIDARS moving percentile"
        assert method_name("not-a-method") == "not-a-method"
        rows = dict(param_rows({"alpha": 0.001, "baseline": 7, "monitor": [1, 2], "m": None}))
        assert rows == {"significance level (alpha)": "0.001", "baseline (days)": "7"}
    with translation.override("zh-hans"):
        assert method_name("cidars-single-case") == "CIDARS 单病例预警"


def test_sentences_for_each_kind() -> None:
    with translation.override("en"):
        single = sentences(Source.SINGLE_CASE, {"observed": 1.0, "date": "2023-01-07"}, "甲村")
        assert single[0].startswith("1 case(s) reported in 甲村 on 2023-01-07")
        signal = sentences(
            Source.SIGNAL,
            {"observed": 9.0, "expected": 2.0, "threshold": 6.5, "score": 3.1, "method": "ears-c1"},
            "甲镇",
            "New cases",
        )
        assert signal[1] == "EARS C1 puts the alarm threshold at 6.5; the value exceeds it."
        rebound = sentences(
            Source.REBOUND,
            {
                "judgement_date": "2023-02-05",
                "sum7": 40,
                "prev7": 20,
                "change": 1.0,
                "per_100k": 12.34,
                "text_en": "A rebound after the Spring Festival.",
            },
            "甲镇",
        )
        assert "40 cases (the 7 days before: 20, change +100%); 12.3 per 100,000" in rebound[1]
        assert rebound[2] == "A rebound after the Spring Festival."
        missing = sentences(
            Source.MISSING_REPORT, {"report_date": "2023-01-07", "deadline_hours": 36}, "甲村"
        )
        assert "due 36 h after" in missing[0] and "No report has ever" in missing[1]
        overdue = sentences(
            Source.OVERDUE_CONTACTS,
            {"date": "2023-01-07", "overdue": 4, "registered": 30, "threshold": 2, "share": 0.05},
            "甲村",
        )
        assert "4 of the 30" in overdue[0] and "5%" in overdue[0]
        referral = sentences(
            Source.OPEN_REFERRAL,
            {
                "person": "P1",
                "referred_on": "2023-01-01",
                "days_without_outcome": 6,
                "threshold_days": 3,
                "reason": "clinical",
                "destination": "township_health_centre",
            },
            "甲村",
        )
        assert "no outcome for 6 days (the limit is 3)" in referral[0]
        assert "(clinical judgement, to township health centre)" in referral[0]
