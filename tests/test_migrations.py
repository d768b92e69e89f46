"""Migrations: the models and the migrations agree, and the data migrations load usable rows."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from ruralwatch.epi.detect import get_detector
from ruralwatch.epi.panel import Panel
from ruralwatch.reporting.models import Indicator
from ruralwatch.signals.models import DetectionRule

pytestmark = pytest.mark.django_db


def test_no_model_change_without_a_migration() -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models differ from the migrations (exit {exc.code}):\n{out.getvalue()}")


def _panel(freq: str, n: int) -> Panel:
    counts = np.random.default_rng(3).poisson(4.0, (n, 2)).astype(np.float64)
    step = 7 if freq == "week" else 1
    dates = np.datetime64("2023-02-05") - np.arange(n)[::-1] * step
    return Panel(counts=counts, units=("a", "b"), dates=dates, freq=52 if freq == "week" else 365)


def test_default_rules_name_registered_methods_with_accepted_parameters() -> None:
    """Every rule the data migrations load runs: its method is registered, its indicator exists
    and the detector accepts its parameters, on a panel with all the history the rule asks for
    and on one far too short for it (NA with a reason, or an error that says what is needed)."""
    rules = list(DetectionRule.objects.all())
    assert len(rules) >= 8
    indicators = set(Indicator.objects.values_list("code", flat=True))
    for rule in rules:
        assert rule.indicator_id in indicators, rule
        detector = get_detector(rule.method)
        unknown = set(rule.params) - set(detector.accepts)
        assert not unknown, f"{rule.method}: parameters {sorted(unknown)} are not accepted"
        step = 7 if rule.freq == "week" else 1
        full = detector(_panel(rule.freq, rule.history_days // step + 30), **rule.params)
        assert np.isfinite(full.upperbound[-1]).all() or rule.method == "cidars-single-case"
        try:
            short = detector(_panel(rule.freq, 10), **rule.params)
        except ValueError as exc:  # a panel too short as a whole: said in words, with the need
            assert "rows" in str(exc) or "history" in str(exc), exc
        else:
            assert short.alarm.shape[1] == 2
            assert (short.reason[np.isnan(short.alarm)] != 0).all()
