"""One-person services, access scoping and logging, lists, indicators, campaigns, CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import Http404
from typer.testing import CliRunner

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.keygroups import access, crypto, selectors, services
from ruralwatch.keygroups.models import AccessLog, Person, Referral, Responsible, TierRuleSet
from ruralwatch.reporting.models import (
    AggregateValue,
    ReportValue,
    RollupPending,
    ValidationPending,
)
from ruralwatch.reporting.services import roll_up
from ruralwatch.synth.region import Region

ON = dt.date(2023, 2, 5)


def _id(birth: str, seq: int, prefix: str = "990101") -> str:
    first = prefix + birth.replace("-", "") + f"{seq:03d}"
    return first + crypto.id_check_char(first)


@pytest.fixture
def person(village: Area) -> Person:
    doctor = Responsible.objects.create(code="D1", kind="doctor", name="李医生", area=village)
    return services.register_person(
        name="王大爷",
        sex="M",
        birth_date=dt.date(1940, 3, 1),
        id_number=_id("1940-03-01", 11),
        village=village,
        groups=["age65", "living_alone"],
        phone="13800000000",
        doctor=doctor,
        comorbidity=1,
        vaccination=1,
        registered_on=dt.date(2023, 1, 1),
    )


def test_register_person_encrypts_and_tiers(person: Person) -> None:
    assert person.tier == "red" and person.tier_score == 4  # 82 y (2) + stable (1) + incomplete (1)
    assert "13800000000" not in person.phone_enc
    assert crypto.decrypt(person.id_enc) == _id("1940-03-01", 11)
    assert person.id_masked.startswith("990101") and "*" in person.id_masked
    with pytest.raises(ValidationError):  # same ID, same village
        services.register_person(
            name="x",
            sex="M",
            birth_date=dt.date(1940, 3, 1),
            id_number=_id("1940-03-01", 11),
            village=person.village,
            groups=["age65"],
        )
    with pytest.raises(ValidationError):  # bad check digit, sex mismatch, unknown group
        services.register_person(
            name="x",
            sex="F",
            birth_date=dt.date(1940, 3, 1),
            id_number=_id("1940-03-01", 13)[:-1] + "0",
            village=person.village,
            groups=["nope"],
        )


def test_positive_contact_moves_to_red_and_refers(village: Area) -> None:
    p = services.register_person(
        name="张奶奶",
        sex="F",
        birth_date=dt.date(1955, 6, 1),
        id_number=_id("1955-06-01", 22),
        village=village,
        groups=["age65"],
        comorbidity=0,
        vaccination=0,
        registered_on=dt.date(2023, 1, 1),
    )
    assert p.tier == "green"
    services.record_contact(p, date=dt.date(2023, 1, 3), method="phone", status="well")
    assert list(selectors.contact_list(Person.objects.all(), dt.date(2023, 1, 10))) == [p]
    services.record_contact(p, date=dt.date(2023, 1, 10), method="visit", status="spo2", spo2=91)
    p.refresh_from_db()
    assert (p.tier, p.tier_reason) == ("red", "low_spo2")
    ref = Referral.objects.get(person=p)
    assert ref.destination == "county_hospital" and ref.outcome == "pending"
    services.record_referral_outcome(ref, "admitted", dt.date(2023, 1, 11))
    # Re-tiering by score leaves an escalated person red.
    services.retier(ON)
    p.refresh_from_db()
    assert p.tier == "red"
    # Red is daily: contacted on the 10th → due on the 11th, overdue on the 12th.
    due = {
        d: selectors.annotate_due(Person.objects.filter(pk=p.pk), d).get().due_status
        for d in (dt.date(2023, 1, 10), dt.date(2023, 1, 11), dt.date(2023, 1, 12))
    }
    assert list(due.values()) == ["ok", "due", "overdue"]
    services.record_contact(p, date=dt.date(2023, 1, 12), method="visit", status="died")
    p.refresh_from_db()
    assert p.status == "deceased" and not p.memberships.filter(until__isnull=True).exists()


def test_rule_set_is_data(person: Person) -> None:
    TierRuleSet.objects.filter(active=True).update(
        params={
            "yellow_from": 3,
            "red_from": 5,
            "interval_days": {"red": 1, "yellow": 2, "green": 14},
        }
    )
    services.retier(ON)
    person.refresh_from_db()
    assert person.tier == "yellow"


def test_access_scoping_and_log(tree: Region, person: Person) -> None:
    village = person.village
    town = create_user_with_jurisdiction("t", "pw-123456", village.l4, Role.TOWNSHIP)
    other = Area.objects.filter(level=4).exclude(code=village.l4).first()
    assert other is not None
    outsider = create_user_with_jurisdiction("o", "pw-123456", other.code, Role.TOWNSHIP)
    assert access.access_person(town, person.ref, purpose="detail") == person
    log = AccessLog.objects.get()
    assert (log.user_id, log.person_id, log.purpose) == (town.pk, person.pk, "detail")
    for user, ref in ((outsider, person.ref), (AnonymousUser(), person.ref), (town, "missing")):
        with pytest.raises(Http404):
            access.access_person(user, ref, purpose="detail")
    assert AccessLog.objects.count() == 1
    assert list(access.scope_persons(outsider)) == []
    # Exports: pseudonymised for a township user, identified for a county user.
    rows = selectors.export_persons(access.scope_persons(town), ON, identified=False)
    assert rows[0]["name"] == "王**" and "id_number" not in rows[0]
    assert rows[0]["pseudonym"].startswith("P")
    assert not access.may_export_identified(town)
    county = create_user_with_jurisdiction("c", "pw-123456", village.l3, Role.COUNTY)
    assert access.may_export_identified(county)
    rows = selectors.export_persons(access.scope_persons(county), ON, identified=True)
    assert rows[0]["id_number"] == _id("1940-03-01", 11)


def test_indicators_and_campaign(tree: Region, person: Person) -> None:
    county = Area.objects.get(code=person.village.l3)
    services.write_indicators(ON, county)
    # written values: rolled up and validated again by the next cycle (mark_changed)
    assert RollupPending.objects.filter(date=ON).exists()
    assert ValidationPending.objects.filter(date=ON).exists()
    v = ReportValue.objects.get(area=person.village, date=ON, indicator_id="kg_registered")
    assert v.value == 1
    assert (
        ReportValue.objects.get(area=person.village, date=ON, indicator_id="kg_overdue").value == 1
    )
    roll_up(ON, ON)  # the daily cycle carries village values to every level
    agg = AggregateValue.objects.get(area_id=person.village.l1, date=ON, indicator_id="kg_overdue")
    assert agg.value == 1 and agg.level == 1
    n_v = Area.objects.filter(level=5, path__startswith=county.path).count()
    assert ReportValue.objects.filter(date=ON, indicator_id="kg_registered").count() == n_v
    services.write_indicators(ON, county)  # idempotent
    assert ReportValue.objects.filter(date=ON, indicator_id="kg_registered").count() == n_v
    cov = selectors.coverage(county.path, ON, 3)
    assert cov == [{**cov[0], "registered": 1, "overdue": 1, "coverage": 0.0}]
    c = services.create_campaign(
        name="摸排",
        area=county,
        start=dt.date(2023, 1, 28),
        deadline=dt.date(2023, 2, 10),
        groups=["age65"],
    )
    services.complete_campaign_village(c, person.village, ON, surveyed=30)
    prog = selectors.campaign_progress(c)
    assert prog["total"] == n_v and prog["completed"] == 1


def test_cli_audit_json(tree: Region, person: Person) -> None:
    from ruralwatch.cli import app

    result = CliRunner().invoke(
        app, ["keygroups", "audit", "--area", person.village.l4, "--date", ON.isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    kinds = {(f["kind"], f["person"]) for f in findings}
    assert ("contact_overdue", person.ref) in kinds
    assert ("no_pairing_cadre", person.ref) in kinds
    assert any(f["kind"] == "unregistered_expected" and f["group"] == "age65" for f in findings)
