"""No combination of clear columns gives back a resident ID number or a phone number.

Persons are written by every path (the roster importer, the one-person service, the synthetic
loader); then every column of their rows that is not encrypted is read as an attacker with a
copy of the database but without the keys would read it, and every ID number consistent with
those columns is counted: hundreds remain for every person, so none can be rebuilt. The data
migration that converts rows stored under the former layout is checked on such a row.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ruralwatch.areas.models import Area
from ruralwatch.keygroups import crypto, services
from ruralwatch.keygroups.models import Person
from tests.keygroups.conftest import ON, smallest_township

pytestmark = pytest.mark.django_db

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id(birth: str, seq: int, region: str = "990101") -> str:
    first = region + birth + f"{seq:03d}"
    return first + crypto.id_check_char(first)


def _clear_columns(person_id: int) -> dict[str, Any]:
    """Every column of a person's row except the encrypted ones and the keyed hash."""
    fields = [
        f.attname
        for f in Person._meta.concrete_fields
        if not f.attname.endswith("_enc") and f.attname != "id_hash"
    ]
    row = Person.objects.filter(pk=person_id).values(*fields).get()
    return row


def _candidates(clear: dict[str, Any], village: str) -> list[str]:
    """Every valid ID number consistent with what the clear columns say: the mask's visible
    characters, the month of birth, the sex (parity of the 17th digit) and — for the region
    hidden by a mask — the village's county."""
    masked: str = clear["id_masked"]
    assert len(masked) == 18
    known = {i: ch for i, ch in enumerate(masked) if ch != "*"}
    region = masked[:6] if all(i in known for i in range(6)) else village[:6]
    month: dt.date = clear["birth_month"]
    parity = 1 if clear["sex"] == "M" else 0
    out = []
    for day in range(1, 32):
        try:
            born = dt.date(month.year, month.month, day)
        except ValueError:
            continue
        for seq in range(1000):
            if seq % 2 != parity:
                continue
            first = region + born.strftime("%Y%m%d") + f"{seq:03d}"
            full = first + crypto.id_check_char(first)
            if all(full[i] == ch for i, ch in known.items()):
                out.append(full)
    return out


def _assert_not_rebuildable(person: Person, id_number: str, phones: list[str]) -> None:
    clear = _clear_columns(person.pk)
    candidates = _candidates(clear, person.village_id)
    assert id_number in candidates  # the count below is of a set that holds the truth
    assert len(candidates) >= 100, (clear, len(candidates))
    text = " ".join(str(v) for v in clear.values())
    assert id_number[6:14] not in text  # the birth date digits are nowhere in clear
    assert id_number[14:17] not in clear["id_masked"]  # nor the sequence number
    # No free-text or masked column holds four consecutive digits of a phone (codes, dates
    # and numbers such as the village code are left out: they are not derived from phones).
    texts = " ".join(
        str(v) for k, v in clear.items() if isinstance(v, str) and k not in ("ref", "village_id")
    )
    for phone in phones:
        digits = "".join(c for c in phone if c.isdigit())
        for i in range(len(digits) - 3):
            assert digits[i : i + 4] not in texts, (phone, texts)


def test_the_former_layout_gave_the_number_back() -> None:
    """The check above is not vacuous: region + last four + a clear birth date leave one
    candidate — the number itself."""
    id_number = _id("19400301", 11)
    old = {
        "id_masked": id_number[:6] + "********" + id_number[-4:],
        "birth_month": dt.date(1940, 3, 1),
        "sex": "M",
    }
    day_known = [c for c in _candidates(old, "990101001001") if c[12:14] == "01"]
    assert day_known == [id_number]


def test_one_person_written_by_the_service(village: Area) -> None:
    id_number = _id("19400317", 11)
    person = services.register_person(
        name="王大爷",
        sex="M",
        birth_date=dt.date(1940, 3, 17),
        id_number=id_number,
        village=village,
        groups=["age65"],
        phone="13812345678",
        guardian_phone="13987654321",
        registered_on=ON,
    )
    assert person.birth_date == dt.date(1940, 3, 17)  # the full date, decrypted
    stored = Person.objects.get(pk=person.pk)
    assert stored.birth_month == dt.date(1940, 3, 1)
    assert stored.id_masked == id_number[:6] + "*" * 10 + id_number[-2:]
    _assert_not_rebuildable(stored, id_number, ["13812345678", "13987654321"])


