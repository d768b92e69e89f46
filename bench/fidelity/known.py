"""Disagreements that an open issue already describes: their saved cases are ``xfail(strict)``.

Each rule names the issue and item; when the fix lands the saved case passes, the strict xfail
fails, and the owner removes ``known_issue`` from the case file (``tests/fidelity/README.md``).
"""

from __future__ import annotations

from typing import Any

from bench.fidelity.compare import Verdict


def known_issue(case: dict[str, Any], v: Verdict) -> str | None:
    """The open issue that explains this disagreement, or ``None`` (a new finding)."""
    text = " ".join(v.detail)
    fam, ctl = case["family"], case["control"]
    if "SVD did not converge" in text:
        return "issue 9 item 1: one unit's failed fit stops the panel (SVD did not converge)"
    if fam == "estimate_R" and "must sum to 1" in text:
        return "issue 9 item 3: EpiEstim accepts a discretised SI within 0.01 of 1"
    if fam == "farringtonFlexible" and v.status == "differ":
        if ctl.get("thresholdMethod") == "muan":
            return "issue 9 item 4: muan uses the Pearson dispersion where R uses the delta one"
        if ctl.get("reweight") is False:
            return "issue 9 item 4: the covariance dispersion is chosen as if reweighting were on"
    return None
