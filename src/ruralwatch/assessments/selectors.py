"""Reads of the panels assessment needs and of stored judgements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.assessments.models import Judgement
from ruralwatch.reporting.selectors import ValuesRead, values_by_area


def subtree_series(
    root_path: str,
    indicator: str,
    start: dt.date,
    end: dt.date,
    report_values: ValuesRead | None = None,
    *,
    rolled: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Areas of a subtree (code, name, level, parent, population) and their daily values.

    Two queries for the values: roll-ups for levels 1–4, reported values for villages (each
    one text line per area on PostgreSQL, :func:`ruralwatch.reporting.selectors.values_by_area`);
    ``report_values`` reads the latter instead (the same rows: the cycle passes a read that
    takes the days the validation kept from its copies, ``intake.screen_days.report_values``).
    Without ``rolled``, only the reported values (the caller sums them up itself).
    """
    areas = pl.DataFrame(
        list(
            Area.objects.filter(path__startswith=root_path)
            .order_by("level", "code")
            .values_list("code", "name", "level", "parent_id", "population")
        ),
        schema={
            "code": pl.String,
            "name": pl.String,
            "level": pl.Int64,
            "parent": pl.String,
            "population": pl.Int64,
        },
        orient="row",
    )
    if report_values is None:
        reported = values_by_area("report", indicator, start, end, root_path=root_path)
    else:
        reported = report_values(root_path, indicator, start, end)
    if not rolled:
        return areas, reported
    ups = values_by_area("aggregate", indicator, start, end, root_path=root_path)
    return areas, pl.concat([ups, reported])


def judgement_for(area: Area, date: dt.date, indicator: str = "new_cases") -> Judgement | None:
    """The stored judgement of ``area`` on ``date`` (or the latest before it)."""
    return (
        Judgement.objects.filter(area=area, indicator_id=indicator, date__lte=date)
        .order_by("-date")
        .first()
    )


def judgement_summary(j: Judgement) -> dict[str, Any]:
    """The ``judgement`` block of the demo summary."""
    rebound = j.evidence.get("rebound") or {}
    return {
        "date": j.date.isoformat(),
        "level": j.level,
        "phase": j.phase,
        "rebound_after": {
            "event": rebound.get("event"),
            "detected": j.rebound_detected,
            **{k: v for k, v in rebound.items() if k not in ("event", "detected")},
        },
        "text_zh": j.text_zh,
        "text_en": j.text_en,
        "evidence": j.evidence,
    }


#: Titles of the band's values, for the curve's tooltip.
BAND_TITLES = {
    "reported": _("Reported so far"),
    "nowcast": _("Nowcast (late reports included)"),
    "lower": _("95% prediction interval, from"),
    "upper": _("to (95% prediction interval)"),
}


def nowcast_band(j: Judgement | None) -> list[dict[str, Any]]:
    """The nowcast of a judgement's last days for the epidemic curve: one dict per day (date,
    reported, nowcast, lower, upper); empty when the judgement has no nowcast or it added
    nothing (every report was in)."""
    nc = (j.evidence.get("nowcast") if j is not None else None) or {}
    if not nc or not nc.get("pending"):
        return []
    return [
        {"date": day, "reported": rep, "nowcast": mean, "lower": lo, "upper": hi}
        for day, rep, mean, lo, hi in zip(
            nc["days"], nc["reported"], nc["nowcast"], nc["lower"], nc["upper"], strict=True
        )
    ]