def test_persons_written_by_the_roster_import(village: Area, tmp_path: Path) -> None:
    rows = [
        ("王大爷", "男", "1940-03-17", _id("19400317", 11), "13812345678"),
        ("李奶奶", "女", "1951-12-31", _id("19511231", 24), "0771-1234567"),
        ("赵爷爷", "男", "1948-02-29", _id("19480229", 35), "+86 139 8765 4321"),
    ]
    path = tmp_path / "roster.csv"
    path.write_text(
        "姓名,性别,出生日期,身份证号,联系电话,村代码,重点人群类别\n"
        + "".join(f"{n},{s},{b},{i},{p},{village.code},独居老人\n" for n, s, b, i, p in rows),
        encoding="utf-8",
    )
    services.import_roster(path, today=ON)
    for name, _sex, birth, id_number, phone in rows:
        person = Person.objects.get(name=name)
        assert person.birth_date == dt.date.fromisoformat(birth)
        _assert_not_rebuildable(person, id_number, [phone])


def test_persons_written_by_the_synthetic_loader(tree: Any) -> None:
    from ruralwatch.synth.persons import build_persons

    root = Area.objects.get(level=1)
    # One township's registry: the loader's writing is the same for every village, and the
    # whole county's 70,000 persons cost 19 CPU s of the suite.
    people = build_persons(tree, tree.seed, on=ON, within=smallest_township(tree))
    assert people.persons.height >= 25
    services.load_persons(people, root)
    sample = people.persons.head(25)
    for ref, id_number, phone, birth in sample.select(
        "ref", "id_number", "phone", "birth_date"
    ).iter_rows():
        person = Person.objects.get(ref=ref)
        assert person.birth_date == birth
        _assert_not_rebuildable(person, id_number, [phone] if phone else [])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_data_migration_converts_stored_rows(village: Area) -> None:
    """A row stored under the former layout (clear birth date, four trailing characters)
    comes out of migration 0004 with the month in clear, the date encrypted and the short
    mask; migrating back restores the date."""
    executor = MigrationExecutor(connection)
    old_state = [("keygroups", "0003_person_due_index")]
    new_state = [("keygroups", "0004_person_birth_month_mask")]
    executor.migrate(old_state)
    try:
        apps = executor.loader.project_state(old_state).apps
        OldPerson = apps.get_model("keygroups", "Person")
        id_number = _id("19400317", 11)
        OldPerson.objects.create(
            ref="old-1",
            name="王大爷",
            sex="M",
            birth_date=dt.date(1940, 3, 17),
            id_enc=crypto.encrypt(id_number),
            id_hash=crypto.keyed_hash(id_number),
            id_masked=id_number[:6] + "********" + id_number[-4:],
            village_id=village.code,
            registered_on=ON,
        )
        executor = MigrationExecutor(connection)
        executor.migrate(new_state)
        person = Person.objects.get(ref="old-1")
        assert person.birth_month == dt.date(1940, 3, 1)
        assert person.birth_date == dt.date(1940, 3, 17)
        assert person.id_masked == id_number[:6] + "*" * 10 + id_number[-2:]
        _assert_not_rebuildable(person, id_number, [])
        executor = MigrationExecutor(connection)
        executor.migrate(old_state)
        apps = executor.loader.project_state(old_state).apps
        back = apps.get_model("keygroups", "Person").objects.get(ref="old-1")
        assert back.birth_date == dt.date(1940, 3, 17)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_candidates_are_enumerated_exhaustively() -> None:
    """The enumeration itself: for a known mask every day and odd sequence is tried."""
    id_number = _id("19400317", 11)
    clear = {
        "id_masked": crypto.mask_id(id_number),
        "birth_month": dt.date(1940, 3, 1),
        "sex": "M",
    }
    found = _candidates(clear, "990101001001")
    # (day, sequence) pairs whose 17th digit is the one shown: 31 × 100; about one in eleven
    # of them has the shown check character.
    tried = [(d, s) for d, s in itertools.product(range(1, 32), range(1000)) if s % 10 == 1]
    assert len(tried) == 3100
    assert len(tried) / 15 < len(found) < len(tried) / 7
    assert all(c[:6] == "990101" and c[10:12] == "03" and c[-2:] == id_number[-2:] for c in found)
