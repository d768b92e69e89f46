"""The ``kg_*`` indicators of every village into the report store (one GROUP BY)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.keygroups.rules import KG_INDICATORS, due_status_sql
from ruralwatch.keygroups.selectors import active_rules
from ruralwatch.keygroups.services._common import A, P, R, now_db
from ruralwatch.reporting.models import ReportValue
from ruralwatch.reporting.services import mark_changed


def write_indicators(on: dt.date, root: Area | None = None) -> int:
    """Write the ``kg_*`` indicators of every village for ``on`` into ``ReportValue``
    (replacing earlier values of these indicators for that date).

    Values are computed by the database (one GROUP BY over persons); the roll-up of the daily
    cycle (:func:`ruralwatch.reporting.services.roll_up`) carries them to every level, so
    dashboards rank areas by overdue contacts and registry size like any other indicator.
    """
    rules = active_rules()
    due, dparams = due_status_sql(rules, on, alias="p")
    path = root.path if root is not None else ""
    codes = [c[0] for c in KG_INDICATORS]
    rv = ReportValue._meta.db_table
    on_s = on.isoformat()
    with transaction.atomic():
        bulk.create_staging(
            "stage_kg_village",
            [("area", "varchar(12)")] + [(c, "bigint") for c in codes],
        )
        bulk.execute(
            f"INSERT INTO stage_kg_village (area, {', '.join(codes)}) "
            f"SELECT a.code, COUNT(p.id), "
            f"SUM(CASE WHEN p.tier = 'red' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {due} = 'due' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {due} = 'overdue' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN p.id IS NOT NULL AND p.doctor_id IS NULL THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN EXISTS (SELECT 1 FROM {R} r WHERE r.person_id = p.id "
            f"AND r.outcome = 'pending') THEN 1 ELSE 0 END) "
            f"FROM {A} a LEFT JOIN {P} p ON p.village_id = a.code AND p.status = 'active' "
            f"WHERE a.level = 5 AND a.path LIKE %s GROUP BY a.code",
            [*dparams, *dparams, path + "%"],
        )
        placeholders = ", ".join(["%s"] * len(codes))
        bulk.execute(
            f"DELETE FROM {rv} WHERE date = %s AND indicator_id IN ({placeholders}) "
            f"AND area_id IN (SELECT area FROM stage_kg_village)",
            [on_s, *codes],
        )
        n = 0
        now = now_db()
        for code in codes:
            n += bulk.execute(
                f"INSERT INTO {rv} (area_id, date, indicator_id, value, reporter, submitted_at) "
                f"SELECT area, %s, %s, COALESCE({code}, 0), 'keygroups', %s FROM stage_kg_village",
                [on_s, code, now],
            )
        bulk.drop_staging("stage_kg_village")
        mark_changed([on])  # rolled up and validated again
    return n
