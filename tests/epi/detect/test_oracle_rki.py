"""RKI 1/2/3 against R surveillance ``algo.rki*`` (relative 1e-9, absolute 1e-12), and the
derived Crow-Gardner table against the lookup table the R package uses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.detect import get_detector
from ruralwatch.epi.detect.rki import crow_gardner_limits
from tests.epi.detect import oracle
from tests.shared import ORACLES

RTOL, ATOL = 1e-9, 1e-12
CASES = oracle.cases("rki")


def _cidata() -> np.ndarray:
    return np.loadtxt(ORACLES / "surveillance" / "rki" / "CIdata.csv", delimiter=",", skiprows=1)


def test_crow_gardner_table_equals_cidata() -> None:
    tab = _cidata()
    n_max = int(tab[-1, 0])
    lower, upper = crow_gardner_limits(n_max)
    np.testing.assert_array_equal(tab[:, 0], np.arange(n_max + 1))
    np.testing.assert_allclose(upper, tab[:, 2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lower, tab[:, 1], rtol=0, atol=1e-12)


def test_crow_gardner_unrounded_limits_round_to_table() -> None:
    """The exact limits round to the table, except one published value at a rounding edge."""
    tab = _cidata()
    lower, upper = crow_gardner_limits(int(tab[-1, 0]), decimals=None)
    assert np.all(np.abs(np.asarray(lower) - tab[:, 1]) <= 5e-4 + 1e-12)
    diff = np.abs(np.asarray(upper) - tab[:, 2])
    assert np.all(diff <= 5.2e-4)
    assert np.flatnonzero(diff > 5e-4).tolist() == [11]


def test_there_are_cases() -> None:
    assert len(CASES) >= 9


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_rki_matches_r(case: dict[str, Any]) -> None:
    res = get_detector(case["variant"])(oracle.panel_for(case), monitor=oracle.monitor_index(case))
    out = oracle.load_output(case)
    cid = case["case_id"]
    np.testing.assert_array_equal(res.index + 1, out["t"].astype(np.int64))
    oracle.assert_close(res.upperbound[:, 0], out["upperbound"], RTOL, ATOL, "upperbound", cid)
    tie = oracle.ties(out["observed"], out["upperbound"], RTOL, ATOL)
    oracle.assert_alarms_match(res.alarm[:, 0], out["alarm"], tie, cid)
