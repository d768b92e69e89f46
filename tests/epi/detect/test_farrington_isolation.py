"""One sparse unit never breaks a panel (issue 9, found 1), checked against R.

``tests/fixtures/r_farrington/panel50_input.csv`` is a 209-week panel of 50 units made by
``make_fixtures.R``: unit ``u08`` has 13 cases, none in the last 60 weeks; the others are
seasonal Poisson counts. R's ``farringtonFlexible`` (default settings with b = 3, the settings of
the issue, Noufaily's) and ``farrington`` ran on the whole panel, last 50 weeks monitored
(``panel50.csv``). Before the fix our run stopped with "SVD did not converge"; now every unit
must agree with R, NA exactly where R has NA, and each unit must get within the panel exactly
what it gets alone.
"""

from __future__ import annotations

import csv
from functools import cache
from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.detect.farrington import farrington, farrington_flexible
from ruralwatch.epi.panel import Panel
from tests.epi.detect import oracle as O  # noqa: N812
from tests.epi.detect.test_farrington_r_options import FIXTURES
from tests.epi.detect.test_oracle_farrington import ATOL, RTOL

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {"b": 3},
    "issue": {
        "b": 3,
        "w": 3,
        "weights_threshold": 1.0,
        "no_periods": 1,
        "past_weeks_not_included": 3,
        "threshold_method": "delta",
    },
    "noufaily": {
        "b": 3,
        "w": 3,
        "weights_threshold": 2.58,
        "no_periods": 10,
        "past_weeks_not_included": 26,
        "threshold_method": "nbPlugin",
        "power_trans": "none",
    },
    "classic": {"b": 3, "w": 3},
}
SPARSE = "u08"


def _num(v: str) -> float:
    return float("nan") if v in ("NA", "NaN") else float(v)


@cache
def _panel() -> Panel:
    with (FIXTURES / "panel50_input.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    units = tuple(rows[0][1:])
    counts = np.array([[_num(v) for v in r[1:]] for r in rows[1:]])
    return Panel(counts=counts, units=units, freq=52)


@cache
def _r_output(setting: str) -> dict[str, dict[str, np.ndarray]]:
    with (FIXTURES / "panel50.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["setting"] == setting]
    out: dict[str, dict[str, np.ndarray]] = {}
    for unit in dict.fromkeys(r["unit"] for r in rows):
        sel = [r for r in rows if r["unit"] == unit]
        out[unit] = {
            k: np.array([_num(r[k]) for r in sel]) for k in sel[0] if k not in ("setting", "unit")
        }
    return out


def _run(setting: str, panel: Panel) -> DetectionResult:
    fn = farrington if setting == "classic" else farrington_flexible
    return fn(panel, monitor=slice(-50, None), **SETTINGS[setting])


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_unit_of_the_panel_agrees_with_r(setting: str) -> None:
    panel = _panel()
    res = _run(setting, panel)  # raised "SVD did not converge" before
    r_out = _r_output(setting)
    assert set(r_out) == set(panel.units)
    for j, unit in enumerate(panel.units):
        out = r_out[unit]
        assert res.index.tolist() == (out["t"].astype(int) - 1).tolist()
        ours = {k: v[:, j] for k, v in _columns(res).items()}
        for col in ("upperbound", "expected", "score", "pvalue", "mu0", "phi", "trend_coef"):
            if setting == "classic" and col != "upperbound":
                continue  # R's sts wrapper of the classic method reports bounds and alarms
            a, b = ours[col], out[col]
            if col == "upperbound" and setting == "noufaily":
                # Integer NB quantiles: equal, or one apart at a CDF tie (README rule).
                ok = np.isnan(a) == np.isnan(b)
                assert ok.all(), f"{unit} {col}: NA differs"
                assert np.all(np.abs(a[~np.isnan(a)] - b[~np.isnan(b)]) <= 1), unit
                continue
            O.assert_close(a, b, RTOL, ATOL, col, f"{setting}/{unit}")
        if setting != "classic":
            assert np.array_equal(ours["trend"], out["trend"]), f"{unit} trend"
        tie = O.ties(out["observed"], out["upperbound"], RTOL, ATOL)
        O.assert_alarms_match(ours["alarm"], out["alarm"], tie, f"{setting}/{unit}")
    assert res.reason is not None and not res.reason.any()  # R gave every unit a result


def _columns(res: DetectionResult) -> dict[str, np.ndarray]:
    """Every output, all units: (n_monitored, U) arrays."""
    return {
        "upperbound": res.upperbound,
        "alarm": res.alarm,
        "expected": res.expected,
        "score": res.score,
        **res.extra,
    }


def test_the_sparse_unit_is_what_r_says_na_only_where_r_has_na() -> None:
    """R: no bound (fewer than 5 cases in 4 weeks), alarm 0, but a fitted mean, phi, score."""
    out = _r_output("issue")[SPARSE]
    assert np.isnan(out["upperbound"]).all() and np.all(out["alarm"] == 0)
    assert np.isfinite(out["phi"]).all() and np.isfinite(out["score"]).all()
    res = _run("issue", _panel())
    j = _panel().units.index(SPARSE)
    assert np.isnan(res.upperbound[:, j]).all() and np.all(res.alarm[:, j] == 0)
    assert np.isfinite(res.extra["phi"][:, j]).all()


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_unit_gets_the_same_alone_as_in_the_panel(setting: str) -> None:
    panel = _panel()
    whole = _run(setting, panel)
    for j in (0, panel.units.index(SPARSE), 49):
        alone = _run(setting, panel.column(j))
        for name in ("upperbound", "expected", "alarm", "score"):
            np.testing.assert_allclose(
                getattr(alone, name)[:, 0], getattr(whole, name)[:, j], rtol=1e-9, atol=1e-12
            )
