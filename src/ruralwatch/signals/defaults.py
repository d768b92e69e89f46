"""Default detection rules (loaded by a data migration; edit them as data in the admin).

Village level: every death is a signal to verify (single-case rule). Townships: EARS C1–C3 on
daily new cases. Counties: EARS C2 on new cases and fever-clinic visits, the CIDARS moving
percentile (P80 of the same 7-day windows in the previous 3 years), and weekly Farrington
flexible (Noufaily settings, 5 years back); the last two stay silent until their history exists.
"""

from __future__ import annotations

from typing import Any

# Farrington flexible with the improvements of Noufaily et al. (2013), weekly for counties.
NOUFAILY: dict[str, Any] = {
    "b": 5,
    "w": 3,
    "reweight": True,
    "weights_threshold": 2.58,
    "power_trans": "none",
    "threshold_method": "nbPlugin",
    "no_periods": 10,
    "past_weeks_not_included": 26,
}

WEEKLY_RULES: list[tuple[str, int, str, dict[str, Any], int]] = [
    ("new_cases", 3, "farrington-flexible", NOUFAILY, 5 * 366 + 35),
]

# (indicator, level, method, params, history_days) — daily rules
DEFAULT_RULES: list[tuple[str, int, str, dict[str, Any], int]] = [
    ("deaths", 5, "cidars-single-case", {"min_cases": 1}, 0),
    ("new_cases", 4, "ears-c1", {}, 28),
    ("new_cases", 4, "ears-c2", {}, 28),
    ("new_cases", 4, "ears-c3", {}, 28),
    ("new_cases", 3, "ears-c2", {}, 28),
    ("fever_visits", 3, "ears-c2", {}, 28),
    ("new_cases", 3, "cidars-mpm", {"percentile": 80, "years": 3, "k": 2}, 3 * 366 + 21),
]
