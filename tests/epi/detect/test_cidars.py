"""CIDARS moving percentile and single-case methods: hand-computed examples and properties.

There is no R oracle for CIDARS; the expected numbers below are worked out by hand.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ruralwatch.epi.detect import get_detector
from ruralwatch.epi.detect.cidars import same_day_years_back
from ruralwatch.epi.panel import Panel

# Historical values 1..15 sorted. Linear interpolation (numpy default, R type 7): the p-th
# percentile sits at position (15 - 1) * p / 100 of the sorted values (0-based).
#   p = 80: position 11.2 -> sorted[11] + 0.2 * (sorted[12] - sorted[11]) = 12 + 0.2 * 1 = 12.2
#   p = 50: position 7    -> sorted[7] = 8
#   p = 90: position 12.6 -> 13 + 0.6 * 1 = 13.6


def _weekly_example() -> Panel:
    """Two weekly series, 159 rows; row 158 is judged (years=3, k=2, window=1).

    Same week 1, 2, 3 years back: rows 106, 54, 2; with +-2 weeks: rows 104..108, 52..56, 0..4.
    Those rows hold 11..15, 6..10 and 1..5. Row 158 holds 13 (series a) and 12 (series b).
    """
    counts = np.zeros((159, 2))
    counts[0:5] = np.arange(1, 6)[:, None]
    counts[52:57] = np.arange(6, 11)[:, None]
    counts[104:109] = np.arange(11, 16)[:, None]
    counts[158] = [13, 12]
    return Panel(counts=counts, units=("a", "b"), freq=52)


def test_weekly_hand_example() -> None:
    res = get_detector("cidars-mpm")(_weekly_example(), monitor=[158])
    assert np.allclose(res.upperbound[0], [12.2, 12.2], rtol=0, atol=1e-12)
    assert res.alarm[0].tolist() == [1.0, 0.0]  # 13 > 12.2; 12 is not
    assert res.expected[0].tolist() == [8.0, 8.0]  # (1 + ... + 15) / 15 = 120 / 15
    assert np.allclose(res.score[0], [13 / 12.2, 12 / 12.2])


def test_weekly_percentile_choice() -> None:
    det = get_detector("cidars-mpm")
    assert det(_weekly_example(), monitor=[158], percentile=50).upperbound[0, 0] == 8.0
    p90 = det(_weekly_example(), monitor=[158], percentile=90).upperbound[0, 0]
    assert abs(p90 - 13.6) < 1e-12
    # 13 is not above 13.6: no alarm at the 90th percentile
    assert det(_weekly_example(), monitor=[158], percentile=90).alarm[0, 0] == 0.0


def test_weekly_default_monitor_starts_with_full_history() -> None:
    res = get_detector("cidars-mpm")(_weekly_example())
    # first row with 3 years + 2 weeks of history: 3 * 52 + 2 = 158
    assert res.index.tolist() == [158]
    assert res.params["window"] == 1


def _daily_example(extra_today: float) -> Panel:
    """Daily series 2019-01-01 .. 2022-03-01, judged on 2022-03-01 (years=3, k=2, window=7).

    Same day 1, 2, 3 years back: 2021-03-01, 2020-03-01, 2019-03-01. The 7-day windows end on
    those days and 7 and 14 days before and after. One count on each window's last day (all
    other days 0) makes each window sum equal that count: 2021 -> 1..5, 2020 -> 6..10,
    2019 -> 11..15, so the 80th percentile is 12.2 as above. The current window
    2022-02-23 .. 2022-03-01 holds 5 (on 25 Feb) + 8 (on 1 Mar) + extra_today.
    """
    dates = np.arange(np.datetime64("2019-01-01"), np.datetime64("2022-03-02"))
    counts = np.zeros(dates.size)
    for year, values in ((2021, range(1, 6)), (2020, range(6, 11)), (2019, range(11, 16))):
        centre = np.datetime64(f"{year}-03-01")
        for shift, v in zip(range(-2, 3), values, strict=True):
            counts[np.flatnonzero(dates == centre + 7 * shift)] = v
    counts[np.flatnonzero(dates == np.datetime64("2022-02-25"))] = 5
    counts[-1] = 8 + extra_today
    return Panel.single(counts, dates=dates, freq=365)


def test_daily_hand_example() -> None:
    det = get_detector("cidars-mpm")
    res = det(_daily_example(0.0), monitor=[-1])
    assert res.observed[0, 0] == 13.0  # 5 + 8
    assert res.extra["count"][0, 0] == 8.0
    assert abs(res.upperbound[0, 0] - 12.2) < 1e-12
    assert res.alarm[0, 0] == 1.0
    # min_cases: 13 cases are fewer than 20, so no alarm even above the threshold
    assert det(_daily_example(0.0), monitor=[-1], min_cases=20).alarm[0, 0] == 0.0
    # 5 + 8 - 1 = 12 is not above 12.2
    assert det(_daily_example(-1.0), monitor=[-1]).alarm[0, 0] == 0.0


def test_threshold_equal_to_sum_is_no_alarm() -> None:
    """Strictly greater: a flat history of 7 per window and a current sum of 7 gives no alarm."""
    dates = np.arange(np.datetime64("2019-01-01"), np.datetime64("2022-06-01"))
    res = get_detector("cidars-mpm")(Panel.single(np.ones(dates.size), dates=dates, freq=365))
    assert np.all(res.upperbound == 7.0)
    assert np.all(res.alarm == 0.0)


def test_leap_day_maps_to_28_february() -> None:
    d = np.array(["2020-02-29", "2021-03-01", "2024-02-29"], dtype="datetime64[D]")
    assert same_day_years_back(d, 1).tolist() == [
        np.datetime64("2019-02-28").item(),
        np.datetime64("2020-03-01").item(),
        np.datetime64("2023-02-28").item(),
    ]
    assert same_day_years_back(d[2:], 4)[0] == np.datetime64("2020-02-29")


def test_single_case() -> None:
    p = Panel.single([0, 1, 0, 3, np.nan])
    res = get_detector("cidars-single-case")(p)
    assert res.alarm[:, 0].tolist()[:4] == [0.0, 1.0, 0.0, 1.0]
    assert np.isnan(res.alarm[4, 0])
    res2 = get_detector("cidars-single-case")(p, min_cases=2)
    assert res2.alarm[:, 0].tolist()[:4] == [0.0, 0.0, 0.0, 1.0]


# ---- properties -----------------------------------------------------------------------------

weekly_series = st.lists(st.integers(0, 30), min_size=170, max_size=200).map(
    lambda v: Panel.single(np.asarray(v, dtype=np.float64), freq=52)
)


@settings(max_examples=30, deadline=None)
@given(weekly_series, st.floats(50, 90))
def test_threshold_within_history_range(panel: Panel, pct: float) -> None:
    res = get_detector("cidars-mpm")(panel, percentile=pct)
    # history of row t: rows t - 52 i + j, i = 1..3, j = -2..2
    for r, t in enumerate(res.index):
        hist = panel.counts[[t - 52 * i + j for i in (1, 2, 3) for j in range(-2, 3)], 0]
        assert hist.min() - 1e-9 <= res.upperbound[r, 0] <= hist.max() + 1e-9
        expected_alarm = panel.counts[t, 0] > np.percentile(hist, pct) and panel.counts[t, 0] >= 1
        assert res.alarm[r, 0] == float(expected_alarm)


@settings(max_examples=30, deadline=None)
@given(weekly_series, st.floats(50, 89), st.floats(0.1, 1.0))
def test_higher_percentile_never_lowers_threshold(panel: Panel, pct: float, dp: float) -> None:
    det = get_detector("cidars-mpm")
    low = det(panel, percentile=pct)
    high = det(panel, percentile=min(pct + dp, 90.0))
    assert np.all(high.upperbound >= low.upperbound - 1e-12)
    assert np.all(high.alarm <= low.alarm)


@settings(max_examples=30, deadline=None)
@given(weekly_series, st.integers(1, 20))
def test_more_cases_now_never_remove_an_alarm(panel: Panel, add: int) -> None:
    det = get_detector("cidars-mpm")
    base = det(panel)
    # series have < 3 * 52 + 158 rows, so no monitored row is in another row's history
    assert panel.n_time < base.index[0] + 3 * 52 - 2
    counts = panel.counts[:, 0].copy()
    counts[base.index] += add
    bumped = det(Panel.single(counts, freq=52))
    np.testing.assert_array_equal(bumped.upperbound, base.upperbound)
    assert np.all(bumped.alarm >= base.alarm)
