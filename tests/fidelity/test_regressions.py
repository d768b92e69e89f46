"""Cases on which RuralWatch once disagreed with R, saved by ``make fidelity``; run without R.

Each file under ``cases/<family>/`` holds the input series, R's control list and R's outcome
(its output columns, or its error). A case with R output must now agree within the oracle
README's tolerances; a case R refused must not crash our code (a clear error or a result).
``known_issue`` marks a disagreement an open issue describes: the test is then
``xfail(strict=True)`` and fails as soon as the fix makes it pass, so that the marker is removed
(except for F9, decided by rounding noise: there the xfail is not strict).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
from bench.fidelity import saved
from bench.fidelity.compare import compare_columns

PATHS = saved.all_paths()


# Causes whose outcome is decided by rounding noise (the last bits of a fit, which differ
# between CPUs and BLAS builds): such a case may agree with R on one machine and not another.
_ROUNDING_NOISE = ("F9:",)


def _param(path: Path) -> object:
    reason = saved.load(path).get("known_issue")
    strict = not (reason or "").startswith(_ROUNDING_NOISE)
    marks = [pytest.mark.xfail(strict=strict, reason=reason)] if reason else []
    return pytest.param(path, marks=marks, id=f"{path.parent.name}/{path.stem}")


@pytest.mark.parametrize("path", [_param(p) for p in PATHS])
def test_saved_case_agrees_with_r(path: Path) -> None:
    case = saved.load(path)
    verdict = saved.check(case)
    if case["r"]["error"] is not None:
        assert verdict.status in ("both_refuse", "r_refuse_ours_result"), (
            f"R refused ({case['r']['error']}); ours: {verdict.detail}"
        )
    else:
        assert verdict.status == "equal", "; ".join(verdict.detail)


def test_there_are_saved_cases_for_the_harness_to_run() -> None:
    assert PATHS, "tests/fidelity/cases is empty"


def _col(columns: dict[str, list[float]]) -> str:
    for name in ("upperbound", "mean", "pre_threshold", "epidemic"):  # detection, R_t, MEM
        if name in columns:
            return name
    raise KeyError(f"no known output column in {sorted(columns)[:5]}")


def _has_numbers(columns: dict[str, list[float]] | None) -> bool:
    return columns is not None and any(not math.isnan(x) and x != 0 for x in columns[_col(columns)])


def test_comparison_flags_a_perturbed_bound_and_a_missing_value() -> None:
    """The comparison is not a rubber stamp: R's own numbers pass against themselves, and a
    relative change of 1e-3 in one bound or one NA in place of a number fails."""
    case = next(c for c in map(saved.load, PATHS) if _has_numbers(c["r"]["columns"]))
    r = case["r"]["columns"]
    assert compare_columns(case, r, r).status == "equal"
    col = _col(r)
    i = next(k for k, x in enumerate(r[col]) if not math.isnan(x) and x != 0)
    bumped = copy.deepcopy(r)
    bumped[col][i] *= 1.001
    assert compare_columns(case, bumped, r).status == "differ"
    missing = copy.deepcopy(r)
    missing[col][i] = math.nan
    v = compare_columns(case, missing, r)
    assert v.status == "differ" and v.na_mismatch == 1
