"""Retention across apps (issue 15): the village detail of old dates and the village
judgements of the same dates, moved to one file in one transaction and put back together.

``reporting.archive`` does the work (file, check, deletion, the archived period) and may not
import the assessments above it; this module hands it the assessments' section. The command
(``ruralwatch reports archive`` / ``restore``) and any scheduler call these two functions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ruralwatch.assessments.archive import VillageJudgements
from ruralwatch.reporting import archive as detail

SECTIONS = (VillageJudgements(),)


def archive(before: dt.date, directory: Path) -> detail.ArchiveSummary:
    """Archive the village detail and village judgements dated before ``before``."""
    return detail.archive(before, directory, SECTIONS)


def restore(path: Path) -> detail.ArchiveSummary:
    """Put back everything an archive file holds (checksum checked; idempotent)."""
    return detail.restore(path, SECTIONS)
