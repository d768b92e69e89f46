"""Tiers and contact follow-up, set-based: retiering, escalation from contacts, last contact."""

from __future__ import annotations

import datetime as dt

from ruralwatch.core import bulk
from ruralwatch.keygroups.rules import Rules, score_sql, tier_sql
from ruralwatch.keygroups.selectors import active_rules
from ruralwatch.keygroups.services._common import C, P, R, scope_sql


def retier(
    on: dt.date, *, root_path: str | None = None, rules: Rules | None = None, extra: str = ""
) -> int:
    """Recompute score and tier of every person whose tier comes from the score (one UPDATE).

    Persons moved to red by a positive test or a low SpO₂, or set by hand, keep their tier.
    """
    rules = rules or active_rules()
    score, sparams = score_sql(rules, on)
    tier = tier_sql(rules, "tier_score")
    where, wparams = scope_sql(root_path)
    n = bulk.execute(
        f"UPDATE {P} SET tier_score = {score} WHERE tier_reason = 'score'{where}{extra}",
        [*sparams, *wparams],
    )
    bulk.execute(
        f"UPDATE {P} SET tier_since = CASE WHEN tier = {tier} AND tier_since IS NOT NULL "
        f"THEN tier_since ELSE %s END, tier = {tier} "
        f"WHERE tier_reason = 'score'{where}{extra}",
        [on, *wparams],
    )
    return n


def escalate_from_contacts(
    *, root_path: str | None = None, rules: Rules | None = None, create_referrals: bool = True
) -> tuple[int, int]:
    """Move to red every active person with a positive test or a low SpO₂ reading.

    Referrals are created for such contacts that have none (a positive test goes to the
    township health centre, a low reading to the county hospital). Returns (escalated,
    referrals created). Set-based.
    """
    rules = rules or active_rules()
    thr = int(rules.spo2_red_below)
    where, wparams = scope_sql(root_path, "p.village_id")
    trigger = f"(c.status = 'positive' OR (c.spo2 IS NOT NULL AND c.spo2 < {thr}))"
    n = bulk.execute(
        f"UPDATE {P} SET tier = 'red', "
        f"tier_reason = (SELECT CASE WHEN MIN(CASE WHEN c.status = 'positive' THEN 0 ELSE 1 END)"
        f" = 0 THEN 'positive' ELSE 'low_spo2' END FROM {C} c WHERE c.person_id = {P}.id "
        f"AND {trigger}), "
        f"tier_since = (SELECT MIN(c.date) FROM {C} c WHERE c.person_id = {P}.id AND {trigger}) "
        f"WHERE status = 'active' AND tier_reason = 'score' AND id IN ("
        f"SELECT c.person_id FROM {C} c JOIN {P} p ON p.id = c.person_id "
        f"WHERE {trigger}{where})",
        wparams,
    )
    made = 0
    if create_referrals:
        made = bulk.execute(
            f"INSERT INTO {R} (person_id, contact_id, date, destination, reason, outcome, note) "
            f"SELECT c.person_id, c.id, c.date, "
            f"CASE WHEN c.spo2 IS NOT NULL AND c.spo2 < {thr} THEN 'county_hospital' "
            f"ELSE 'township_health_centre' END, "
            f"CASE WHEN c.spo2 IS NOT NULL AND c.spo2 < {thr} THEN 'low_spo2' ELSE 'positive' END, "
            f"'pending', '' FROM {C} c JOIN {P} p ON p.id = c.person_id "
            f"WHERE {trigger}{where} AND NOT EXISTS "
            f"(SELECT 1 FROM {R} r WHERE r.person_id = c.person_id AND r.date = c.date)",
            wparams,
        )
    return n, made


def refresh_last_contact(*, root_path: str | None = None) -> int:
    """Recompute ``last_contact`` and ``last_status`` from the contacts (one UPDATE)."""
    where, wparams = scope_sql(root_path)
    latest = (
        f"(SELECT c.status FROM {C} c WHERE c.person_id = {P}.id "
        f"ORDER BY c.date DESC, c.id DESC LIMIT 1)"
    )
    return bulk.execute(
        f"UPDATE {P} SET last_contact = (SELECT MAX(c.date) FROM {C} c "
        f"WHERE c.person_id = {P}.id), last_status = COALESCE({latest}, '') "
        f"WHERE 1 = 1{where}",
        wparams,
    )
