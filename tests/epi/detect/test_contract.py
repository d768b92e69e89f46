"""One contract for every registered detector (run over ``METHODS``).

* shapes: every array is (n_monitored, n_units), ``index`` strictly increasing;
* ``params`` records every parameter the method accepts (defaults filled in);
* ``alarm`` holds only 1.0, 0.0 or NaN; a missing count never raises and gives alarm NaN or 0;
* a panel is a stack of single series: running on 3 columns equals 3 single runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import METHODS, get_detector
from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.panel import Panel

N_YEARS = 6
ARRAYS = ("observed", "expected", "upperbound", "alarm", "score")


def _panel(with_nan: bool) -> Panel:
    rng = np.random.default_rng(20230101)
    n = 52 * N_YEARS
    t = np.arange(n)
    season = 1.0 + 0.5 * np.cos(2 * np.pi * t / 52)
    means = np.outer(season, [0.8, 6.0, 40.0])
    counts = rng.poisson(means).astype(np.float64)
    size = 2.0  # the second series is overdispersed (negative binomial, alpha = 0.5)
    counts[:, 1] = rng.negative_binomial(size, size / (size + means[:, 1]))
    counts[n - 20 : n - 15, 1] += 15  # an outbreak in the second series
    if with_nan:
        counts[[n - 30, n - 10], 0] = np.nan
        counts[n - 40, 2] = np.nan
    dates = np.datetime64("2017-01-02") + 7 * t
    return Panel(counts=counts, units=("a", "b", "c"), dates=dates, freq=52)


def _check_shapes(res: DetectionResult, panel: Panel) -> None:
    shape = (len(res.index), panel.n_units)
    assert len(res.index) > 0
    assert np.all(np.diff(res.index) > 0)
    for name in ARRAYS:
        assert getattr(res, name).shape == shape, name
    for name, arr in res.extra.items():
        assert arr.shape == shape, name
    for name, arr in res.scalars.items():
        assert np.asarray(arr).shape[0] == panel.n_units, name
    assert res.units == panel.units
    a = res.alarm[~np.isnan(res.alarm)]
    assert np.isin(a, [0.0, 1.0]).all()


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, det in METHODS.items():
        full = _panel(with_nan=True)
        res = det(full)
        singles = [det(full.column(j)) for j in range(full.n_units)]
        out[name] = {"panel": full, "res": res, "singles": singles}
    return out


@pytest.mark.parametrize("name", sorted(METHODS))
def test_shapes_and_alarm_values(name: str, runs: dict[str, dict[str, Any]]) -> None:
    r = runs[name]
    _check_shapes(r["res"], r["panel"])
    assert r["res"].method == name


@pytest.mark.parametrize("name", sorted(METHODS))
def test_params_recorded(name: str, runs: dict[str, dict[str, Any]]) -> None:
    det = METHODS[name]
    accepts = getattr(det, "accepts", None)
    assert accepts, f"{name}: registry entry does not list the parameters it accepts"
    missing = set(accepts) - set(runs[name]["res"].params)
    assert not missing, f"{name}: params lacks {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_missing_counts(name: str, runs: dict[str, dict[str, Any]]) -> None:
    r = runs[name]
    res, panel = r["res"], r["panel"]
    count_missing = np.isnan(panel.counts[res.index])
    assert count_missing.any(), "the test panel has missing counts in the monitored rows"
    alarms = res.alarm[count_missing]
    assert np.all(np.isnan(alarms) | (alarms == 0.0))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_panel_is_stack_of_single_series(name: str, runs: dict[str, dict[str, Any]]) -> None:
    r = runs[name]
    res: DetectionResult = r["res"]
    for j, single in enumerate(r["singles"]):
        np.testing.assert_array_equal(single.index, res.index)
        for field in ARRAYS:
            np.testing.assert_allclose(
                getattr(single, field)[:, 0],
                getattr(res, field)[:, j],
                rtol=1e-9,
                atol=1e-12,
                err_msg=f"{name} {field} unit {j}",
            )
        for key, arr in single.extra.items():
            np.testing.assert_allclose(arr[:, 0], res.extra[key][:, j], rtol=1e-9, atol=1e-12)
        for key, arr in single.scalars.items():
            np.testing.assert_allclose(
                np.asarray(arr)[0], np.asarray(res.scalars[key])[j], rtol=1e-9, atol=1e-12
            )


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"valid: .*ears-c1"):
        get_detector("ears-c9")


def test_fixed_parameters_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="fixes"):
        get_detector("ears-c1")(_panel(False), method="C3")
