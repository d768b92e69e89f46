"""A tree with areas outside every test user's jurisdiction, each with data a leak would show.

Inside: the test county of ``tests.dashboard.data`` (province 110000 › prefecture 110100 ›
county 110101 › townships A and B › villages A1, A2, B1). Outside, at every level: another
county in the same prefecture (鹤鸣县), another prefecture in the same province (松涛市) and
another province (云岭省), each down to a village with reports, signals, judgements, a doctor,
a person, a referral and a campaign. The person of village A1 is also registered in A2 and in
the villages of 鹤鸣县 and 云岭省 (cross-jurisdiction duplicates).

Users, one per role and level, all over village A1: a village doctor (A1), a township user
(township A), a county user, a prefecture user and a province user. Each village also has a
village cadre, whom the users above may list and deactivate.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.api.services import create_token
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.assessments.services import assess
from ruralwatch.dispatch.models import Task, TaskKind
from ruralwatch.dispatch.services import sync_tasks
from ruralwatch.keygroups import crypto, services
from ruralwatch.keygroups.models import Person, Referral, Responsible
from ruralwatch.reporting.services import import_reports, roll_up
from ruralwatch.signals.models import DetectionRule, Signal
from tests.dashboard import data
from tests.fixtures.shared_db import built_once
from tests.resources.world import add_clinics

#: Areas outside the test county: (code, name, level, parent). Names are unique strings that
#: occur nowhere else in the product, so finding one in an answer is a leak.
OUTSIDE = [
    ("110102000000", "鹤鸣县", 3, data.PREFECTURE),
    ("110102001000", "鹤鸣镇", 4, "110102000000"),
    ("110102001001", "鹤鸣村", 5, "110102001000"),
    ("110200000000", "松涛市", 2, data.PROVINCE),
    ("110201000000", "松涛县", 3, "110200000000"),
    ("110201001000", "松涛镇", 4, "110201000000"),
    ("110201001001", "松涛村", 5, "110201001000"),
    ("120000000000", "云岭省", 1, ""),
    ("120100000000", "云岭市", 2, "120000000000"),
    ("120101000000", "云岭县", 3, "120100000000"),
    ("120101001000", "云岭镇", 4, "120101000000"),
    ("120101001001", "云岭村", 5, "120101001000"),
]
VILLAGES_OUTSIDE = [c for c, _, level, _ in OUTSIDE if level == 5]
#: Every village and its person's (unique) name.
PERSON_NAMES = {
    data.A1: "王守望",
    data.A2: "赵甲二",
    data.B1: "钱乙一",
    "110102001001": "孙鹤鸣",
    "110201001001": "周松涛",
    "120101001001": "吴云岭",
}
#: The person of A1 is also registered here (the same resident ID number).
TWINS = [data.A2, "110102001001", "120101001001"]

#: (user name, role, jurisdiction), all over village A1.
USERS = [
    ("doctor", "village_doctor", data.A1),
    ("township", "township", data.TOWN_A),
    ("county", "county", data.COUNTY),
    ("prefecture", "prefecture", data.PREFECTURE),
    ("province", "province", data.PROVINCE),
]
PASSWORD = "pw-scoping-123"
MISSING_AREA = "110101001999"


def id_number(birth: dt.date, seq: int) -> str:
    first = "110101" + birth.strftime("%Y%m%d") + f"{seq:03d}"
    return first + crypto.id_check_char(first)


@dataclass
class Walker:
    """One user with what lies inside and outside their jurisdiction."""

    name: str
    user: Any
    token: str
    root: Area
    #: Codes and names of areas outside the subtree that are not its ancestors, person
    #: names and references, doctors' codes and names: none may appear in an answer.
    foreign: set[str] = field(default_factory=set)
    #: The nearest area outside (a sibling of the root, else a cousin) and a village outside.
    outside_area: str = ""
    outside_village: str = ""


@dataclass
class World:
    today: dt.date
    persons: dict[str, Person]  # village → its (own) person
    referrals: dict[str, int]  # village → a referral of its person
    campaigns: dict[str, int]  # area → a campaign over it
    walkers: list[Walker]
    #: village → the id of a village cadre bound to it (user management's objects); the
    #: user name carries the village code, so naming one outside is a leak.
    cadres: dict[str, int] = field(default_factory=dict)
    #: area → the id of an archived briefing of it (a small HTML file with its real checksum)
    briefings: dict[str, int] = field(default_factory=dict)


def _write(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _nearest_outside(root: Area, codes: list[str]) -> tuple[str, str]:
    """A foreign area at the root's level, as close to it as possible, and a village under it."""
    tree = {a.code: a for a in Area.objects.all()}

    def shared(code: str) -> int:
        return sum(1 for k in range(1, 6) if getattr(tree[code], f"l{k}") == getattr(root, f"l{k}"))

    same_level = [c for c in codes if tree[c].level == root.level]
    area = max(same_level, key=lambda c: (shared(c), c))
    villages = [c for c in codes if tree[c].level == 5 and tree[c].path.startswith(tree[area].path)]
    return area, max(villages, key=lambda c: (shared(c), c))


