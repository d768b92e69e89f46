"""Reads of the panels assessment needs and of stored judgements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from django.utils.translation import gettext_lazy as _

from ruralwatch.areas.models import Area
from ruralwatch.assessments.models import Judgement
from ruralwatch.core import bulk
from ruralwatch.reporting.models import AggregateValue, ReportValue


def subtree_series(
    root_path: str, indicator: str, start: dt.date, end: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Areas of a subtree (code, name, level, parent, population) and their daily values.

    Two queries for the values: roll-ups for levels 1–4, reported values for villages.
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
    area = Area._meta.db_table
    # The whole tree needs no join on the areas (a third of the read on SQLite).
    join, where, args = "", "", [indicator, start.isoformat(), end.isoformat()]
    if root_path != "/":
        join = f"JOIN {area} a ON a.code = v.area_id "
        where = "AND a.path LIKE %s"
        args.append(root_path + "%")
    frames = []
    for table in (AggregateValue._meta.db_table, ReportValue._meta.db_table):
        frames.append(
            bulk.fetch_frame(
                f"SELECT v.area_id, CAST(v.date AS TEXT), v.value FROM {table} v {join}"
                f"WHERE v.indicator_id = %s AND v.date BETWEEN %s AND %s {where}",
                args,
                schema={"area": pl.String, "date": pl.String, "value": pl.Float64},
            )
        )
    values = pl.concat(frames).with_columns(pl.col("date").str.slice(0, 10).str.to_date())
    return areas, values


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
