"""Re-survey campaigns through the API: progress for the county, village completion reported
from the village, the same 404 for missing and out-of-scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.keygroups import services
from tests.api.conftest import World, login
from tests.dashboard import data


def _campaign(area: str) -> Any:
    return services.create_campaign(
        name="春节后重新摸排",
        area=Area.objects.get(code=area),
        start=dt.date(2023, 1, 28),
        deadline=dt.date(2023, 2, 10),
        groups=["age65", "living_alone"],
    )


def test_village_reports_completion_and_county_sees_progress(world: World, county: Any) -> None:
    campaign = _campaign(data.COUNTY)
    other = _campaign(data.TOWN_B)  # covers only township B's villages
    doctor = create_user_with_jurisdiction("doc_a1", "pw-doc-a1-123", data.A1, "village_doctor")
    client = login(doctor)
    url = f"/api/keygroups/campaigns/{campaign.pk}/villages/{data.A1}"
    done = client.post(
        url,
        data={"completed_on": "2023-02-03", "surveyed": 42, "note": "全部走访"},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    rows = {v["village"]: v for v in done.json()["villages"]}
    assert rows[data.A1]["completed_on"] == "2023-02-03" and rows[data.A1]["surveyed"] == 42
    # The answer shows the doctor's own village only: not the campaign's villages of
    # township A's other village or of township B (another jurisdiction).
    assert list(rows) == [data.A1]
    assert done.json()["completed"] == 1 and done.json()["total"] == 1
    # A village outside the doctor's jurisdiction, a campaign that does not cover the village,
    # and a missing campaign all look the same.
    outside = client.post(
        f"/api/keygroups/campaigns/{campaign.pk}/villages/{data.B1}",
        data={"completed_on": "2023-02-03"},
        content_type="application/json",
    )
    not_covered = client.post(
        f"/api/keygroups/campaigns/{other.pk}/villages/{data.A1}",
        data={"completed_on": "2023-02-03"},
        content_type="application/json",
    )
    missing = client.post(
        f"/api/keygroups/campaigns/999999/villages/{data.A1}",
        data={"completed_on": "2023-02-03"},
        content_type="application/json",
    )
    assert outside.status_code == not_covered.status_code == missing.status_code == 404
    assert not_covered.content == missing.content
    # The county reads the progress; a township user cannot read the county's campaign.
    progress = login(county).get(f"/api/keygroups/campaigns/{campaign.pk}")
    assert progress.status_code == 200 and progress.json()["completed"] == 1
    assert progress.json()["total"] == 3
    town = create_user_with_jurisdiction("t_a", "pw-town-a-456", data.TOWN_A, "township")
    denied = login(town).get(f"/api/keygroups/campaigns/{campaign.pk}")
    gone = login(town).get("/api/keygroups/campaigns/999999")
    assert denied.status_code == gone.status_code == 404 and denied.content == gone.content