def build_world(tmp_path: Path) -> World:
    """The tree, its data and the walkers (the test session's fast password hasher)."""
    data.build_tree(tmp_path)
    rows: list[tuple[Any, ...]] = [("code", "name", "level", "parent_code", "population")]
    rows += [(c, n, lv, p, 1000 * (6 - lv)) for c, n, lv, p in OUTSIDE]
    import_areas(_write(tmp_path / "outside.csv", rows))
    reports: list[tuple[Any, ...]] = [("area_code", "date", "indicator", "value")]
    for i in range(7):
        day = data.DAY1 + dt.timedelta(days=i)
        reports += [(v, day.isoformat(), "new_cases", str(i + 3)) for v in VILLAGES_OUTSIDE]
    import_reports(_write(tmp_path / "outside-reports.csv", reports), now=data.NOW)
    roll_up(data.DAY1, data.DAY8)
    assess(data.DAY7)
    rule = DetectionRule.objects.filter(indicator_id="new_cases").order_by("pk").first()
    assert rule is not None
    for code in [data.TOWN_A, data.TOWN_B, *(c for c, *_ in OUTSIDE)]:
        Signal.objects.create(
            rule=rule,
            area_id=code,
            indicator_id="new_cases",
            date=data.DAY7,
            method=rule.method,
            observed=9.0,
            expected=1.0,
            threshold=2.5,
            score=3.0,
            params={"baseline": 7},
        )

    # Resources: a clinic out of stock and without a doctor in every village (issue 14).
    add_clinics([data.A1, data.A2, data.B1, *VILLAGES_OUTSIDE], data.DAY7)

    # Tasks: those the cycle makes from the signals and missing reports, and one per village
    # owned by its village doctor (so every walker may act on the one in A1); the dispatch
    # pages and API name them by id (``source_key`` ``walk:<village>``).
    sync_tasks(data.DAY7, now=data.NOW)
    kind = TaskKind.objects.get(code="overdue_contacts")
    due = timezone.now() + dt.timedelta(hours=1)
    for code in [data.A1, data.A2, data.B1, *VILLAGES_OUTSIDE]:
        village = Area.objects.get(code=code)
        Task.objects.create(
            kind=kind,
            area=village,
            area_path=village.path,
            date=data.DAY7,
            source_key=f"walk:{code}",
            owner_role=kind.owner_role,
            owner_level=5,
            owner_area=village,
            owner_path=village.path,
            due_ack=due,
            due_done=due,
            evidence={"date": data.DAY7.isoformat(), "overdue": 3, "registered": 9},
        )

    today = timezone.localdate()
    villages = [data.A1, data.A2, data.B1, *VILLAGES_OUTSIDE]
    persons: dict[str, Person] = {}
    referrals: dict[str, int] = {}
    doctors: dict[str, Responsible] = {}
    birth = dt.date(1941, 2, 3)
    for seq, code in enumerate(villages, start=10):
        village = Area.objects.get(code=code)
        doctors[code] = Responsible.objects.create(
            code=f"DOC{code}", kind="doctor", name=f"{PERSON_NAMES[code]}医生", area=village
        )
        persons[code] = services.register_person(
            name=PERSON_NAMES[code],
            sex="M",
            birth_date=birth,
            id_number=id_number(birth, seq * 2 + 1),
            village=village,
            groups=["age65"],
            phone="13800000000",
            doctor=doctors[code],
            registered_on=today - dt.timedelta(days=30),
        )
        referrals[code] = Referral.objects.create(
            person=persons[code],
            date=today,
            destination="township_health_centre",
            reason="clinical",
        ).pk
    twin_id = id_number(birth, 10 * 2 + 1)
    for code in TWINS:
        services.register_person(
            name=PERSON_NAMES[data.A1],
            sex="M",
            birth_date=birth,
            id_number=twin_id,
            village=Area.objects.get(code=code),
            groups=["age65"],
            doctor=doctors[code],
            registered_on=today - dt.timedelta(days=30),
        )
    campaigns = {}
    for code in Area.objects.order_by("code").values_list("code", flat=True):
        campaigns[code] = services.create_campaign(
            name=f"摸排{code}",
            area=Area.objects.get(code=code),
            start=today - dt.timedelta(days=3),
            deadline=today + dt.timedelta(days=10),
            groups=["age65"],
        ).pk

    cadres = {
        code: create_user_with_jurisdiction(f"cadre_{code}", PASSWORD, code, "village_cadre").pk
        for code in villages
    }
    walkers = []
    areas = {a.code: a for a in Area.objects.all()}
    for name, role, code in USERS:
        user = create_user_with_jurisdiction(name, PASSWORD, code, role)
        if role == "village_doctor":
            doctors[data.A1].user = user
            doctors[data.A1].save(update_fields=["user"])
        root = areas[code]
        ancestors = {getattr(root, f"l{k}") for k in range(1, 6)}
        outside = [
            c for c, a in areas.items() if not a.path.startswith(root.path) and c not in ancestors
        ]
        foreign = {c for c in outside} | {areas[c].name for c in outside}
        for village, person in persons.items():
            if village in outside:
                foreign |= {person.ref, person.name, doctors[village].code, doctors[village].name}
        foreign |= set(Person.objects.filter(village_id__in=outside).values_list("ref", flat=True))
        foreign |= {f"摸排{c}" for c in outside if c in campaigns}
        area, village = _nearest_outside(root, outside)
        walkers.append(
            Walker(
                name=name,
                user=user,
                token=create_token(user, "walk")[1] if create_token(user, "spare") else "",
                root=root,
                foreign=foreign,
                outside_area=area,
                outside_village=village,
            )
        )
    codes = {w.root.code for w in walkers} | {w.outside_area for w in walkers}
    return World(today, persons, referrals, campaigns, walkers, cadres, _briefings(codes, today))


