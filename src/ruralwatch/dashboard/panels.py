"""The resources and key-area panels of an area page: what the resources and keyareas apps'
selectors say about the area's subtree on the page's "as of" day, shaped for the page (names
in the reader's language, the worst first). Nothing is computed here that those selectors
do not already compute.

The panels are a fragment of their own (``dashboard:panels``), fetched after the page: the
stock status of a county takes a few hundred milliseconds, which the page itself should not
wait for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import get_language

from ruralwatch.areas.models import Area
from ruralwatch.core.i18n import is_english
from ruralwatch.keyareas import selectors as keyareas
from ruralwatch.resources import selectors as resources
from ruralwatch.resources.models import Item

#: Key areas listed on the panel (the most urgent first; the key-area page has them all).
KEY_AREAS_SHOWN = 6
#: The watch's statuses in the order the panel counts them: those that call for action first.
STATUS_ORDER = ("rising", "first_case", "no_reports", "low")
#: Days-of-supply classes shown as short (resources_summary's distribution labels).
SHORT_SUPPLY = ("<7", "7-14")


@dataclass
class ItemLine:
    name: str
    stock_out: int
    below: int
    short_days: int
    no_report: int
    ok: int

    @property
    def gaps(self) -> int:
        return self.stock_out + self.below + self.short_days


@dataclass
class ResourcesPanel:
    date: dt.date
    facilities: int
    stock_outs: int
    items: list[ItemLine]
    median_days: float | None
    short_supply: int
    with_days: int
    capacity_gaps: list[tuple[str, int]]
    has_data: bool


@dataclass
class KeyAreasPanel:
    date: dt.date
    count: int
    statuses: list[tuple[str, str, int]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    open_requests: int = 0
    window: int | None = None


def resources_panel(area: Area, day: dt.date) -> ResourcesPanel:
    summary = resources.resources_summary(area.path, day)
    language = get_language() or "zh-hans"
    names = {i.code: i.name(language) for i in Item.objects.all()}
    items = []
    for code, by in summary["status_by_item"].items():
        line = ItemLine(
            name=names.get(code, code),
            stock_out=by.get(resources.STOCK_OUT, 0),
            below=by.get(resources.BELOW_MINIMUM, 0),
            short_days=by.get(resources.SHORT_DAYS, 0),
            no_report=by.get(resources.NO_REPORT, 0),
            ok=by.get(resources.OK, 0),
        )
        if line.gaps or line.ok or line.no_report:  # items with a minimum somewhere here
            items.append(line)
    items.sort(key=lambda i: (-i.stock_out, -i.gaps, i.name))
    days = summary["days_of_supply"]
    distribution: dict[str, int] = days["distribution"]
    return ResourcesPanel(
        date=day,
        facilities=sum(summary["facilities"].values()),
        stock_outs=summary["stock_outs"],
        items=items,
        median_days=days["median"],
        short_supply=sum(distribution.get(k, 0) for k in SHORT_SUPPLY),
        with_days=sum(distribution.values()),
        capacity_gaps=[
            (resources.status_label(kind), n) for kind, n in summary["capacity_gaps"].items() if n
        ],
        has_data=bool(summary["facilities"]),
    )


def keyareas_panel(area: Area, day: dt.date) -> KeyAreasPanel:
    data = keyareas.panel(area, day)
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "status": r.status,
            "status_label": keyareas.status_label(r.status),
            "tags": (", " if is_english() else "、").join(keyareas.tag_labels(r.tags)),
            "observed": r.observed,
            "threshold": r.threshold,
            "days_since_first": r.days_since_first,
            "completeness": r.completeness,
            "support_name": r.support_name,
        }
        for r in data["rows"][:KEY_AREAS_SHOWN]
    ]
    return KeyAreasPanel(
        date=day,
        count=data["count"],
        statuses=[(s, keyareas.status_label(s), data["by_status"].get(s, 0)) for s in STATUS_ORDER],
        rows=rows,
        open_requests=data["open_requests"],
        window=data["params"].get("window"),
    )
