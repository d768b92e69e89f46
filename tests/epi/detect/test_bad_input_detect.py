"""Bad input to every detector: a ValueError that names the parameter, or the unit and row, or
NaN with a reason code, as R would give NA; never a numpy or Python traceback from inside.

Farrington's own parameter checks belong to its module (tests/epi/detect/test_farrington_*);
the registry-level checks here run over every method.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import METHODS, get_detector
from ruralwatch.epi.detect._common import check_number
from ruralwatch.epi.detect.base import Reason
from ruralwatch.epi.detect.rki import rki
from ruralwatch.epi.panel import Panel

N = 52 * 6


def _panel(counts: np.ndarray | None = None) -> Panel:
    rng = np.random.default_rng(5)
    c = rng.poisson(6.0, (N, 2)).astype(np.float64) if counts is None else counts
    dates = np.datetime64("2017-01-02") + 7 * np.arange(c.shape[0])
    return Panel(counts=c, units=("a", "b"), dates=dates, freq=52)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_unknown_parameter_is_named(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) bogus; accepted: "):
        get_detector(name)(_panel(), bogus=1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_empty_panel(name: str) -> None:
    with pytest.raises(ValueError, match="the panel is empty"):
        get_detector(name)(Panel(counts=np.zeros((0, 1)), units=("a",), freq=52))


@pytest.mark.parametrize("value", [-3.0, np.inf, -np.inf])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_non_count_makes_only_its_unit_invalid(name: str, value: float) -> None:
    counts = _panel().counts.copy()
    counts[200, 1] = value
    res = get_detector(name)(_panel(counts))
    clean = get_detector(name)(_panel().column(0))
    assert res.reason is not None
    assert (res.reason[:, 1] == Reason.INVALID_INPUT).all()
    assert np.isnan(res.alarm[:, 1]).all()
    kind = "negative" if value < 0 and np.isfinite(value) else "infinite"
    assert res.notes == {"b": f"row 200: {kind} count {value:g}"}
    np.testing.assert_allclose(res.upperbound[:, 0], clean.upperbound[:, 0], rtol=1e-9)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"farrington", "farrington-flexible"}))
def test_one_point_is_a_clear_error_or_a_result(name: str) -> None:
    """One row: too short for every method that needs history (an error naming the rows);
    the single-case method, which needs none, judges it."""
    one = Panel(counts=np.array([[3.0]]), units=("a",), freq=52)
    if name == "cidars-single-case":
        assert get_detector(name)(one).alarm[0, 0] == 1.0
        return
    with pytest.raises(ValueError, match=r"rows"):
        get_detector(name)(one)


@pytest.mark.parametrize("name", ["ears-c1", "rki1", "cusum", "glr-nb", "cidars-mpm"])
def test_all_missing_unit_is_nan_with_reason(name: str) -> None:
    counts = _panel().counts.copy()
    counts[:, 1] = np.nan
    res = get_detector(name)(_panel(counts))
    assert res.reason is not None
    assert np.isnan(res.alarm[:, 1]).all()
    assert (res.reason[:, 1] == Reason.MISSING).all()
    assert (res.reason[:, 0] == 0).all()


BAD_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("ears-c1", {"baseline": 1}, "baseline"),
    ("ears-c1", {"baseline": 7.5}, "baseline"),
    ("ears-c1", {"baseline": "7"}, "baseline"),
    ("ears-c1", {"baseline": 400}, "rows"),  # baseline longer than the series
    ("ears-c2", {"alpha": 0.0}, "alpha"),
    ("ears-c3", {"alpha": 1.5}, "alpha"),
    ("ears-c1", {"alpha": float("nan")}, "alpha"),
    ("ears-c1", {"min_sigma": -1}, "min_sigma"),
    ("ears-c1", {"monitor": [400]}, "monitor"),
    ("ears-c1", {"monitor": [3]}, "earlier rows"),
    ("cusum", {"h": 0}, "h"),
    ("cusum", {"k": float("inf")}, "k"),
    ("cusum", {"trans": "log"}, "trans"),
    ("cusum", {"trans": "pearsonNegBin"}, "alpha"),
    ("cusum", {"trans": "pearsonNegBin", "alpha": -0.1}, "alpha"),
    ("cusum", {"m": "gam"}, "m"),
    ("glr-nb", {"c_arl": -1}, "c_arl"),
    ("glr-nb", {"m_tilde": 0}, "m_tilde"),
    ("glr-nb", {"M": -2}, "M"),
    ("glr-nb", {"s": 1.5}, "s"),
    ("glr-nb", {"x_max": 0}, "x_max"),
    ("glr-nb", {"dir": "up"}, "dir"),
    ("glr-nb", {"ret": "count"}, "ret"),
    ("glr-nb", {"alpha": -0.5}, "alpha"),
    ("glr-nb", {"theta": float("nan")}, "theta"),
    ("glr-poisson", {"monitor": [2], "s": 3}, "mu0"),  # fitting window shorter than the model
    ("rki2", {"monitor": [10]}, "earlier rows"),
    ("cidars-mpm", {"percentile": 95}, "percentile"),
    ("cidars-mpm", {"years": 0}, "years"),
    ("cidars-mpm", {"years": 9}, "rows"),  # history longer than the series
    ("cidars-mpm", {"k": -1}, "k"),
    ("cidars-mpm", {"window": 0}, "window"),
    ("cidars-mpm", {"min_cases": -1}, "min_cases"),
    ("cidars-single-case", {"min_cases": 0}, "min_cases"),
]


@pytest.mark.parametrize(("name", "params", "word"), BAD_PARAMS)
def test_bad_parameter_is_named(name: str, params: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        get_detector(name)(_panel(), **params)


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"b": 0, "w": -1}, "w"),
        ({"b": -1, "w": 6}, "b"),
        ({"b": 0, "w": 0}, "baseline"),
        ({"b": 0, "w": 6, "act_y": False}, "baseline"),
        ({"b": 1.5, "w": 6}, "b"),
    ],
)
def test_rki_settings_are_checked(params: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        rki(_panel(), **params)


def test_check_number() -> None:
    assert check_number("x", 3, lo=0, integer=True) == 3.0
    assert check_number("x", np.float64(0.5), lo=0, hi=1, lo_open=True) == 0.5
    for bad, kw in [
        (0, {"lo": 0, "lo_open": True}),
        (1, {"hi": 1, "hi_open": True}),
        (2.5, {"integer": True}),
        (True, {}),
        ("3", {}),
        (None, {}),
        (float("nan"), {}),
        (float("inf"), {"lo": 0}),
        (float("-inf"), {"lo": 0}),
    ]:
        with pytest.raises(ValueError, match=r"^x must"):
            check_number("x", bad, **kw)
