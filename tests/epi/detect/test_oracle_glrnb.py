"""GLR detectors against R surveillance ``algo.glrnb``.

Own fit: ``mu0`` and the NB ``alpha`` (``MASS::glm.nb``) relative 1e-4, the statistic relative
1e-4. Given R's ``mu0`` and ``alpha``: the statistic relative 1e-8 (absolute 1e-9 for statistics
near zero, where R's own maximisation stops earlier), ``ret = "cases"`` exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import get_detector
from ruralwatch.epi.detect.rnames import RCall, r_call
from tests.epi.detect import oracle

CASES = oracle.cases("glrnb")


def _call(ctl: dict[str, Any], **given: Any) -> RCall:
    """The R call translated by :func:`ruralwatch.epi.detect.rnames.r_call` (the one map of R's
    names); ``given`` replaces control entries (R's own mu0 and alpha)."""
    return r_call("algo.glrnb", {**{k: v for k, v in ctl.items() if k != "range"}, **given})


def test_there_are_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_glr_own_fit_matches_r(case: dict[str, Any]) -> None:
    ctl = case["control"]
    call = _call(ctl)
    res = call.detector(oracle.panel_for(case), monitor=oracle.monitor_index(case), **call.params)
    out = oracle.load_output(case)
    cid = case["case_id"]
    np.testing.assert_array_equal(res.index + 1, out["t"].astype(np.int64))
    oracle.assert_close(res.extra["mu0"][:, 0], out["mu0"], 1e-4, 1e-12, "mu0", cid)
    oracle.assert_close(
        res.scalars["alpha"], [case["result_scalars"]["alpha"]], 1e-4, 1e-12, "alpha", cid
    )
    if ctl["ret"] == "value":
        oracle.assert_close(res.upperbound[:, 0], out["upperbound"], 1e-4, 1e-8, "glr", cid)
        tie = oracle.ties(out["upperbound"], ctl["c.ARL"], 1e-4, 1e-8)
    else:
        oracle.assert_close(res.upperbound[:, 0], out["upperbound"], 0, 0, "cases", cid)
        tie = oracle.ties(res.score[:, 0], ctl["c.ARL"], 1e-4, 1e-8)
    oracle.assert_alarms_match(res.alarm[:, 0], out["alarm"], tie, cid, propagate=True)


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_glr_given_r_mu0_matches_r(case: dict[str, Any]) -> None:
    ctl = case["control"]
    out = oracle.load_output(case)
    call = _call(ctl, mu0=out["mu0"], alpha=case["result_scalars"]["alpha"])
    res = call.detector(oracle.panel_for(case), monitor=oracle.monitor_index(case), **call.params)
    cid = case["case_id"]
    if ctl["ret"] == "value":
        oracle.assert_close(res.upperbound[:, 0], out["upperbound"], 1e-8, 1e-9, "glr", cid)
        tie = oracle.ties(out["upperbound"], ctl["c.ARL"], 1e-8, 1e-9)
    else:
        oracle.assert_close(res.upperbound[:, 0], out["upperbound"], 0, 0, "cases", cid)
        tie = oracle.ties(res.score[:, 0], ctl["c.ARL"], 1e-8, 1e-9)
    oracle.assert_alarms_match(res.alarm[:, 0], out["alarm"], tie, cid, propagate=True)


def test_restart_after_alarm() -> None:
    """After an alarm the windows start again at the next row."""
    from ruralwatch.epi.panel import Panel

    y = np.array([1.0] * 20 + [12.0, 1.0, 1.0])
    res = get_detector("glr-poisson")(
        Panel.single(y, freq=52), mu0=np.ones(23), monitor=np.arange(20, 23)
    )
    assert res.alarm[:, 0].tolist() == [1.0, 0.0, 0.0]
    # row 21 alone: y = 1 = mu0, so the statistic is 0 (the alarm window is forgotten)
    assert res.score[1, 0] == 0.0
    # GLR of one Poisson point: y log(y/mu) - (y - mu)
    assert res.score[0, 0] == pytest.approx(12 * np.log(12) - 11, rel=1e-12)
