"""Reads of the intake app: violations and outlier flags of a subtree, DHIS2 id lookups.

Callers pass a path prefix obtained through :mod:`ruralwatch.accounts.access`; these functions
do no access control themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, QuerySet

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import subtree_q
from ruralwatch.intake.models import DataSet, FlagStatus, IdMapping, OutlierFlag, Violation


def violations_in(path: str, start: dt.date, end: dt.date) -> QuerySet[Violation]:
    """Violations of the areas under ``path`` dated in [start, end], newest first."""
    return (
        Violation.objects.filter(subtree_q(path), date__range=(start, end))
        .select_related("rule")
        .order_by("-date", "area_id", "rule_id")
    )


def violations_per_area(path: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The nightly list: per area, how many violations and of which rules (one query)."""
    rows = (
        violations_in(path, start, end)
        .values("area_id", "rule_id")
        .annotate(n=Count("id"))
        .order_by("area_id", "rule_id")
    )
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = out.setdefault(
            row["area_id"], {"area": row["area_id"], "violations": 0, "rules": {}}
        )
        item["violations"] += row["n"]
        item["rules"][row["rule_id"]] = row["n"]
    return list(out.values())


def flags_in(
    path: str, start: dt.date, end: dt.date, status: str | None = None
) -> QuerySet[OutlierFlag]:
    qs = OutlierFlag.objects.filter(subtree_q(path), date__range=(start, end))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-date", "area_id", "indicator", "method")


#: Flags still standing: the reporter has not confirmed them yet (open), or confirmed the
#: value as reported. A corrected value replaced the flagged one, so its flag is settled.
STANDING = (FlagStatus.OPEN, FlagStatus.CONFIRMED)


def standing_flags(
    path: str, start: dt.date, end: dt.date, indicator: str | None = None
) -> list[dict[str, Any]]:
    """Flags still standing (:data:`STANDING`) of the villages under ``path`` dated in
    [start, end], open ones first, then newest first: one dict each with the flag's fields,
    the village's name and path and its township's name. With ``indicator``, only that
    indicator's flags and the whole-day ones (a repeated day flags every value of it)."""
    qs = flags_in(path, start, end).filter(status__in=STANDING)
    if indicator is not None:
        qs = qs.filter(indicator__in=(indicator, ""))
    # "open" > "confirmed": descending by status puts the ones to confirm first.
    values = qs.order_by("-status", "-date", "area_id", "indicator", "method").values(
        "id",
        "area_id",
        "date",
        "indicator",
        "value",
        "method",
        "score",
        "baseline",
        "status",
        "area__name",
        "area__path",
        "area__parent__name",
    )
    return [dict(r) for r in values]


def flag_in(path: str, flag_id: int) -> OutlierFlag | None:
    codes = Area.objects.filter(path__startswith=path).values("code")
    return OutlierFlag.objects.filter(pk=flag_id, area_id__in=codes).first()


def uid_to_code(kind: str, uids: Iterable[str]) -> dict[str, str]:
    uids = [u for u in set(uids) if u]
    out: dict[str, str] = {}
    for start in range(0, len(uids), 900):
        out.update(
            IdMapping.objects.filter(kind=kind, uid__in=uids[start : start + 900]).values_list(
                "uid", "code"
            )
        )
    return out


def code_to_uid(kind: str, codes: Iterable[str] | None = None) -> dict[str, str]:
    qs = IdMapping.objects.filter(kind=kind)
    if codes is None:
        return dict(qs.values_list("code", "uid"))
    codes = [c for c in set(codes) if c]
    out: dict[str, str] = {}
    for start in range(0, len(codes), 900):
        out.update(qs.filter(code__in=codes[start : start + 900]).values_list("code", "uid"))
    return out


def data_set_indicators(code: str) -> list[str] | None:
    ds = DataSet.objects.filter(code=code).first()
    if ds is None:
        return None
    return list(ds.indicators.order_by("code").values_list("code", flat=True))
