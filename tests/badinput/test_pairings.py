"""Bad-input corpus of ``ruralwatch resources import-pairings`` (counties paired with urban
hospitals): every file refused whole, with its row, column and reason, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.resources.services import import_pairings
from tests.badinput.corpus import COUNTY, PREF, PROV, TOWN, V1, Case, Data, _csv, _xlsx
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

HEADER = "county_code,hospital_code,since,until,reserved_beds,green_channel"
GOOD = f"{COUNTY},UH,2023-01-01,2023-12-31,10,否"


def _row(**over: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    cells.update(over)
    return ",".join(cells.values())


def _cases() -> list[tuple[Case, Data]]:
    c = generic_cases("pairings", HEADER, GOOD, formula_column=4, required="since")

    def one(name: str, column: str, reason: str, /, **over: str) -> None:
        """The good row, then the bad one (row 3) from another start date."""
        text = f"{HEADER}\n{GOOD}\n{_row(**{'since': '2023-01-15', **over})}\n"
        c.append((Case("pairings", name, column, reason, 3), _csv(text)))

    whole = "not a whole number of at least 0"
    for name, value in (
        ("beds_nan.csv", "NaN"),
        ("beds_inf.csv", "inf"),
        ("beds_1e400.csv", "1e400"),
        ("beds_negative.csv", "-1"),
        ("beds_fraction.csv", "1.5"),
    ):
        one(name, "reserved_beds", whole, reserved_beds=value)
    one("beds_huge.csv", "reserved_beds", "plausible count", reserved_beds="99999999")
    one("green_maybe.csv", "green_channel", "not yes or no", green_channel="maybe")
    one("county_unknown.csv", "county_code", "unknown area code", county_code="990199000000")
    one("county_text.csv", "county_code", "unknown area code", county_code="county")
    one("county_is_township.csv", "county_code", "is not a county", county_code=TOWN)
    one("county_is_village.csv", "county_code", "is not a county", county_code=V1)
    one("county_is_prefecture.csv", "county_code", "is not a county", county_code=PREF)
    one("county_is_province.csv", "county_code", "is not a county", county_code=PROV)
    one("county_empty.csv", "county_code", "empty cell", county_code="")
    one("hospital_unknown.csv", "hospital_code", "unknown facility", hospital_code="UH-9")
    one("hospital_is_county.csv", "hospital_code", "not an urban hospital", hospital_code="CH")
    one("hospital_is_clinic.csv", "hospital_code", "not an urban hospital", hospital_code="VC-1")
    one("hospital_empty.csv", "hospital_code", "empty cell", hospital_code="")
    span = "outside the accepted span"
    for name, value, reason in (
        ("since_trailing.csv", "2023-01-15abc", "not a date"),
        ("since_feb30.csv", "2023-02-30", "not a date"),
        ("since_overflow.csv", "99999-01-01", "not a date"),
        ("since_1900.csv", "1900-01-01", span),
        ("since_2099.csv", "2099-01-01", span),
        ("since_empty.csv", "", "empty cell"),
    ):
        one(name, "since", reason, since=value)
    one("until_trailing.csv", "until", "not a date", until="2023-12-31 later")
    one("until_month13.csv", "until", "not a date", until="2023-13-01")
    one("until_before_since.csv", "until", "before the pairing's start", until="2023-01-10")
    one("until_year_1.csv", "until", "before the pairing's start", until="0001-01-01")
    c.append(
        (
            Case("pairings", "duplicate.csv", "since", "duplicate of row 2", 3),
            _csv(f"{HEADER}\n{GOOD}\n{_row(reserved_beds='5')}\n"),
        )
    )
    c.append(
        (
            Case("pairings", "county_is_township.csv.gz", "county_code", "is not a county", 3),
            gz(f"{HEADER}\n{GOOD}\n{_row(since='2023-01-15', county_code=TOWN)}\n"),
        )
    )
    c.append(
        (
            # Columns of the file's own named like the importer's working columns must not
            # stand in for them (an unknown facility read as a grade-3 urban hospital).
            Case("pairings", "extra_kind_columns.csv", "hospital_code", "unknown facility", 2),
            _csv(
                f"county_code,hospital_code,since,h_kind,h_grade\n{COUNTY},UH-9,2023-01-15,urban_hospital,3\n"
            ),
        )
    )
    heads = HEADER.split(",")
    c.append(
        (
            Case(
                "pairings", "hospital_is_county.xlsx", "hospital_code", "not an urban hospital", 3
            ),
            _xlsx(
                [heads, GOOD.split(","), _row(since="2023-01-15", hospital_code="CH").split(",")]
            ),
        )
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("pairings"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 45


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_pairings(corpus / case.name, today=TODAY))


@pytest.mark.parametrize("name", ["county_is_township.csv", "hospital_is_county.csv", "empty.csv"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["resources", "import-pairings", str(corpus / name)], monkeypatch)
