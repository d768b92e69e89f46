"""Default detection rules (loaded by a data migration; edit them as data in the admin).

Village level: every death is a signal to verify (single-case rule). Townships: EARS C1–C3 on
daily new cases. Counties: EARS C2 on new cases and fever-clinic visits, and the CIDARS moving
percentile (P80 of the same 7-day windows in the previous 3 years), which stays silent until
three years of history exist.
"""

from __future__ import annotations

from typing import Any

# (indicator, level, method, params, history_days)
DEFAULT_RULES: list[tuple[str, int, str, dict[str, Any], int]] = [
    ("deaths", 5, "cidars-single-case", {"min_cases": 1}, 0),
    ("new_cases", 4, "ears-c1", {}, 28),
    ("new_cases", 4, "ears-c2", {}, 28),
    ("new_cases", 4, "ears-c3", {}, 28),
    ("new_cases", 3, "ears-c2", {}, 28),
    ("fever_visits", 3, "ears-c2", {}, 28),
    ("new_cases", 3, "cidars-mpm", {"percentile": 80, "years": 3, "k": 2}, 3 * 366 + 21),
]
