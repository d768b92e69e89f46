"""Causes of the disagreements found so far: saved cases that show one are ``xfail(strict)``.

Each rule names an item of issue 9 or a finding of the fidelity runs (``F1`` … , described in
``docs/validation.md``, "Agreement with R over generated cases"). When the cause is fixed the saved
case passes, the strict xfail fails, and the owner deletes ``known_issue`` from the case file.
A disagreement no rule explains is saved without ``known_issue``: its test fails until someone
looks at it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from bench.fidelity.compare import Verdict


def _cols(v: Verdict) -> set[str]:
    return {d.split(":")[0] for d in v.detail}


def _tiny_r_fit(r: dict[str, Any] | None, text: str) -> bool:
    """R's fitted mean is below 1e-6 somewhere we gave NaN (R fitted what little there was)."""
    cols = (r or {}).get("columns") or {}
    fitted = cols.get("expected") or cols.get("median_threshold") or []
    return "(ours nan" in text and any(x is not None and abs(x) < 1e-6 for x in fitted)


def _window_rule_explains(case: dict[str, Any], r: dict[str, Any] | None) -> bool:
    """Ours equals R's outputs once run with R's apparent window rule for ``M >= 0``: without
    the one-point window (``Mtilde = 2``) for the GLR, one point further back (``M + 1``) for
    the LR with ``theta`` given."""
    from bench.fidelity.compare import compare_columns
    from bench.fidelity.ours import run_ours

    cols = (r or {}).get("columns")
    if not cols:
        return False
    alt = copy.deepcopy(case)
    if alt["control"].get("theta") is None:
        alt["control"]["Mtilde"] = 2
    else:
        alt["control"]["M"] = int(alt["control"]["M"]) + 1
    try:
        return compare_columns(alt, run_ours(alt), cols).status == "equal"
    except (ValueError, TypeError):
        return False


def _kappa_search_explains(case: dict[str, Any], r: dict[str, Any] | None) -> bool:
    """R's negative binomial statistic is exactly 0 at the first point where the statistics
    differ and ours is positive there: R's numerical search for kappa failed (F5; the exact
    maximum of the concave profile log LR is ours, see ``glrnb_kappa_search.R``)."""
    from bench.fidelity.ours import run_ours

    cols = (r or {}).get("columns")
    if not cols or case["control"].get("ret") != "value" or "upperbound" not in cols:
        return False
    alpha = np.asarray(cols.get("alpha") or [np.nan], dtype=np.float64)
    if not np.all(alpha > 0):  # Poisson (alpha 0): R's statistic is in closed form
        return False
    try:
        ours = np.asarray(run_ours(case)["upperbound"], dtype=np.float64)
    except (ValueError, TypeError):
        return False
    theirs = np.asarray(cols["upperbound"], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        off = np.flatnonzero(~np.isclose(ours, theirs, rtol=1e-4, atol=1e-8, equal_nan=True))
    return bool(off.size) and theirs[off[0]] == 0.0 and ours[off[0]] > 0.0


def known_issue(case: dict[str, Any], v: Verdict, r: dict[str, Any] | None = None) -> str | None:
    """The issue item or finding that explains this disagreement (R's outcome ``r``), or
    ``None``."""
    text = " ".join(v.detail)
    fam, ctl, kind = case["family"], case["control"], case["kind"]
    cols = _cols(v)
    if "SVD did not converge" in text:
        return "issue 9 item 1: one unit's failed fit stops the panel (SVD did not converge)"
    if fam == "estimate_R" and "must sum to 1" in text:
        return "issue 9 item 3: EpiEstim accepts a parametric SI that sums to less than 1"
    if fam in ("farrington", "farringtonFlexible"):
        if kind == "all_equal" and cols & {"trend", "trend_coef"}:
            return "F9: constant series: the trend test decides on rounding noise"
        if kind in ("sparse", "sparse_quiet_end", "all_zero") and _tiny_r_fit(r, text):
            return "F20: a fit run towards 0 that ours stops as failed (NaN), R returns ~0"
        if kind in ("sparse", "sparse_quiet_end", "all_zero") and "(ours nan" not in text:
            return "F11: a fit run towards 0 (sparse series): near-0 numbers that differ from R's"
    if fam == "farringtonFlexible":
        gap = case["freq"] - 2 * ctl["w"] - 1
        if ctl["noPeriods"] > 2 and gap <= ctl["noPeriods"] - 1:
            return "F2: a gap of at most noPeriods - 1 points: R gives a window point a gap level"
        if ctl["thresholdMethod"] == "muan" and v.status == "differ":
            return "issue 9 item 4: muan's bound still differs from R's"
    if fam == "glrnb":
        if "1e+99" in text:
            return "F6: ret = 'cases': R gives 1e+99 where the count at t is 0"
        sparse = kind in ("sparse", "sparse_quiet_end", "all_zero")
        if ctl.get("alpha") is None and sparse and cols & {"mu0", "alpha"}:
            return "F7: glm.nb on a separated sparse series: ours NaN, R where its iterations stop"
        if kind == "all_equal":
            return "F8: glm.nb on a constant series: ours NaN, R alpha near 0"
        f14 = "F14: with M >= 0 R's GLR leaves out the one-point window (LR: reaches M + 1 back)"
        f5 = "F5: R's NB kappa search gives 0 where the exact maximum is positive (|kappa| large)"
        if ctl["dir"] == "dec" and "upperbound" in cols and "alpha" not in cols:
            if ctl["M"] >= 0 and _window_rule_explains(case, r):
                return f14
            if _kappa_search_explains(case, r):
                return f5
            return "F15: the statistic differs with the same mu0 and alpha (not explained)"
        if cols <= {"alpha", "upperbound", "alarm"} and "alpha" in cols:
            return "F8: glm.nb alpha near 0 (Poisson limit): R stops at theta.ml's iteration limit"
        if ctl["ret"] == "cases" and kind == "huge":
            return "F17: ret = 'cases' with counts above xMax: R gives 0 or a count, ours NaN"
        if cols <= {"upperbound", "alarm"}:
            if v.na_mismatch == 0 and v.max_rel < 1e-3:
                return "F16: a statistic near 0 magnifies the 1e-5 mu0 fit difference past 1e-4"
            if ctl["M"] >= 0 and _window_rule_explains(case, r):
                return f14
            if _kappa_search_explains(case, r):
                return f5
        return "F15: the statistic differs with the same mu0 and alpha (not explained)"
    glm_near = cols <= {"upperbound", "m", "cusum"} and v.max_rel < 1e-3
    if fam == "cusum" and ctl.get("m") == "glm" and glm_near:
        return "F19: CUSUM m = 'glm' run towards 0 (no MLE): the stopping point differs by rounding"
    if fam == "cusum" and "needs at least 3 rows" in text:
        return "F12: m = 'glm' with fewer than 3 points of history: ours refuses, R fits"
    sparse = kind in ("all_zero", "sparse", "sparse_quiet_end")
    if fam == "cusum" and ctl.get("m") != "glm" and sparse:
        return "F10: CUSUM with m = 0: R's standardised count is 0/0 = NA from there on"
    return None
