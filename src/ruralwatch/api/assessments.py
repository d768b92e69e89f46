"""Judgements of the epidemic situation: level, phase, rebound watch, sentences, evidence."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Router

from ruralwatch.accounts import access
from ruralwatch.api.common import known_indicator, report_date, user_of
from ruralwatch.api.schemas import Code, Day, ErrorOut, InvalidOut, JudgementOut
from ruralwatch.assessments.selectors import judgement_for, judgement_summary

router = Router(tags=["judgements"])


@router.get(
    "/{code}",
    response={200: JudgementOut, 401: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    summary="The judgement of an area",
)
def judgement(
    request: HttpRequest, code: Code, date: Day | None = None, indicator: Code = "new_cases"
) -> dict[str, Any]:
    """The stored judgement of the area on ``date`` (or the latest one before it; default:
    the latest reported date): epidemic level, phase, post-event rebound watch, the sentence
    in Chinese and English, and the evidence (method, parameters, baseline, intervals)."""
    area = access.access_area_by_code(user_of(request), code)
    known_indicator(indicator)
    found = judgement_for(area, report_date(date), indicator)
    if found is None:
        raise Http404(_("No judgement for this area and date."))
    summary = judgement_summary(found)
    return {
        **summary,
        "area": area.code,
        "indicator": found.indicator_id,
        "date": found.date,
        "level_label": found.level_label,
        "phase_label": found.phase_label,
        "rebound": summary["rebound_after"],
        "pooled": found.pooled,
        "text": found.text(get_language() or "zh-hans"),
    }
