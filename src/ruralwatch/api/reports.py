"""Report upload: a CSV/XLSX file through the report importer, all-or-nothing."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Router
from ninja.errors import HttpError
from ninja.files import UploadedFile

from ruralwatch.accounts import access
from ruralwatch.api.common import user_of
from ruralwatch.api.schemas import ErrorOut, ImportSummaryOut, InvalidOut, ProblemsOut
from ruralwatch.core.problems import ImportRejected
from ruralwatch.intake.nightly import run_rules
from ruralwatch.reporting.selectors import report_rows_outside
from ruralwatch.reporting.services import import_reports

router = Router(tags=["reports"])

#: Upload limit in MiB (setting ``RURALWATCH_API_MAX_UPLOAD_MB``).
MAX_UPLOAD_MB = 50


def _safe_name(name: str) -> str:
    """The uploaded file's base name with only safe characters (the suffix picks the reader)."""
    base = re.sub(r"[^\w.\-]", "_", Path(name or "upload.csv").name)[-120:].lstrip(".")
    return base or "upload.csv"


@router.post(
    "/import",
    response={
        200: ImportSummaryOut,
        401: ErrorOut,
        403: ErrorOut,
        413: ErrorOut,
        422: ProblemsOut | InvalidOut,
    },
    summary="Import daily reports from a file",
)
def import_report_file(request: HttpRequest, file: File[UploadedFile]) -> Any:
    """Upload daily village reports (CSV, CSV.gz or XLSX; long or wide; Chinese or English
    headers) as multipart field ``file``.

    All or nothing: if any cell is wrong, nothing is stored and the answer (422) lists every
    problem with file, row, column and reason. Every area in the file must lie in your
    jurisdiction; an area outside it is reported like an unknown area. Re-importing the same
    file changes nothing. Roll-ups follow in the daily cycle.
    """
    user = user_of(request)
    limit = settings.RURALWATCH_API_MAX_UPLOAD_MB * 1024 * 1024
    if (file.size or 0) > limit:
        raise HttpError(413, _("The file is too large."))
    with tempfile.TemporaryDirectory(prefix="rw-upload-") as tmp:
        path = Path(tmp) / _safe_name(file.name or "")
        with path.open("wb") as out:
            for chunk in file.chunks():
                out.write(chunk)
        outside = report_rows_outside(path, access.scope_areas(user))
        if outside:
            raise ImportRejected(outside)
        summary = import_reports(path, user=user)
    if summary.dates:  # the validation rules' violations of those dates (docs/intake.md)
        run_rules(dt.date.fromisoformat(summary.dates[0]), dt.date.fromisoformat(summary.dates[-1]))
    return summary.as_dict()
