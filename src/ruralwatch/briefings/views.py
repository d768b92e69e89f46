"""Briefing pages: the archive of an area (download list) with the "issue briefing" form, and
the download of an archived file. Views parse, call one service or selector, and render."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from ruralwatch.accounts import access
from ruralwatch.assessments.models import Judgement
from ruralwatch.briefings.access import access_briefing_by_id
from ruralwatch.briefings.models import Format, Language
from ruralwatch.briefings.selectors import briefings_of
from ruralwatch.briefings.services import BriefingError, file_path, issue_briefing
from ruralwatch.core import asof
from ruralwatch.core.dates import request_day
from ruralwatch.core.i18n import is_english
from ruralwatch.reporting.selectors import latest_date


def _default_date(code: str) -> dt.date | None:
    """The latest judged date of the area, else the latest reported date."""
    judged: dt.date | None = (
        Judgement.objects.filter(area_id=code).order_by("-date").values_list("date", flat=True)
    ).first()
    return judged or latest_date()


@login_required
@require_http_methods(["GET", "POST"])
def area_briefings(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the archived briefings of the area. POST: issue one (date, language, format),
    then back to the list (the new one on top)."""
    area = access.access_area_by_code(request.user, code)
    default = asof.chosen(request) or _default_date(area.code)
    errors: list[str] = []
    if request.method == "POST":
        day = request_day(request.POST.get("date", "").strip())
        language = request.POST.get("language", "")
        fmt = request.POST.get("format", Format.PDF)
        if day is None:
            errors.append(_("Enter the date as YYYY-MM-DD."))
        if language not in Language.values:
            errors.append(_("Choose a language."))
        if fmt not in Format.values:
            errors.append(_("Choose a format."))
        if not errors and day is not None:
            try:
                made = issue_briefing(area.code, day, language=language, fmt=fmt, user=request.user)
            except BriefingError as exc:
                errors.append(str(exc))
            else:
                messages.success(
                    request,
                    _("Briefing No. %(n)s of %(d)s issued.")
                    % {"n": made.issue, "d": made.date.isoformat()},
                )
                return redirect(reverse("briefings:area", args=[area.code]) + f"#b{made.pk}")
    lang = get_language() or "zh-hans"
    return render(
        request,
        "briefings/area.html",
        {
            "area": area,
            "briefings": briefings_of(area),
            "default_date": request.POST.get("date") if errors else default,
            "default_language": "en" if is_english(lang) else "zh-hans",
            "languages": Language.choices,
            "formats": Format.choices,
            "errors": errors,
        },
        status=422 if errors else 200,
    )


@login_required
@require_GET
def download(request: HttpRequest, briefing_id: int) -> FileResponse:
    """The archived file, as it was issued (PDF as an attachment; HTML shown inline)."""
    briefing = access_briefing_by_id(request.user, briefing_id)
    path = file_path(briefing)
    if not path.is_file():
        raise Http404(_("No such briefing."))
    response = FileResponse(
        path.open("rb"),
        content_type=briefing.content_type,
        as_attachment=briefing.format == Format.PDF,
        filename=briefing.filename,
    )
    response["X-Content-SHA256"] = briefing.sha256
    response["X-Content-Type-Options"] = "nosniff"
    return response
