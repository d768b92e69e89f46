"""EARS C1/C2/C3 against R surveillance ``earsC`` (README: relative 1e-9, absolute 1e-12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect.rnames import r_call
from tests.epi.detect import oracle

RTOL, ATOL = 1e-9, 1e-12
CASES = oracle.cases("earsC")


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_ears_matches_r(case: dict[str, Any]) -> None:
    # R's control list translated by rnames.r_call, the one map of R's names.
    call = r_call("earsC", {k: v for k, v in case["control"].items() if k != "range"})
    assert call.method == f"ears-{case['control']['method'].lower()}"
    res = call.detector(oracle.panel_for(case), monitor=oracle.monitor_index(case), **call.params)
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
        call = r_call("earsC", {"method": ctl["method"], "baseline": ctl["baseline"]})
        res = call.detector(oracle.panel_for(case), **call.params)
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
