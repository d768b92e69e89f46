"""CUSUM against R surveillance ``algo.cusum`` (README tolerances: closed form 1e-9 relative;
``m = "glm"`` 1e-6 relative)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import get_detector
from tests.epi.detect import oracle

CASES = oracle.cases("cusum")


def test_there_are_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_cusum_matches_r(case: dict[str, Any]) -> None:
    ctl = case["control"]
    rtol, atol = (1e-6, 1e-12) if ctl["m"] == "glm" else (1e-9, 1e-12)
    res = get_detector("cusum")(
        oracle.panel_for(case),
        k=ctl["k"],
        h=ctl["h"],
        m=ctl["m"],
        trans=ctl["trans"],
        alpha=ctl["alpha"],
        monitor=oracle.monitor_index(case),
    )
    out = oracle.load_output(case)
    cid = case["case_id"]
    np.testing.assert_array_equal(res.index + 1, out["t"].astype(np.int64))
    oracle.assert_close(res.extra["m"][:, 0], out["m"], rtol, atol, "m", cid)
    oracle.assert_close(res.extra["cusum"][:, 0], out["cusum"], rtol, atol, "cusum", cid)
    oracle.assert_close(res.upperbound[:, 0], out["upperbound"], rtol, atol, "upperbound", cid)
    tie = oracle.ties(out["cusum"], ctl["h"], rtol, atol)
    oracle.assert_alarms_match(res.alarm[:, 0], out["alarm"], tie, cid, propagate=True)


@pytest.mark.parametrize("case", CASES[:1], ids=[c["case_id"] for c in CASES[:1]])
def test_cusum_given_m_reproduces_r_statistic(case: dict[str, Any]) -> None:
    """Passing R's reference mean as an array gives the same statistic."""
    ctl = case["control"]
    out = oracle.load_output(case)
    res = get_detector("cusum")(
        oracle.panel_for(case),
        m=out["m"],
        trans=ctl["trans"],
        alpha=ctl["alpha"],
        monitor=oracle.monitor_index(case),
    )
    oracle.assert_close(res.score[:, 0], out["cusum"], 1e-9, 1e-12, "cusum", case["case_id"])
