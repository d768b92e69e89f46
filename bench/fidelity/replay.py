"""Show a saved regression case: ours against R's saved outcome, row by row.

``python -m bench.fidelity.replay tests/fidelity/cases/<family>/<case>.json [...]``
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from bench.fidelity import saved
from bench.fidelity.ours import run_ours


def show(path: Path) -> None:
    case = saved.load(path)
    print(f"== {path}")
    print(f"   {case['r_function']} {case['options']}")
    print(f"   known issue: {case.get('known_issue')}")
    v = saved.check(case)
    print(f"   verdict now: {v.status}; " + "; ".join(v.detail))
    r = case["r"]
    if r["error"] is not None:
        print(f"   R error: {r['error']}")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            ours = run_ours(case)
        except Exception as exc:  # shown, not judged
            print(f"   ours raised {type(exc).__name__}: {exc}")
            return
    cols = [c for c in r["columns"] if c in ours and c not in ("observed",)]
    key = cols[0]
    for i in range(len(r["columns"][key])):
        diffs = []
        for c in cols[1:]:
            a, b = ours[c][i], r["columns"][c][i]
            same = (math.isnan(a) and math.isnan(b)) or a == b
            if not same and not (
                math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * abs(b)
            ):
                diffs.append(f"{c}: ours {a:.10g} R {b:.10g}")
        if diffs:
            print(f"   {key}={r['columns'][key][i]:g}  " + "; ".join(diffs))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        show(Path(arg))
