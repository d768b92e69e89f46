"""Retention across apps (issue 15): the village detail of old dates and the village
judgements of the same dates, moved to one file in one transaction and put back together.

``reporting.archive`` does the work (file, check, deletion, the archived period) and may not
import the assessments above it; this module hands it the assessments' section. The command
(``ruralwatch reports archive`` / ``restore``) and any scheduler call these two functions;
the daily cycle calls :func:`keep` when ``RURALWATCH_KEEP_VILLAGE_DAYS`` is set.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ruralwatch.assessments.archive import VillageJudgements
from ruralwatch.assessments.services import HISTORY_DAYS as ASSESSED_DAYS
from ruralwatch.intake.outliers import HISTORY_DAYS as SCREEN_HISTORY_DAYS
from ruralwatch.keyareas.selectors import HISTORY_DAYS as KEY_AREA_DAYS
from ruralwatch.reporting import archive as detail

SECTIONS = (VillageJudgements(),)
#: The fewest days of village detail, up to the cycle's date, that the cycle's steps read: the
#: assessment's village series, outlier screening's history before the screened week (the
#: cycle's default 7 days), the key areas' submissions.
MIN_KEEP_DAYS = max(ASSESSED_DAYS, SCREEN_HISTORY_DAYS + 7, KEY_AREA_DAYS)


def archive(before: dt.date, directory: Path) -> detail.ArchiveSummary:
    """Archive the village detail and village judgements dated before ``before``."""
    return detail.archive(before, directory, SECTIONS)


def restore(path: Path) -> detail.ArchiveSummary:
    """Put back everything an archive file holds (checksum checked; idempotent)."""
    return detail.restore(path, SECTIONS)


def keep(cycle_date: dt.date, days: int, directory: Path) -> dict[str, Any]:
    """Keep ``days`` days of village detail up to ``cycle_date`` and archive the days before
    (the daily cycle's retention step). Fewer days than the cycle reads is refused, with
    nothing archived: the next cycle would judge and screen villages on missing days."""
    if days < MIN_KEEP_DAYS:
        # in the cycle's record and the operators' log, in English as the other steps' errors
        raise ValueError(
            f"RURALWATCH_KEEP_VILLAGE_DAYS={days} is fewer than the {MIN_KEEP_DAYS} days of "
            "village detail the daily cycle reads; nothing was archived"
        )
    before = cycle_date - dt.timedelta(days=days - 1)
    return archive(before, directory).as_dict() | {"kept_from": before.isoformat()}
