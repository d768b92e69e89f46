"""Named parameter sets for detection rules.

The default rules themselves are data: the migrations ``0002_default_rules`` and
``0004_weekly_farrington_rule`` load them, and they are edited as data in the admin. Village
level: every death is a signal to verify (single-case rule). Townships: EARS C1–C3 on daily new
cases. Counties: EARS C2 on new cases and fever-clinic visits, the CIDARS moving percentile (P80
of the same 7-day windows in the previous 3 years), and weekly Farrington flexible (the settings
below, 5 years back); the last two stay silent until their history exists.
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
