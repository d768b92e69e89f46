"""The dispatch pages' tables as XLSX and CSV (:mod:`ruralwatch.core.export`): the inbox's two
task lists and the accountability tables, with the page's own column labels in the reader's
language. Rows come from the same scoped selectors as the page (``scope_tasks`` through
``selectors.inbox``; the area through ``access_area_by_code``), so an export never holds a
task or a unit the page would not show. An export has every row, not the page's first 50.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _

from ruralwatch.core.export import Column, export_response
from ruralwatch.dispatch.models import Status, Task

#: Most tasks one list's export holds (the page shows the first 50).
EXPORT_LIMIT = 100_000
#: Rows and columns of one exported table.
_Table = tuple[list[dict[str, Any]], list[Column]]


def task_columns() -> list[Column]:
    return [
        Column("id", _("Task")),
        Column("kind", _("Kind")),
        Column("area_name", _("Area")),
        Column("area_code", _("Code")),
        Column("date", _("Date of the cause")),
        Column("status", _("Status")),
        Column("owner_role", _("Responsible role")),
        Column("owner_area", _("Responsible unit")),
        Column("deadline_label", _("Deadline")),
        Column("deadline", _("Due")),
        Column("due", _("Due in / overdue by")),
        Column("escalations", _("Escalations")),
        Column("created_at", _("Created")),
    ]


def task_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """The inbox's rows (``views.Row``: names and deadline words already in the page's
    language) as export rows."""
    out = []
    for row in rows:
        task: Task = row.task
        out.append(
            {
                "id": task.pk,
                "kind": row.kind_name,
                "area_name": task.area.name,
                "area_code": task.area_id,
                "date": task.date,
                "status": task.get_status_display(),
                "owner_role": row.owner_role,
                "owner_area": task.owner_area.name,
                "deadline_label": row.deadline_label if row.deadline else "",
                "deadline": row.deadline,
                "due": row.due,
                "escalations": task.escalations,
                "created_at": task.created_at,
            }
        )
    return out


def inbox_export(
    fmt: str, rows: list[Any], which: str, root_code: str, day: dt.date
) -> HttpResponse:
    stem = f"{_('Inbox')}-{which}-{root_code}-{day.isoformat()}"
    return export_response(fmt, task_rows(rows), task_columns(), stem)


def _hours(q: dict[str, Any], key: str) -> float | None:
    value = q.get(key)
    return None if value is None else round(float(value), 1)


def _kpi_columns() -> list[Column]:
    return [
        Column("tasks", _("Tasks")),
        Column("response_rate", _("Response rate"), number_format="0.0%"),
        Column("ack_median", _("Acknowledge, median (h)"), number_format="0.0"),
        Column("ack_p25", _("Acknowledge, P25 (h)"), number_format="0.0"),
        Column("ack_p75", _("Acknowledge, P75 (h)"), number_format="0.0"),
        Column("done_median", _("Outcome, median (h)"), number_format="0.0"),
        Column("within_2h", _("Within 2 h"), number_format="0.0%"),
        Column("within_24h", _("Within 24 h"), number_format="0.0%"),
        Column("yield", _("Yield"), number_format="0.0%"),
        Column("overdue", _("Overdue tasks")),
        Column("escalated", _("Escalated")),
    ]


def _kpi_values(row: dict[str, Any]) -> dict[str, Any]:
    ack, done = row.get("ack_hours") or {}, row.get("done_hours") or {}
    return {
        "tasks": row.get("tasks"),
        "response_rate": row.get("response_rate"),
        "ack_median": _hours(ack, "median"),
        "ack_p25": _hours(ack, "p25"),
        "ack_p75": _hours(ack, "p75"),
        "done_median": _hours(done, "median"),
        "within_2h": row.get("within_2h"),
        "within_24h": row.get("within_24h"),
        "yield": row.get("yield"),
        "overdue": row.get("overdue"),
        "escalated": row.get("escalated"),
    }


def _lagging(figures: dict[str, Any], _by_kind: list[dict[str, Any]]) -> _Table:
    columns = [
        Column("name", _("Unit")),
        Column("code", _("Code")),
        Column("role_label", _("Responsible role")),
        Column("holders", _("Responsible")),
        *_kpi_columns(),
    ]
    rows = []
    for u in figures["lagging"]:
        holders = ", ".join(h["user"] for h in u["holders"]) or _("nobody holds it")
        rows.append(
            {
                "name": u["name"],
                "code": u["code"],
                "role_label": u["role_label"],
                "holders": holders,
                **_kpi_values(u),
            }
        )
    return rows, columns


def _levels(figures: dict[str, Any], _by_kind: list[dict[str, Any]]) -> _Table:
    columns = [
        Column("level_label", _("Level")),
        Column("role_label", _("Responsible role")),
        *_kpi_columns(),
    ]
    rows = [
        {"level_label": r["level_label"], "role_label": r["role_label"], **_kpi_values(r)}
        for r in figures["by_level"]
    ]
    return rows, columns


def _kinds(_figures: dict[str, Any], by_kind: list[dict[str, Any]]) -> _Table:
    statuses = list(Status)
    columns = [
        Column("name", _("Kind")),
        *(Column(s.value, s.label) for s in statuses),
        Column("total", _("Total")),
    ]
    rows = [
        {
            "name": k["name"],
            **dict(zip([s.value for s in statuses], k["counts"], strict=True)),
            "total": k["total"],
        }
        for k in by_kind
    ]
    return rows, columns


_TABLES: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], _Table]] = {
    "lagging": _lagging,
    "levels": _levels,
    "kinds": _kinds,
}


def accountability_export(
    fmt: str,
    table: str,
    figures: dict[str, Any],
    by_kind: list[dict[str, Any]],
    stem: str,
) -> HttpResponse:
    """One table of the accountability page (``lagging`` units one level down, ``levels``, or
    ``kinds`` by status); an unknown ``table`` exports the lagging units, the page's first."""
    build = _TABLES.get(table, _lagging)
    rows, columns = build(figures, by_kind)
    return export_response(fmt, rows, columns, f"{stem}-{table if table in _TABLES else 'lagging'}")
