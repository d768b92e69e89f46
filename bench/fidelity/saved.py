"""Regression cases saved from fidelity runs: one JSON file per case under tests/fidelity/cases.

A saved case is a generated case (see :mod:`bench.fidelity.cases`) plus

* ``r``: R's outcome (``error``, ``warnings``, ``columns``), so the test runs without R;
* ``found``: the seed, date and what differed when the case was saved;
* ``r_code``: the R expression that gives R's outcome after ``source("bench/fidelity/run.R")``;
* ``known_issue``: ``None``, or the reason the case is expected to fail until an open issue is
  fixed (the test is then ``xfail(strict=True)``, so it flips when the fix lands).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.fidelity.compare import Verdict, compare
from bench.fidelity.ours import CLEAR_ERRORS, run_ours
from bench.fidelity.rrun import r_call

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "fidelity" / "cases"


def _clean(v: Any) -> Any:
    """JSON without NaN: missing numbers as null."""
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else ("Inf" if v > 0 else "-Inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _unclean(v: Any) -> Any:
    if v is None:
        return math.nan
    if v == "Inf":
        return math.inf
    if v == "-Inf":
        return -math.inf
    return float(v)


def save(
    case: dict[str, Any],
    r: dict[str, Any],
    verdict: Verdict,
    seed: int,
    date: str,
    known_issue: str | None,
) -> Path:
    path: Path = CASES_DIR / str(case["family"]) / f"{case['case_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        **case,
        "r": _clean(r),
        "found": {"seed": seed, "date": date, "status": verdict.status, "detail": verdict.detail},
        "known_issue": known_issue,
        # Reproduce in R: source("bench/fidelity/run.R"); then this expression.
        "r_code": r_call(case),
    }
    path.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    cols = data["r"].get("columns")
    if cols is not None:
        data["r"]["columns"] = {k: [_unclean(x) for x in v] for k, v in cols.items()}
    return data


def all_paths() -> list[Path]:
    return sorted(CASES_DIR.glob("*/*.json"))


def check(case: dict[str, Any]) -> Verdict:
    """Run a saved case through our code and compare with the saved R outcome."""
    try:
        ours = run_ours(case)
        err = None
    except Exception as exc:
        ours = None
        err = (type(exc).__name__, str(exc), isinstance(exc, CLEAR_ERRORS))
    return compare(case, ours, err, case["r"])


def reclassify() -> list[tuple[str, str | None, str | None]]:
    """Re-judge every saved case with the current code and set ``known_issue`` anew: ``None``
    where it now agrees with R, else the cause :mod:`bench.fidelity.known` gives. Returns
    (path, old, new) for the cases that changed."""
    from bench.fidelity.known import known_issue

    changed = []
    for path in all_paths():
        raw = json.loads(path.read_text(encoding="utf-8"))
        v = check(load(path))
        new = (
            None
            if v.agrees or v.status == "r_refuse_ours_result"
            else known_issue(raw, v, raw.get("r"))
        )
        if new != raw.get("known_issue"):
            changed.append((str(path.relative_to(REPO)), raw.get("known_issue"), new))
            raw["known_issue"] = new
            path.write_text(json.dumps(raw, separators=(",", ":")) + "\n", encoding="utf-8")
    return changed
