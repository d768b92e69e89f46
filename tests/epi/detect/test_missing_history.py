"""Without a baseline there is no judgement: a series younger than its reference window (or whose
reference values were never reported) gets NaN, never an alarm against an invented baseline."""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.detect import get_detector
from ruralwatch.epi.panel import Panel

WEEKS = 6 * 52


@pytest.mark.parametrize("method", ["farrington", "farrington-flexible"])
def test_no_reported_history_gives_no_alarm(method: str) -> None:
    rng = np.random.default_rng(3)
    counts = np.full((WEEKS, 2), np.nan)
    counts[-9:, 0] = rng.poisson(2000, 9)  # a new series: only the last 9 weeks were reported
    counts[:, 1] = rng.poisson(20, WEEKS)  # a complete series with a spike at the end
    counts[-1, 1] = 200
    panel = Panel(counts=counts, units=("new", "old"), freq=52)
    res = get_detector(method)(panel, monitor=np.arange(WEEKS - 2, WEEKS))
    assert np.isnan(res.alarm[:, 0]).all() and np.isnan(res.upperbound[:, 0]).all()
    assert res.alarm[-1, 1] == 1.0
