"""A small tree with reports, judgements, signals and key-group persons, built through the
real importers and services (signals are inserted as rows: the tiny series raise none).

Users: ``town_a`` (township A), ``county`` (the county: may export identified data),
``doctor`` (the village doctor of A1),
``nobody`` (no jurisdiction), ``root`` (superuser).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone, translation

from ruralwatch.accounts.models import Profile
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.assessments.services import assess
from ruralwatch.keygroups import crypto, services
from ruralwatch.keygroups.models import Person, Referral, Responsible
from ruralwatch.signals.models import DetectionRule, Signal
from tests.dashboard import data
from tests.fixtures.shared_db import built_once


def id_number(birth: dt.date, seq: int, prefix: str = "110101") -> str:
    first = prefix + birth.strftime("%Y%m%d") + f"{seq:03d}"
    return first + crypto.id_check_char(first)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def reset_language() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread."""
    yield
    translation.deactivate()


@dataclass
class World:
    person_a: Person
    person_b: Person
    doctor_a: Responsible
    doctor_b: Responsible
    today: dt.date
    referral_a: int = 0
    referral_b: int = 0


def _signal(rule: DetectionRule, area: str, day: dt.date, observed: float, score: float) -> None:
    Signal.objects.create(
        rule=rule,
        area_id=area,
        indicator_id=rule.indicator_id,
        date=day,
        method=rule.method,
        observed=observed,
        expected=1.0,
        threshold=2.5,
        score=score,
        params={"baseline": 7},
    )


@pytest.fixture
def world(db: None, tmp_path: Path) -> World:
    return build_world(tmp_path)


def build_world(tmp_path: Path) -> World:
    data.build_tree(tmp_path)
    assess(data.DAY7)
    rule = DetectionRule.objects.filter(level=4, indicator_id="new_cases").order_by("pk").first()
    assert rule is not None
    _signal(rule, data.TOWN_A, data.DAY7, 3.0, 2.0)
    _signal(rule, data.TOWN_A, data.DAY1, 2.0, 1.0)
    _signal(rule, data.TOWN_B, data.DAY7, 4.0, 3.0)
    today = timezone.localdate()
    a1, b1 = Area.objects.get(code=data.A1), Area.objects.get(code=data.B1)
    doctor_a = Responsible.objects.create(code="DA1", kind="doctor", name="甲医生", area=a1)
    doctor_b = Responsible.objects.create(code="DB1", kind="doctor", name="乙医生", area=b1)
    person_a = services.register_person(
        name="王大爷",
        sex="M",
        birth_date=dt.date(1940, 3, 1),
        id_number=id_number(dt.date(1940, 3, 1), 11),
        village=a1,
        groups=["age65", "living_alone"],
        phone="13800000000",
        doctor=doctor_a,
        comorbidity=1,
        vaccination=1,
        registered_on=today - dt.timedelta(days=10),
    )
    person_b = services.register_person(
        name="李奶奶",
        sex="F",
        birth_date=dt.date(1950, 5, 2),
        id_number=id_number(dt.date(1950, 5, 2), 22),
        village=b1,
        groups=["age65"],
        phone="13900000000",
        doctor=doctor_b,
        registered_on=today - dt.timedelta(days=10),
    )
    # An open clinical referral for each (without a contact, so nobody's last contact moves).
    referrals = [
        Referral.objects.create(
            person=p, date=today, destination="township_health_centre", reason="clinical"
        ).pk
        for p in (person_a, person_b)
    ]
    return World(person_a, person_b, doctor_a, doctor_b, today, *referrals)


# --- the same world built once per test module ------------------------------------------------
#
# A module whose database tests all use the world imports ``shared_world as world``: the world
# is built once for the module (tests.fixtures.shared_db) and each test gets fresh objects
# read back from the database, in its own savepoint (what a test writes is undone).

_module_world = built_once(build_world)


@pytest.fixture
def shared_world(_module_world: World, db: None) -> World:
    w = _module_world
    persons = Person.objects.in_bulk([w.person_a.pk, w.person_b.pk])
    doctors = Responsible.objects.in_bulk([w.doctor_a.pk, w.doctor_b.pk])
    return World(
        persons[w.person_a.pk],
        persons[w.person_b.pk],
        doctors[w.doctor_a.pk],
        doctors[w.doctor_b.pk],
        w.today,
        w.referral_a,
        w.referral_b,
    )


@pytest.fixture
def town_a(world: World) -> Any:
    return create_user_with_jurisdiction("town_a", "pw-town-a-123", data.TOWN_A, "township")


@pytest.fixture
def county(world: World) -> Any:
    return create_user_with_jurisdiction("county", "pw-county-123", data.COUNTY, "county")


@pytest.fixture
def doctor(world: World) -> Any:
    """The village doctor of A1 (linked to ``doctor_a``): sees village A1 only."""
    user = create_user_with_jurisdiction("doctor_a1", "pw-doctor-123", data.A1, "village_doctor")
    world.doctor_a.user = user
    world.doctor_a.save(update_fields=["user"])
    return user


@pytest.fixture
def nobody(world: World) -> Any:
    user = get_user_model().objects.create_user("nobody", password="pw-nobody-123")
    Profile.objects.create(user=user, jurisdiction=None, role="county")
    return user


@pytest.fixture
def root(world: World) -> Any:
    return get_user_model().objects.create_superuser("root", password="pw-root-123")


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "schemathesis: property tests generated from the OpenAPI schema (bounded)"
    )
