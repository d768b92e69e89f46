"""Roster import: Chinese headers, validation with row/column, all-or-nothing, idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from ruralwatch.areas.models import Area
from ruralwatch.core.problems import ImportRejected
from ruralwatch.keygroups import crypto
from ruralwatch.keygroups.models import Membership, Person, Responsible
from ruralwatch.keygroups.selectors import audit
from ruralwatch.keygroups.services import import_roster
from tests.keygroups.conftest import ON


def _id(birth: str, seq: int) -> str:
    first = "990101" + birth + f"{seq:03d}"
    return first + crypto.id_check_char(first)


HEADER = (
    "姓名,性别,出生日期,身份证号,联系电话,村代码,重点人群类别,"
    "责任医生,包保干部,监护人,基础疾病,疫苗接种\n"
)


def _rows(village: str) -> str:
    return (
        f"王大爷,男,1940-03-01,{_id('19400301', 11)},13800000000,{village},"
        "65岁及以上老年人、独居老人,李医生,赵干部,,稳定,未全程\n"
        f"王小宝,男,2014-05-06,{_id('20140506', 13)},,{village},"
        "留守儿童,李医生,赵干部,王奶奶,无,全程\n"
    )


def test_import_then_idempotent(village: Area, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + _rows(village.code), encoding="utf-8")
    s = import_roster(path, today=ON)
    assert (s.rows, s.inserted, s.updated, s.unchanged) == (2, 2, 0, 0)
    p = Person.objects.get(name="王大爷")
    assert p.tier == "red" and p.doctor and p.doctor.name == "李医生"
    assert set(p.memberships.values_list("group_id", flat=True)) == {"age65", "living_alone"}
    assert crypto.decrypt(p.phone_enc) == "13800000000"
    before = list(Person.objects.order_by("ref").values_list("ref", "phone_enc", "updated_at"))
    s = import_roster(path, today=ON)
    assert (s.inserted, s.updated, s.unchanged) == (0, 0, 2)
    after = list(Person.objects.order_by("ref").values_list("ref", "phone_enc", "updated_at"))
    assert before == after
    assert Responsible.objects.count() == 2 and Membership.objects.count() == 3
    # A changed phone updates one row.
    path.write_text(HEADER + _rows(village.code).replace("13800000000", "13900000000"), "utf-8")
    s = import_roster(path, today=ON)
    assert (s.inserted, s.updated, s.unchanged) == (0, 1, 1)
    assert crypto.decrypt(Person.objects.get(name="王大爷").phone_enc) == "13900000000"


def test_xlsx_and_duplicate_across_villages(tree, tmp_path: Path) -> None:
    v1, v2 = Area.objects.filter(level=5).order_by("code")[:2]
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    for line in _rows(v1.code).splitlines()[:1]:
        ws.append(line.split(","))
    path = tmp_path / "a.xlsx"
    wb.save(path)
    import_roster(path, today=ON)
    other = tmp_path / "b.csv"
    other.write_text(HEADER + _rows(v2.code).splitlines()[0] + "\n", encoding="utf-8")
    import_roster(other, today=ON)
    root = Area.objects.get(code=v1.l1)
    dups = [f for f in audit(root, ON) if f["kind"] == "duplicate_person"]
    assert {f["area"] for f in dups} == {v1.code, v2.code}
    assert dups[0]["other_areas"]


def test_problems_all_or_nothing(village: Area, tmp_path: Path) -> None:
    good = _rows(village.code).splitlines()
    bad_id = good[0].replace(_id("19400301", 11), _id("19400301", 11)[:-1] + "0")
    unknown_village = good[1].replace(village.code, "990199999999")
    dup = good[0]
    no_guardian = good[1].replace("王奶奶", "")
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "\n".join(
            [
                good[0],
                bad_id,
                unknown_village,
                dup,
                no_guardian,
                good[0].replace("男", "女").replace("11", "15"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as exc:
        import_roster(path, today=ON)
    where = {(p.row, p.column) for p in exc.value.problems}
    assert (3, "id_number") in where  # check digit
    assert (4, "village") in where
    assert (5, "id_number") in where  # duplicate of row 2
    assert (6, "guardian_name") in where
    assert Person.objects.count() == 0
    text = exc.value.render()
    assert "bad.csv" in text


def test_missing_columns(tmp_path: Path, db: None) -> None:
    path = tmp_path / "x.csv"
    path.write_text("姓名,性别\n张三,男\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as exc:
        import_roster(path, today=ON)
    assert {p.column for p in exc.value.problems} == {"id_number", "village", "groups"}
