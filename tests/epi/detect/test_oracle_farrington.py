"""Farrington (classic) and farringtonFlexible against the R ``surveillance`` oracles.

Tolerances are the oracle README's: relative 1e-5 / absolute 1e-8 for fitted quantities, trend
flags exact, nbPlugin bounds exact (or ±1 at a CDF tie), alarms exact except at ties. Every
case is compared at every time point, in every column R reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from ruralwatch.epi.detect.base import DetectionResult
from ruralwatch.epi.detect.rnames import r_call
from ruralwatch.epi.panel import Panel
from tests.epi.detect import oracle as O  # noqa: N812

RTOL, ATOL = 1e-5, 1e-8


def _run(case: dict[str, Any]) -> DetectionResult:
    control = case["control"]
    panel = O.panel_for(case, with_population=bool(control.get("populationOffset")))
    return run_case(case, panel, O.monitor_index(case))


def run_case(case: dict[str, Any], panel: Panel, monitor: np.ndarray) -> DetectionResult:
    """Our detector for an R case (``algorithm`` and the R ``control`` names) on ``panel``,
    translated by :func:`ruralwatch.epi.detect.rnames.r_call` (the one map of R's names)."""
    control = {k: v for k, v in case["control"].items() if k != "range"}
    call = r_call(case["algorithm"], control)
    return call.detector(panel, monitor=monitor, **call.params)


def columns(res: DetectionResult) -> dict[str, np.ndarray]:
    return {
        "upperbound": res.upperbound[:, 0],
        "alarm": res.alarm[:, 0],
        "expected": res.expected[:, 0],
        "score": res.score[:, 0],
        **{k: v[:, 0] for k, v in res.extra.items()},
    }


def _nb_tie(case: dict[str, Any], out: dict[str, np.ndarray]) -> np.ndarray:
    """Where the NB (Poisson) CDF at R's bound is within 1e-6 of 1 - alpha."""
    alpha = float(case["control"]["alpha"])
    mu, phi, ub = out["mu0"], out["phi"], out["upperbound"]
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.where(
            phi > 1,
            stats.nbinom.cdf(ub, mu / (phi - 1), 1 / phi),
            stats.poisson.cdf(ub, mu),
        )
        cdf_below = np.where(
            phi > 1,
            stats.nbinom.cdf(ub - 1, mu / (phi - 1), 1 / phi),
            stats.poisson.cdf(ub - 1, mu),
        )
    near = (np.abs(cdf - (1 - alpha)) < 1e-6) | (np.abs(cdf_below - (1 - alpha)) < 1e-6)
    return np.asarray(near, dtype=bool)


def compare(
    case: dict[str, Any], ours: dict[str, np.ndarray], out: dict[str, np.ndarray], rows: np.ndarray
) -> None:
    cid = case["case_id"]
    nb = case["control"].get("thresholdMethod") in ("nbPlugin", "muan")
    for col in out:
        if col in ("t", "observed", "alarm"):
            continue
        a, b = ours[col][rows], out[col][rows]
        if col == "trend":
            assert np.array_equal(a, b), f"{cid} trend flags differ at {np.flatnonzero(a != b)}"
        elif col == "upperbound" and nb:
            tie = _nb_tie(case, out)[rows]
            O.assert_close(np.where(tie, b, a), b, 0.0, 0.0, col, cid)
            assert np.all(np.abs(a[tie] - b[tie]) <= 1), f"{cid} nbPlugin bound off by > 1"
        else:
            O.assert_close(a, b, RTOL, ATOL, col, cid)
    tie = O.ties(out["observed"], out["upperbound"], RTOL, ATOL)
    O.assert_alarms_match(ours["alarm"][rows], out["alarm"][rows], tie[rows], cid)


# --------------------------------------------------------------------------------------------
# Classic algo.farrington: every case, every column.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", O.cases("farrington"), ids=O.case_ids("farrington"))
def test_classic_farrington_matches_r(case: dict[str, Any]) -> None:
    out = O.load_output(case)
    res = _run(case)
    assert res.index.tolist() == (out["t"].astype(int) - 1).tolist()
    ours = columns(res)
    compare(case, ours, out, np.arange(out["t"].size))
    # median_threshold is the fitted mean; the score and alarm follow the bound.
    assert res.params["alpha"] == case["control"]["alpha"]


# --------------------------------------------------------------------------------------------
# farringtonFlexible
# --------------------------------------------------------------------------------------------


_FLEX = O.cases("farringtonFlexible")
_FLEX_IDS = O.case_ids("farringtonFlexible")


@pytest.mark.parametrize("case", _FLEX, ids=_FLEX_IDS)
def test_flexible_matches_r_everywhere(case: dict[str, Any]) -> None:
    out = O.load_output(case)
    res = _run(case)
    assert res.index.tolist() == (out["t"].astype(int) - 1).tolist()
    ours = columns(res)
    compare(case, ours, out, np.arange(out["t"].size))


def test_flexible_cases_cover_kept_trends_and_both_thresholds() -> None:
    """The comparison above means something only if R kept a trend somewhere, with delta."""
    kept = {
        c["control"]["thresholdMethod"] for c in _FLEX if np.any(O.load_output(c)["trend"] == 1)
    }
    assert kept == {"delta", "nbPlugin"}


def test_flexible_params_recorded_and_defaults() -> None:
    case = _FLEX[0]
    res = _run(case)
    assert res.method == "farrington-flexible"
    assert res.params["past_weeks_not_included"] == case["control"]["pastWeeksNotIncluded"]
    assert set(res.extra) == {"pvalue", "mu0", "phi", "trend", "trend_coef"}