#: The world is built once per test module (tests.fixtures.shared_db): each of its tests runs in
#: its own savepoint inside the module's transaction, so what a test writes (the walk's POSTs)
#: is undone before the next one. Every module that uses it has only tests that use it.
_module_world = built_once(build_world)


@pytest.fixture
def world(_module_world: World, db: None) -> World:
    """The module's world with its users, areas and persons read back for this test (no
    attribute an earlier test set on them survives)."""
    w = _module_world
    users = get_user_model().objects.in_bulk([x.user.pk for x in w.walkers])
    roots = Area.objects.in_bulk([x.root.code for x in w.walkers])
    persons = Person.objects.in_bulk([p.pk for p in w.persons.values()])
    walkers = [
        dataclasses.replace(
            x, user=users[x.user.pk], root=roots[x.root.code], foreign=set(x.foreign)
        )
        for x in w.walkers
    ]
    return dataclasses.replace(
        w,
        persons={code: persons[p.pk] for code, p in w.persons.items()},
        referrals=dict(w.referrals),
        campaigns=dict(w.campaigns),
        walkers=walkers,
        cadres=dict(w.cadres),
        briefings=dict(w.briefings),
    )


def _briefings(codes: set[str], today: dt.date) -> dict[str, int]:
    """An archived briefing of each area in ``codes``, as the archive stores one (file and
    checksum), without rendering: the walk checks who may reach it, not its contents."""
    from ruralwatch.briefings.models import Briefing
    from ruralwatch.briefings.services import storage_dir

    out = {}
    for i, code in enumerate(sorted(codes)):
        data_ = f"<html><body>briefing {i}</body></html>".encode()
        name = f"walk-{i}.html"
        storage_dir().mkdir(parents=True, exist_ok=True)
        (storage_dir() / name).write_bytes(data_)
        out[code] = Briefing.objects.create(
            area_id=code,
            date=today,
            language="zh-hans",
            format="html",
            issue=1,
            file=name,
            size=len(data_),
            sha256=hashlib.sha256(data_).hexdigest(),
        ).pk
    return out
