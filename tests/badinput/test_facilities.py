"""Bad-input corpus of ``ruralwatch resources import-facilities`` (the facility registry with
capacity): every file refused whole, with its row, column and reason, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.resources.services import import_facilities
from tests.badinput.corpus import COUNTY, PREF, TOWN, V1, Case, Data, _csv, _xlsx
from tests.badinput.harness import (
    TODAY,
    assert_cli_refuses,
    assert_refused,
    generic_cases,
    gz,
    world_fixture,
    write_cases,
)

pytestmark = pytest.mark.django_db
world = world_fixture()

HEADER = (
    "code,name,kind,area_code,population_served,as_of,fever_clinic,fever_clinic_hours,beds,"
    "oxygen,doctors,grade"
)
GOOD = f"VC-9,东一村二室,village_clinic,{V1},500,2023-02-01,否,0,0,否,1,"


def _row(**over: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    cells.update(over)
    return ",".join(cells.values())


def _cases() -> list[tuple[Case, Data]]:
    c = generic_cases("facilities", HEADER, GOOD, formula_column=8, required="area_code")

    def one(name: str, column: str, reason: str, /, **over: str) -> None:
        """The good row, then the bad one (row 3)."""
        text = f"{HEADER}\n{GOOD}\n{_row(**{'code': 'VC-8', **over})}\n"
        c.append((Case("facilities", name, column, reason, 3), _csv(text)))

    whole = "not a whole number of at least 0"
    for name, value in (
        ("beds_nan.csv", "NaN"),
        ("beds_inf.csv", "inf"),
        ("beds_1e400.csv", "1e400"),
        ("beds_negative.csv", "-1"),
        ("beds_fraction.csv", "2.5"),
        ("beds_text.csv", "many"),
        ("beds_fullwidth.csv", "１２"),
    ):
        one(name, "beds", whole, beds=value)
    one("beds_huge.csv", "beds", "plausible count", beds="10000001")
    one("doctors_20_digits.csv", "doctors", whole, doctors="9" * 20)
    one("population_negative.csv", "population_served", whole, population_served="-5")
    one("hours_25.csv", "fever_clinic_hours", "0–24", fever_clinic_hours="25")
    one("hours_nan.csv", "fever_clinic_hours", "0–24", fever_clinic_hours="NaN")
    one("hours_negative.csv", "fever_clinic_hours", "0–24", fever_clinic_hours="-1")
    one("oxygen_maybe.csv", "oxygen", "not yes or no", oxygen="maybe")
    one("fever_clinic_2.csv", "fever_clinic", "not yes or no", fever_clinic="2")
    one("kind_unknown.csv", "kind", "unknown facility kind", kind="clinic")
    one("kind_empty.csv", "kind", "empty cell", kind="")
    one("code_empty.csv", "code", "empty cell", code="")
    one("name_empty.csv", "name", "empty cell", name="")
    one("code_41.csv", "code", "at most 40", code="C" * 41)
    one("name_101.csv", "name", "at most 100", name="院" * 101)
    one("area_unknown.csv", "area_code", "unknown area code", area_code="990101009009")
    one("area_text.csv", "area_code", "unknown area code", area_code="east")
    one("clinic_in_township.csv", "area_code", "level 5", area_code=TOWN)
    one("centre_in_village.csv", "area_code", "level 4", kind="乡镇卫生院")
    one("county_hospital_in_prefecture.csv", "area_code", "level 3", kind="县医院", area_code=PREF)
    one("urban_in_village.csv", "area_code", "level 2 or 3", kind="城市医院", grade="3")
    one("urban_grade_1.csv", "grade", "grade 2 or 3", kind="城市医院", area_code=PREF, grade="1")
    one("urban_no_grade.csv", "grade", "grade 2 or 3", kind="城市医院", area_code=COUNTY)
    one("grade_4.csv", "grade", "not a hospital grade", grade="4")
    span = "outside the accepted span"
    for name, value, reason in (
        ("as_of_trailing.csv", "2023-02-01abc", "not a date"),
        ("as_of_feb30.csv", "2023-02-30", "not a date"),
        ("as_of_month13.csv", "2023-13-01", "not a date"),
        ("as_of_overflow.csv", "99999-01-01", "not a date"),
        ("as_of_time.csv", "2023-02-01 08:00", "not a date"),
        ("as_of_1900.csv", "1900-01-01", span),
        ("as_of_2099.csv", "2099-01-01", span),
    ):
        one(name, "as_of", reason, as_of=value)
    one("capacity_without_date.csv", "as_of", "without the date", as_of="")
    c.append(
        (
            Case("facilities", "duplicate.csv", "as_of", "duplicate of row 2", 3),
            _csv(f"{HEADER}\n{GOOD}\n{GOOD}\n"),
        )
    )
    c.append(
        (
            Case("facilities", "capacity_no_as_of_column.csv", "as_of", "need an as_of", 1),
            _csv(f"code,name,kind,area_code,beds\nVC-9,室,village_clinic,{V1},3\n"),
        )
    )
    c.append(
        (
            Case("facilities", "duplicate_no_dates.csv", "code", "duplicate of row 2", 3),
            _csv(
                f"code,name,kind,area_code\nVC-9,室,village_clinic,{V1}\nVC-9,室,village_clinic,{V1}\n"
            ),
        )
    )
    c.append(
        (
            Case("facilities", "clinic_in_township.csv.gz", "area_code", "level 5", 3),
            gz(f"{HEADER}\n{GOOD}\n{_row(code='VC-8', area_code=TOWN)}\n"),
        )
    )
    heads = HEADER.split(",")
    c.append(
        (
            Case("facilities", "beds_nan.xlsx", "beds", whole, 3),
            _xlsx([heads, GOOD.split(","), _row(code="VC-8", beds="NaN").split(",")]),
        )
    )
    c.append(
        (
            Case("facilities", "code_nul.csv", "code", "control character (such as NUL)", 3),
            _csv("\n".join((HEADER, GOOD, _row(code="VC\x008"))) + "\n"),
        )
    )
    c.append(
        (
            Case("facilities", "name_nul.csv", "name", "control character (such as NUL)", 3),
            _csv("\n".join((HEADER, GOOD, _row(code="VC-8", name="室\x00"))) + "\n"),
        )
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("facilities"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 50


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_facilities(corpus / case.name, today=TODAY))


@pytest.mark.parametrize("name", ["beds_nan.csv", "clinic_in_township.csv", "truncated.csv.gz"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["resources", "import-facilities", str(corpus / name)], monkeypatch)
