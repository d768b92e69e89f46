"""EARS C1/C2/C3 against R surveillance ``earsC`` (README: relative 1e-9, absolute 1e-12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import get_detector
from tests.epi.detect import oracle

RTOL, ATOL = 1e-9, 1e-12
CASES = oracle.cases("earsC")


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_ears_matches_r(case: dict[str, Any]) -> None:
    ctl = case["control"]
    det = get_detector(f"ears-{ctl['method'].lower()}")
    res = det(
        oracle.panel_for(case),
        alpha=ctl["alpha"],
        baseline=ctl["baseline"],
        min_sigma=ctl["minSigma"],
        monitor=oracle.monitor_index(case),
    )
    out = oracle.load_output(case)
    cid = case["case_id"]
    np.testing.assert_array_equal(res.index + 1, out["t"].astype(np.int64))
    oracle.assert_close(res.observed[:, 0], out["observed"], 0, 0, "observed", cid)
    oracle.assert_close(res.upperbound[:, 0], out["upperbound"], RTOL, ATOL, "upperbound", cid)
    tie = oracle.ties(out["observed"], out["upperbound"], RTOL, ATOL)
    oracle.assert_alarms_match(res.alarm[:, 0], out["alarm"], tie, cid)


def test_default_monitor_is_r_default_range() -> None:
    """R's range for the cases is every point with enough history; so is ours by default."""
    for case in CASES:
        ctl = case["control"]
        res = get_detector(f"ears-{ctl['method'].lower()}")(
            oracle.panel_for(case), baseline=ctl["baseline"]
        )
        assert res.index[0] + 1 == ctl["range"]["first"], case["case_id"]
        assert res.index[-1] + 1 == ctl["range"]["last"], case["case_id"]


def test_zero_spread_edge_cases_are_exercised() -> None:
    """Some C3 cases hit R's 0/0 (NaN bound, NA alarm): make sure the oracle covers them."""
    n_nan = sum(
        int(np.isnan(oracle.load_output(c)["upperbound"]).sum())
        for c in CASES
        if c["control"]["method"] == "C3"
    )
    assert n_nan > 0
