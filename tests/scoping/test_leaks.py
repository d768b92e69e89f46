"""The three leaks found by probing: a duplicate person's twin named in another county (audit
API and audit page) and a campaign's villages of other townships in the answer to a village's
report. A cross-jurisdiction duplicate is still flagged, without saying where."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.dashboard import data
from tests.scoping.conftest import World

HEMING_VILLAGE = "110102001001"  # another county of the same prefecture
YUNLING_VILLAGE = "120101001001"  # another province


def _client(world: World, who: str) -> tuple[Client, Any]:
    w = next(x for x in world.walkers if x.name == who)
    client = Client()
    client.force_login(w.user)
    return client, w


def _duplicate(findings: list[dict[str, Any]], village: str) -> dict[str, Any]:
    return next(f for f in findings if f["kind"] == "duplicate_person" and f["area"] == village)


def test_the_audit_names_twins_inside_and_only_flags_those_outside(world: World) -> None:
    client, _ = _client(world, "county")
    answer = client.get(f"/api/keygroups/audit?area={data.COUNTY}&kind=duplicate_person")
    assert answer.status_code == 200
    finding = _duplicate(answer.json()["items"], data.A1)
    assert finding["other_areas"] == [data.A2]  # the twin inside the county is named
    assert finding["elsewhere"] is True  # the twins in 鹤鸣县 and 云岭省 are not
    assert HEMING_VILLAGE not in answer.content.decode()
    assert YUNLING_VILLAGE not in answer.content.decode()
    # The twin in A2 has its twins too: A1 (named) and those outside (flagged).
    twin = _duplicate(answer.json()["items"], data.A2)
    assert twin["other_areas"] == [data.A1] and twin["elsewhere"] is True

    # The province sees 鹤鸣县 (inside it) but not 云岭省.
    client, _ = _client(world, "province")
    answer = client.get(f"/api/keygroups/audit?area={data.PROVINCE}&kind=duplicate_person")
    finding = _duplicate(answer.json()["items"], data.A1)
    assert finding["other_areas"] == [data.A2, HEMING_VILLAGE]
    assert finding["elsewhere"] is True
    assert YUNLING_VILLAGE not in answer.content.decode()


def test_the_audit_page_names_no_village_outside(world: World) -> None:
    client, _ = _client(world, "township")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    page = client.get(f"/keygroups/area/{data.TOWN_A}/audit/duplicate_person/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "甲二村" in html  # the twin in the same township
    assert "辖区外也有登记" in html  # the twins elsewhere, flagged
    for foreign in ("鹤鸣村", HEMING_VILLAGE, "云岭村", YUNLING_VILLAGE):
        assert foreign not in html


def test_a_campaign_answer_lists_only_the_reporters_villages(world: World) -> None:
    client, _ = _client(world, "doctor")
    county_campaign = world.campaigns[data.COUNTY]
    answer = client.post(
        f"/api/keygroups/campaigns/{county_campaign}/villages/{data.A1}",
        {"completed_on": world.today.isoformat(), "surveyed": 5},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [v["village"] for v in body["villages"]] == [data.A1]
    assert (body["completed"], body["total"]) == (1, 1)
    for foreign in (data.A2, data.B1, "甲二村", "乙一村"):
        assert foreign not in answer.content.decode()
    # The county, whose jurisdiction is the campaign's area, sees every village.
    county, _ = _client(world, "county")
    progress = county.get(f"/api/keygroups/campaigns/{county_campaign}").json()
    assert [v["village"] for v in progress["villages"]] == [data.A1, data.A2, data.B1]
    assert (progress["completed"], progress["total"]) == (1, 3)
