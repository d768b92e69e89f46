"""The demo's key groups: persons, the re-survey campaign and the summary block."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from django.db import transaction

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.keygroups.models import (
    Campaign,
    CampaignVillage,
    Referral,
    ReferralOutcome,
)
from ruralwatch.keygroups.services._common import P, Progress
from ruralwatch.keygroups.services.campaigns import create_campaign
from ruralwatch.keygroups.services.indicators import write_indicators
from ruralwatch.keygroups.services.synthetic import load_persons


def load_demo_keygroups(
    demo: Any, cycle_date: dt.date, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Build the demo's synthetic key groups into the database (after the areas are loaded).

    Generates persons for ``demo.region`` with contacts up to ``cycle_date``, loads them
    set-based, opens the post-festival re-survey campaign, writes the ``kg_*`` indicators for
    ``cycle_date`` and returns ``{"counts": …, "truth": [...]}`` (the truth list is what
    ``ruralwatch keygroups audit`` must find; write it next to the report truth).
    """
    from ruralwatch.synth.persons import RESURVEY_START, build_persons

    region = demo.region
    people = build_persons(region, region.seed, on=cycle_date)
    county_code = region.areas.filter(pl.col("level") == 3)["code"][0]
    root = Area.objects.get(code=region.areas.filter(pl.col("level") == 1)["code"][0])
    county = Area.objects.get(code=county_code)
    with transaction.atomic():
        Campaign.objects.filter(area__path__startswith=root.path).delete()
        campaign = create_campaign(
            name="春节后重点人群重新摸排",
            area=county,
            start=RESURVEY_START,
            deadline=cycle_date + dt.timedelta(days=5),
            groups=["age65", "living_alone", "left_behind_child"],
        )
        counts = load_persons(people, root, progress=progress, campaign=campaign)
        _demo_campaign_progress(campaign, cycle_date)
        write_indicators(cycle_date, root)
    return {"counts": counts, "truth": people.truth, "campaign": campaign.pk}


def _demo_campaign_progress(campaign: Campaign, on: dt.date) -> None:
    """Most villages report their re-survey done; a deterministic few lag (set-based)."""
    cv = CampaignVillage._meta.db_table
    # Villages with a registered person found in the campaign, or whose code's last digit is
    # not 7, are done; surveyed households are a fixed share of their persons.
    bulk.execute(
        f"UPDATE {cv} SET completed_on = %s, surveyed = (SELECT COUNT(*) FROM {P} p "
        f"WHERE p.village_id = {cv}.village_id) / 2 "
        f"WHERE campaign_id = %s AND village_id NOT LIKE %s",
        [on.isoformat(), campaign.pk, "%7"],
    )


def demo_keygroups_summary(county: Area, cycle_date: dt.date) -> dict[str, Any]:
    """The demo summary block: registry size, tiers, groups, overdue, audit counts, campaign."""
    from ruralwatch.keygroups.selectors import (
        audit,
        audit_summary,
        campaign_progress,
        coverage,
        group_counts,
        tier_counts,
    )

    cov = coverage(county.path, cycle_date, county.level)
    row = cov[0] if cov else {}
    campaign = Campaign.objects.filter(area=county).order_by("-pk").first()
    prog = campaign_progress(campaign) if campaign else None
    return {
        "date": cycle_date.isoformat(),
        "registered": row.get("registered", 0),
        "tiers": tier_counts(county.path),
        "groups": group_counts(county.path),
        "due": row.get("due", 0),
        "overdue": row.get("overdue", 0),
        "coverage": row.get("coverage"),
        "no_doctor": row.get("no_doctor", 0),
        "open_referrals": Referral.objects.filter(
            outcome=ReferralOutcome.PENDING, person__village__path__startswith=county.path
        ).count(),
        "audit": audit_summary(audit(county, cycle_date)),
        "campaign": None
        if prog is None
        else {k: prog[k] for k in ("name", "completed", "total", "completion", "found")},
    }
