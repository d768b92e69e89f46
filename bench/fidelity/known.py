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
    """Ours equals R's outputs once run with R's apparent window rule for ``M >= 0``
    (``bench/fidelity/glrnb_window_rules.R``): the GLR without the one-point window
    (``Mtilde = 2``), the LR with ``theta`` given without any limit (``M = -1``: R's LR is the
    recursive CUSUM whatever M). With ``ret = "cases"``, a point that no window reaches yet
    (the first monitored one) needs "0" cases in R, NaN in ours."""
    from bench.fidelity.compare import compare_columns
    from bench.fidelity.ours import run_ours

    cols = (r or {}).get("columns")
    if not cols:
        return False
    alt = copy.deepcopy(case)
    if alt["control"].get("theta") is None:
        alt["control"]["Mtilde"] = 2
    else:
        alt["control"]["M"] = -1
    try:
        ours = run_ours(alt)
    except (ValueError, TypeError):
        return False
    if alt["control"].get("ret") == "cases":
        ours["upperbound"] = [
            0.0 if np.isnan(o) and theirs == 0.0 else o
            for o, theirs in zip(ours["upperbound"], cols["upperbound"], strict=True)
        ]
    return compare_columns(alt, ours, cols).status == "equal"


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


def _median_twin_tie(n: int, level: float) -> bool:
    """The two-sided median interval's best rank pairs for ``n`` values at ``level`` tie: a pair
    (r, s) and its mirror (n+1-s, n+1-r) have the same Binomial(n, 1/2) coverage, so the last
    bits of the CDF decide which one EnvStats keeps (R's ``pbinom`` and scipy's differ there)."""
    from ruralwatch.epi.assess.mem import _binom_cdf

    a = 1.0 - level
    r0 = next((r for r in range(1, n + 1) if _binom_cdf(r - 1, n, 0.5) >= a / 2), None)
    s0 = next((s for s in range(n, 0, -1) if _binom_cdf(s - 1, n, 0.5) <= 1 - a / 2), None)
    if r0 is None or s0 is None:
        return False
    cov = sorted(
        c - level
        for r in range(r0 - 2, r0 + 3)
        for s in range(s0 - 2, s0 + 3)
        if 1 <= r < s <= n and (c := _binom_cdf(s - 1, n, 0.5) - _binom_cdf(r - 1, n, 0.5)) >= level
    )
    return len(cov) > 1 and cov[1] - cov[0] < 1e-12


def _mem_tie_explains(case: dict[str, Any], v: Verdict, r: dict[str, Any] | None) -> bool:
    """Every output that differs is a limit of a two-sided median interval (type 3) whose
    best rank pairs tie (M1)."""
    cols = (r or {}).get("columns") or {}
    ctl = case["control"]
    if not cols or not v.detail:
        return False

    def n_of(key: str) -> int:
        return int(cols[key][0])

    for col in _cols(v):
        name = col.removeprefix("full_")
        levels: list[float]
        if name.startswith(("pre_", "post_")):
            kind, tails = ctl["i.type.threshold"], ctl["i.tails.threshold"]
            levels = [ctl["i.level.threshold"]]
            ns = [n_of("n_pre_values" if name.startswith("pre_") else "n_post_values")]
        elif name.startswith(("medium_", "high_", "veryhigh_")):
            kind, tails = ctl["i.type.intensity"], ctl["i.tails.intensity"]
            k = ("medium_", "high_", "veryhigh_").index(name.split("_")[0] + "_")
            levels = [ctl["i.level.intensity"][k]]
            ns = [n_of("n_epi_full_values" if col.startswith("full_") else "n_epi_values")]
        elif name.startswith(("length_", "percent_", "start_")):
            kind, tails, levels = ctl["i.type.other"], 2, [ctl["i.level.other"]]
            ns = [n_of("n_seasons")]
        elif name.startswith("typ_"):
            kind, tails, levels = ctl["i.type.curve"], 2, [ctl["i.level.curve"]]
            ns = list(range(2, n_of("n_seasons") + 1))
        else:
            return False
        if kind != 3 or tails != 2:
            return False
        if not any(_median_twin_tie(n, lv) for n in ns for lv in levels):
            return False
    return True


_EVOLUTION_AS_MODEL = {
    "epidemic": "pre_threshold",
    "postepidemic": "post_threshold",
    "medium": "medium_threshold",
    "high": "high_threshold",
    "veryhigh": "veryhigh_threshold",
    "durationll": "length_lower",
    "durationul": "length_upper",
    "percentagell": "percent_lower",
    "percentageul": "percent_upper",
    "startll": "start_lower_int",
    "startul": "start_upper_int",
}


def _evolution_tie_explains(case: dict[str, Any], v: Verdict, r: dict[str, Any] | None) -> bool:
    """M1 in memevolution: at every model (row) where an output differs, that output is a
    limit of a two-sided median interval of the model (memmodel on the seasons R used) whose
    best rank pairs tie."""
    from bench.fidelity import memcases
    from bench.fidelity.ours import run_ours

    cols = (r or {}).get("columns") or {}
    if not cols or not v.detail:
        return False
    try:
        ours = run_ours(case)
    except (ValueError, TypeError):
        return False
    base = {k: x for k, x in case["control"].items() if not k.startswith("i.evolution")}
    n_seasons = len(case["data"])
    for col in _cols(v):
        if col not in _EVOLUTION_AS_MODEL:
            return False
        rtol, atol = memcases.tolerances(case, [col])[col]
        for i, (a, b) in enumerate(zip(ours[col], cols[col], strict=True)):
            if (np.isnan(a) and np.isnan(b)) or abs(a - b) <= atol + rtol * abs(b):
                continue
            used = [j for j in range(n_seasons) if cols[f"used_{j + 1}"][i] == 1]
            sub = {
                **case,
                "family": "mem",
                "r_function": "memmodel",
                "data": [case["data"][j] for j in used],
                "season_names": [case["season_names"][j] for j in used],
                "control": {**base, "i.seasons": None},
            }
            try:
                model = run_ours(sub)
            except (ValueError, TypeError):
                return False
            fake = Verdict("differ", detail=[f"{_EVOLUTION_AS_MODEL[col]}: differs"])
            if not _mem_tie_explains(sub, fake, {"columns": model}):
                return False
    return True


def known_issue(case: dict[str, Any], v: Verdict, r: dict[str, Any] | None = None) -> str | None:
    """The issue item or finding that explains this disagreement (R's outcome ``r``), or
    ``None``."""
    text = " ".join(v.detail)
    fam, ctl, kind = case["family"], case["control"], case["kind"]
    cols = _cols(v)
    if fam == "memevolution":
        if v.status == "differ" and _evolution_tie_explains(case, v, r):
            return "M1: two-sided median interval: mirror rank pairs tie, R's pbinom rounding picks"
        return None
    if fam == "mem":
        if v.status == "differ" and _mem_tie_explains(case, v, r):
            return "M1: two-sided median interval: mirror rank pairs tie, R's pbinom rounding picks"
        return None
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
        f14 = "F14: with M >= 0 R's GLR leaves out the one-point window, R's LR ignores M"
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
