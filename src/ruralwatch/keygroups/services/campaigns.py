"""Re-survey campaigns: opening one over a jurisdiction, marking villages done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.keygroups.models import (
    Campaign,
    CampaignVillage,
    KeyGroup,
)
from ruralwatch.keygroups.services._common import A


@transaction.atomic
def create_campaign(
    *,
    name: str,
    area: Area,
    start: dt.date,
    deadline: dt.date,
    groups: Iterable[str] = (),
    user: Any = None,
) -> Campaign:
    """A re-survey over ``area``'s villages (one row per village, set-based)."""
    if deadline < start:
        raise ValidationError(_("the deadline is before the start"))
    campaign = Campaign.objects.create(
        name=name,
        area=area,
        start=start,
        deadline=deadline,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    campaign.groups.set(list(KeyGroup.objects.filter(code__in=list(groups))))
    cv = CampaignVillage._meta.db_table
    bulk.execute(
        f"INSERT INTO {cv} (campaign_id, village_id, surveyed, note) "
        f"SELECT %s, code, 0, '' FROM {A} WHERE level = 5 AND path LIKE %s",
        [campaign.pk, area.path + "%"],
    )
    return campaign


def complete_campaign_village(
    campaign: Campaign, village: Area, on: dt.date | None, surveyed: int = 0, note: str = ""
) -> int:
    """Mark a village done (``on``) or not done (``None``) in a campaign."""
    return CampaignVillage.objects.filter(campaign=campaign, village=village).update(
        completed_on=on, surveyed=surveyed, note=note[:200]
    )
