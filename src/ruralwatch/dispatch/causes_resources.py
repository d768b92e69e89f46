"""Tasks from the resources registry: stock-outs and shortfalls, and capacity gaps.

:func:`stock_plan` and :func:`capacity_plan` give :func:`ruralwatch.dispatch.services._plan`
what every source gives: the open tasks whose cause has gone (closed as ``stock_restored`` or
``gap_closed``) and how to read the causes of a cycle date. The causes come from
:mod:`ruralwatch.resources.selectors` (one set-based pass over the subtree), so the gap list
a county reads and the tasks it receives are the same list.

- a **stock** task per facility with at least one item out of stock, below its minimum or
  short of days of supply (the items are in the evidence); key
  ``stock_out:<facility>:<date>``; none while the facility has an open one;
- a **capacity** task per gap (a township without a fever clinic, a county hospital without
  an ICU, a village clinic without a doctor, a referral route whose receiving end is over
  capacity); key ``capacity_gap:<gap>:<where>:<date>`` (``<from>><to>`` for a route).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from ruralwatch.areas.models import Area
from ruralwatch.dispatch.models import OPEN_STATUSES, AutoReason, Task, TaskKind
from ruralwatch.resources import selectors

if TYPE_CHECKING:
    from ruralwatch.dispatch.services import Cause

_AREA_FIELDS = ("code", "level", "path", "l1", "l2", "l3", "l4", "l5")
Plan = tuple[QuerySet[Task], str, Callable[[], list["Cause"]]]


def _open(kind: TaskKind, root_path: str) -> QuerySet[Task]:
    return Task.objects.filter(
        kind=kind, status__in=OPEN_STATUSES, outcome="", area_path__startswith=root_path
    )


def _open_keys(kind: TaskKind, root_path: str) -> dict[int, str]:
    """Open tasks (id → the cause's key without its date)."""
    return {
        pk: key.rsplit(":", 1)[0]
        for pk, key in Task.objects.filter(
            kind=kind, status__in=OPEN_STATUSES, area_path__startswith=root_path
        ).values_list("id", "source_key")
    }


def _area_rows(codes: set[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    ordered = sorted(codes)
    for i in range(0, len(ordered), 900):
        for r in Area.objects.filter(code__in=ordered[i : i + 900]).values(*_AREA_FIELDS):
            rows[r["code"]] = r
    return rows


def _plan(
    kind: TaskKind,
    root_path: str,
    reason: str,
    current: Callable[[], dict[str, tuple[str, dict[str, Any]]]],
    cycle_date: dt.date,
) -> Plan:
    """The open tasks whose cause is no longer current, and the current causes without an
    open task. ``current`` maps a cause's key (without its date) to (area, evidence)."""
    from ruralwatch.dispatch.services import Cause

    now_causes = current()
    open_keys = _open_keys(kind, root_path)
    gone_ids = [pk for pk, key in open_keys.items() if key not in now_causes]
    gone = _open(kind, root_path).filter(id__in=gone_ids)

    def causes() -> list[Cause]:
        still_open = set(_open_keys(kind, root_path).values())
        fresh = {k: v for k, v in now_causes.items() if k not in still_open}
        areas = _area_rows({area for area, _ev in fresh.values()})
        return [
            Cause(
                key=f"{key}:{cycle_date.isoformat()}",
                area=area,
                date=cycle_date,
                area_row=areas[area],
                evidence=evidence,
            )
            for key, (area, evidence) in sorted(fresh.items())
            if area in areas
        ]

    return gone, reason, causes


def stock_plan(kind: TaskKind, cycle_date: dt.date, root_path: str) -> Plan:
    def current() -> dict[str, tuple[str, dict[str, Any]]]:
        gaps = selectors.stock_gaps(root_path, cycle_date, demand=False)  # not in the evidence
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for (code,), part in gaps.group_by("code", maintain_order=True):
            first = part.row(0, named=True)
            out[f"stock_out:{code}"] = (
                first["area"],
                {
                    "date": cycle_date.isoformat(),
                    "facility": code,
                    "facility_name": first["name"],
                    "facility_kind": first["kind"],
                    "items": [
                        {
                            "item": r["item"],
                            "status": r["status"],
                            "on_hand": r["on_hand"],
                            "minimum": r["minimum"],
                            "days_of_supply": None
                            if r["days_consumption"] is None
                            else round(float(r["days_consumption"]), 1),
                            "days_required": r["rule_days"],
                        }
                        for r in part.sort("item").iter_rows(named=True)
                    ],
                },
            )
        return out

    return _plan(kind, root_path, AutoReason.STOCK_RESTORED, current, cycle_date)


def capacity_plan(kind: TaskKind, cycle_date: dt.date, root_path: str) -> Plan:
    def current() -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for g in selectors.capacity_gaps(root_path, cycle_date):
            where = g["facility"] if g["kind"] == selectors.NO_DOCTOR else g["area"]
            out[f"capacity_gap:{g['kind']}:{where}"] = (
                g["area"],
                {
                    "date": cycle_date.isoformat(),
                    "gap": g["kind"],
                    "facility": g["facility"],
                    "facility_name": g["facility_name"],
                },
            )
        network = selectors.referral_network(root_path, cycle_date)
        for g in network["gaps"]:
            if g["kind"] == selectors.UNPAIRED:  # listed on the referral page, not a task
                continue
            out[f"capacity_gap:{g['kind']}:{g['source']}>{g['target']}"] = (
                g["area"],
                {
                    "date": cycle_date.isoformat(),
                    "gap": g["kind"],
                    "facility": g["target"],
                    "facility_name": g["target_name"],
                    "route_from": g["source_name"],
                    "received": g["received"],
                    "capacity": g["capacity"],
                    "days": network["days"],
                },
            )
        return out

    return _plan(kind, root_path, AutoReason.GAP_CLOSED, current, cycle_date)


__all__ = ["capacity_plan", "stock_plan"]
