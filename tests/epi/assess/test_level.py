"""Epidemic level: hand-computed cut points and MEM thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.assess.level import (
    LEVELS,
    RateThresholds,
    classify,
    epidemic_level,
    rolling_sum,
    thresholds_from_mem,
    thresholds_from_rates,
)
from ruralwatch.epi.assess.mem import memmodel


def test_rate_thresholds_by_hand() -> None:
    # population 50,000: defaults 20/400/1000/3000 per 100,000 per 7 days -> 10/200/500/1500
    th = thresholds_from_rates([50_000.0])
    assert th.matrix()[0].tolist() == [10.0, 200.0, 500.0, 1500.0]
    values = np.array([[9.0], [10.0], [199.0], [200.0], [500.0], [1499.0], [1500.0], [np.nan]])
    assert classify(values, th)[:, 0].tolist() == [0, 1, 1, 2, 3, 3, 4, -1]


def test_epidemic_level_sums_last_seven_days() -> None:
    # 7 days of 3 cases = 21 in 100,000 -> low (>= 20); one more day of 0 drops the first 3
    y = np.array([3.0] * 7 + [0.0])
    lev = epidemic_level(y[:7], [100_000.0])
    assert lev.value[0] == 21.0 and lev.name[0] == "low" and bool(lev.is_low[0])
    lev2 = epidemic_level(y, [100_000.0])
    assert lev2.value[0] == 18.0 and lev2.name[0] == "below_threshold"
    lev3 = epidemic_level(np.full(7, 200.0), [100_000.0], rates=RateThresholds(medium=1000.0))
    assert lev3.name[0] == "high" and not bool(lev3.is_low[0])


def test_cut_points_never_decrease() -> None:
    th = thresholds_from_rates([100_000.0], RateThresholds(epidemic=50, medium=30, high=60))
    assert th.matrix()[0].tolist() == [50.0, 50.0, 60.0, 3000.0]
    assert classify([40.0], th).tolist() == [0]
    assert classify([55.0], th).tolist() == [2]


def test_mem_thresholds_and_fallback() -> None:
    # five seasons with a clear epidemic in the middle
    base = np.array([1, 2, 2, 3, 10, 40, 90, 60, 20, 5, 2, 1], dtype=float)
    mat = np.column_stack([base * f for f in (1.0, 1.2, 0.8, 1.1, 0.9)])
    model = memmodel(mat)
    fb = thresholds_from_rates([1e5, 1e5], RateThresholds(days=1))
    th = thresholds_from_mem([model, None], fb, days=1)
    s = model.summary
    assert th.epidemic[0] == s["pre_threshold"]
    assert th.very_high[0] == s["veryhigh_threshold"]
    assert th.source.tolist() == ["mem", "rate"]
    assert th.epidemic[1] == 20.0
    # the pre-epidemic values are at most 3.6, the epidemic ones reach 108
    assert 1.0 < th.epidemic[0] < 10.0 < th.medium[0]
    assert classify([[1.0, 1.0], [1000.0, 1.0]], th)[:, 0].tolist() == [0, 4]
    with pytest.raises(ValueError):
        thresholds_from_mem([None])


def test_rolling_sum() -> None:
    out = rolling_sum(np.array([1.0, np.nan, 3.0, 4.0]), 2)
    assert np.isnan(out[0, 0]) and out[1:, 0].tolist() == [1.0, 3.0, 7.0]
    assert LEVELS[0] == "below_threshold"
