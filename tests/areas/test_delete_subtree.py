"""Deleting a subtree (the demo's rebuild) removes every row under it and clears the
references that rows outside it hold to it, whatever order the statements run in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import _deletion_order, _relations, delete_subtree
from ruralwatch.keygroups.models import Contact, Person, Referral, Responsible
from ruralwatch.reporting.models import ReportValue
from tests.dashboard import data

pytestmark = pytest.mark.django_db


def _person(ref: str, village: str, doctor: Responsible) -> Person:
    return Person.objects.create(
        ref=ref,
        name=ref,
        sex="F",
        birth_date=dt.date(1940, 1, 1),
        id_enc="e",
        id_hash=ref,
        id_masked="m",
        village_id=village,
        doctor=doctor,
        registered_on=dt.date(2022, 12, 1),
    )


def test_rows_inside_go_and_references_from_outside_are_cleared(tmp_path: Path) -> None:
    data.build_tree(tmp_path)
    doctor_b = Responsible.objects.create(code="DB1", kind="doctor", name="乙医生", area_id=data.B1)
    # A person of township A looked after by township B's doctor, and one of township B.
    outside = _person("P-A", data.A1, doctor_b)
    inside = _person("P-B", data.B1, doctor_b)
    day = dt.date(2023, 1, 5)
    kept = Contact.objects.create(
        person=outside, date=day, method="phone", status="well", responsible=doctor_b
    )
    gone = Contact.objects.create(
        person=inside, date=day, method="visit", status="symptoms", responsible=doctor_b
    )
    # A referral of the outside person recorded against the inside person's contact.
    referral = Referral.objects.create(
        person=outside,
        contact=gone,
        date=day,
        destination="township_health_centre",
        reason="clinical",
    )
    values_b = ReportValue.objects.filter(area_id=data.B1).count()
    assert values_b and ReportValue.objects.filter(area_id=data.A1).exists()

    assert delete_subtree(data.TOWN_B) == 2  # the township and its village

    assert not Area.objects.filter(code__in=[data.TOWN_B, data.B1]).exists()
    assert not ReportValue.objects.filter(area_id=data.B1).exists()
    assert ReportValue.objects.filter(area_id=data.A1).exists()
    assert not Person.objects.filter(pk=inside.pk).exists()
    assert not Contact.objects.filter(pk=gone.pk).exists()
    assert not Responsible.objects.filter(pk=doctor_b.pk).exists()
    outside.refresh_from_db()
    kept.refresh_from_db()
    referral.refresh_from_db()
    assert outside.doctor_id is None
    assert kept.responsible_id is None
    assert referral.contact_id is None


def test_persons_go_before_their_doctors_are_cleared() -> None:
    """The order that saves the demo's rebuild most of its time: persons (with their
    contacts and referrals) are deleted before the doctors whose deletion clears them."""
    order = [r.related_model for r in _deletion_order(_relations(Area))]
    assert order.index(Person) < order.index(Responsible)
    inner = [r.related_model for r in _deletion_order(_relations(Person))]
    assert inner.index(Referral) < inner.index(Contact)
    # Only the order changes: the same relations.
    assert sorted(map(id, _deletion_order(_relations(Area)))) == sorted(map(id, _relations(Area)))
