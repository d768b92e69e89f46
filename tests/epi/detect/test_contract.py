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
from ruralwatch.epi.detect.base import DetectionResult, Reason
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


# --------------------------------------------------------------------------- failure isolation


def _awkward_panel() -> Panel:
    """An ordinary unit beside units that break naive fits: all zero, 13 scattered cases with
    the last 60 weeks zero, counts near 5e7, NaN gaps, nothing reported, a negative count."""
    rng = np.random.default_rng(99)
    n = 52 * N_YEARS
    t = np.arange(n)
    normal = rng.poisson(8.0 * (1.0 + 0.5 * np.cos(2 * np.pi * t / 52))).astype(np.float64)
    normal[n - 6 : n - 3] += 20
    sparse = np.zeros(n)
    sparse[np.sort(rng.choice(n - 60, 13, replace=False))] = 1.0
    huge = rng.poisson(5e7, n).astype(np.float64)
    gaps = rng.poisson(8.0, n).astype(np.float64)
    gaps[rng.choice(n, 40, replace=False)] = np.nan
    negative = rng.poisson(8.0, n).astype(np.float64)
    negative[n - 100] = -2.0
    cols = [normal, np.zeros(n), sparse, huge, gaps, np.full(n, np.nan), negative]
    units = ("normal", "zero", "sparse", "huge", "gaps", "unreported", "negative")
    dates = np.datetime64("2017-01-02") + 7 * t
    return Panel(counts=np.column_stack(cols), units=units, dates=dates, freq=52)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_awkward_units_do_not_disturb_a_normal_one(name: str) -> None:
    """Registry-wide: the normal unit gets the same result beside awkward units as alone, no
    exception is raised for them, and every NaN alarm carries a reason code."""
    det = METHODS[name]
    panel = _awkward_panel()
    res = det(panel)
    alone = det(panel.column(0))
    np.testing.assert_array_equal(res.index, alone.index)
    for field in ARRAYS:
        np.testing.assert_allclose(
            getattr(res, field)[:, 0],
            getattr(alone, field)[:, 0],
            rtol=1e-9,  # as the stacking test: batched fits may differ in the last bits
            atol=1e-12,
            err_msg=f"{name} {field}",
        )
    assert res.reason is not None
    j_neg = panel.units.index("negative")
    assert (res.reason[:, j_neg] == Reason.INVALID_INPUT).all()
    assert np.isnan(res.alarm[:, j_neg]).all() and np.isnan(res.upperbound[:, j_neg]).all()
    assert "negative count -2" in res.notes["negative"]
    j_none = panel.units.index("unreported")
    assert np.isnan(res.alarm[:, j_none]).all()
    assert (res.reason[:, j_none] != 0).all()
    assert not (res.reason[np.isnan(res.alarm)] == 0).any(), "a NaN alarm without a reason"
    assert set(np.unique(res.reason)) <= {int(r) for r in Reason}
