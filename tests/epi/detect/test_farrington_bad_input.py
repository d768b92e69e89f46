"""Bad input to farrington / farrington_flexible (issue 9): a ValueError that names the
parameter, or NaN with a reason code for the one unit whose data cannot be fitted, never a
numpy traceback and never a failed panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.detect.farrington import farrington, farrington_flexible
from ruralwatch.epi.panel import Panel

Method = Callable[..., DetectionResult]
METHODS = [farrington, farrington_flexible]
OUTPUTS = ("expected", "upperbound", "alarm", "score")


def _panel(n_units: int = 4, n_time: int = 3 * 52 + 20, seed: int = 2) -> Panel:
    rng = np.random.default_rng(seed)
    season = 6 + 3 * np.sin(2 * np.pi * np.arange(n_time) / 52)
    counts = rng.poisson(season[:, None], size=(n_time, n_units)).astype(float)
    pop = np.full((n_time, n_units), 1000.0)
    return Panel(
        counts=counts,
        units=tuple(f"u{i}" for i in range(n_units)),
        freq=52,
        population=pop,
    )


def _with(panel: Panel, j: int, counts: np.ndarray | None = None, pop: Any = None) -> Panel:
    c = panel.counts.copy()
    if counts is not None:
        c[:, j] = counts
    p = None if panel.population is None else panel.population.copy()
    if pop is not None and p is not None:
        p[:, j] = pop
    return Panel(counts=c, units=panel.units, freq=panel.freq, population=p)


def _same_other_units(a: DetectionResult, b: DetectionResult, skip: int) -> None:
    keep = [j for j in range(len(a.units)) if j != skip]
    for name in OUTPUTS:
        np.testing.assert_array_equal(getattr(a, name)[:, keep], getattr(b, name)[:, keep])
    assert a.reason is not None and b.reason is not None
    assert not a.reason[:, keep].any() and not b.reason[:, keep].any()


def _b3(method: Method) -> dict[str, Any]:
    return {"b": 3}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(-1.0, id="negative"),
        pytest.param(np.inf, id="infinite"),
    ],
)
def test_a_unit_that_is_not_counts_is_na_with_invalid_input(method: Method, bad: float) -> None:
    good = _panel()
    col = good.counts[:, 1].copy()
    col[40] = bad
    res = method(_with(good, 1, col), **_b3(method))
    ref = method(good, **_b3(method))
    for name in OUTPUTS:
        assert np.isnan(getattr(res, name)[:, 1]).all()
    assert res.reason is not None
    assert (res.reason[:, 1] == Reason.INVALID_INPUT).all()
    _same_other_units(res, ref, 1)


@pytest.mark.parametrize("method", METHODS)
def test_non_integer_counts_are_fitted_as_r_quasi_poisson_does(method: Method) -> None:
    good = _panel()
    res = method(_with(good, 2, good.counts[:, 2] + 0.5), **_b3(method))
    assert np.isfinite(res.upperbound[:, 2]).all()
    assert res.reason is not None and not res.reason.any()


@pytest.mark.parametrize("method", METHODS)
def test_missing_count_at_t_has_no_alarm_and_a_reason(method: Method) -> None:
    good = _panel()
    col = good.counts[:, 0].copy()
    col[-1] = np.nan
    res = method(_with(good, 0, col), **_b3(method))
    assert np.isnan(res.alarm[-1, 0])
    assert res.reason is not None and res.reason[-1, 0] == Reason.MISSING
    assert not res.reason[:-1].any()


@pytest.mark.parametrize("method", METHODS)
def test_an_all_missing_unit_is_na_and_the_rest_unaffected(method: Method) -> None:
    good = _panel()
    res = method(_with(good, 3, np.full(good.n_time, np.nan)), **_b3(method))
    ref = method(good, **_b3(method))
    assert np.isnan(res.upperbound[:, 3]).all()
    assert res.reason is not None and (res.reason[:, 3] == Reason.MISSING).all()
    _same_other_units(res, ref, 3)


@pytest.mark.parametrize("method", METHODS)
def test_an_all_zero_unit_gets_numbers_as_in_r(method: Method) -> None:
    # R's glm stops with an intercept near -25 (maxit / deviance criterion): a fitted mean
    # ~1e-11, a bound (0 for the classic method, NA for flexible by the 5-in-4 rule).
    good = _panel()
    res = method(_with(good, 2, np.zeros(good.n_time)), **_b3(method))
    assert res.reason is not None and not res.reason.any()
    assert np.all(res.expected[:, 2][np.isfinite(res.expected[:, 2])] < 1e-9)
    assert np.all(res.alarm[:, 2] == 0)


@pytest.mark.parametrize("method", METHODS)
def test_empty_panels_give_empty_results(method: Method) -> None:
    no_units = Panel(counts=np.zeros((300, 0)), units=(), freq=52)
    res = method(no_units)
    assert res.upperbound.shape == (300 - (5 * 52 + 3), 0)
    no_time = Panel(counts=np.zeros((0, 3)), units=("a", "b", "c"), freq=52)
    res = method(no_time)
    assert res.upperbound.shape == (0, 3)


@pytest.mark.parametrize("method", METHODS)
def test_one_point_and_baseline_longer_than_the_series(method: Method) -> None:
    one = Panel(counts=np.array([[3.0]]), units=("a",), freq=52)
    assert method(one).upperbound.shape == (0, 1)  # nothing has b years of history
    res = method(one, monitor=[0])
    assert np.isnan(res.upperbound).all() and np.isnan(res.alarm).all()
    assert res.reason is not None and (res.reason == Reason.TOO_SHORT).all()
    # Not one reference window inside a 40-week series.
    short = _panel(n_units=2, n_time=40)
    res = method(short, b=1, monitor=slice(-10, None))
    assert np.isnan(res.upperbound).all() and np.isnan(res.alarm).all()
    assert res.reason is not None and (res.reason == Reason.TOO_SHORT).all()


def test_zero_population_with_offset_is_invalid_for_that_unit() -> None:
    good = _panel()
    pop = np.full(good.n_time, 1000.0)
    pop[10] = 0.0
    res = farrington_flexible(_with(good, 0, pop=pop), b=3, population_offset=True)
    ref = farrington_flexible(good, b=3, population_offset=True)
    assert res.reason is not None and (res.reason[:, 0] == Reason.INVALID_INPUT).all()
    assert np.isnan(res.upperbound[:, 0]).all()
    _same_other_units(res, ref, 0)


def test_population_offset_without_population_names_the_parameter() -> None:
    panel = Panel(counts=_panel().counts, units=_panel().units, freq=52)
    with pytest.raises(ValueError, match="population_offset"):
        farrington_flexible(panel, population_offset=True)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"b": 0}, "b"),
        ({"b": 2.5}, "b"),
        ({"b": None}, "b"),
        ({"w": -1}, "w"),
        ({"w": "3"}, "w"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"limit54": (5,)}, "limit54"),
        ({"limit54": (5, 0)}, "limit54"),
        ({"limit54": (-1, 4)}, "limit54"),
        ({"power_trans": "3/4"}, "power_trans"),
        ({"power_trans": None}, "power_trans"),
        ({"reweight": "yes"}, "reweight"),
        ({"trend": 2}, "trend"),
        ({"monitor": [10_000]}, "monitor"),
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_out_of_range_parameters_name_the_parameter(
    method: Method, params: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        method(_panel(), **params)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"threshold_method": "exact"}, "threshold_method"),
        ({"no_periods": 0}, "no_periods"),
        ({"no_periods": 1.5}, "no_periods"),
        ({"past_weeks_not_included": -1}, "past_weeks_not_included"),
        ({"weights_threshold": 0.0}, "weights_threshold"),
        ({"weights_threshold": float("inf")}, "weights_threshold"),
        ({"p_threshold_trend": 1.0}, "p_threshold_trend"),
        ({"population_offset": "no"}, "population_offset"),
    ],
)
def test_out_of_range_flexible_parameters_name_the_parameter(
    params: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        farrington_flexible(_panel(), **params)
