"""The ground truth of injected report problems: kinds, ids and JSON output."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ERROR_KINDS", "TRUTH_KINDS", "truth_id", "truth_to_json"]

#: A village-day with no rows at all.
MISSING = "missing_report"
#: A village-day whose rows arrived after the deadline (next day 12:00, Asia/Shanghai).
LATE = "late_report"
#: One value typed with an extra zero (reported = 10 × true).
VALUE_X10 = "value_x10"
#: All of a day's values copied from the previous day's report.
COPIED = "copied_previous_day"
#: ``new_cases`` filled with the fever-visit count, so it exceeds ``antigen_pos + pcr_pos``.
CASES_EXCEED = "cases_exceed_positives"

ERROR_KINDS = (VALUE_X10, COPIED, CASES_EXCEED)
TRUTH_KINDS = (MISSING, LATE, *ERROR_KINDS)


def truth_id(kind: str, area: str, day: str, indicator: str | None = None) -> str:
    """Stable id ``kind:area:date[:indicator]``."""
    base = f"{kind}:{area}:{day}"
    return f"{base}:{indicator}" if indicator else base


def truth_to_json(truth: list[dict[str, Any]], *, indent: int | None = None) -> str:
    """The truth entries as a JSON list (UTF-8 text, keys in insertion order)."""
    return json.dumps(truth, ensure_ascii=False, indent=indent, default=str)
