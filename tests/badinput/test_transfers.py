"""Bad-input corpus of ``ruralwatch resources import-transfers`` (referral transfers along
the network): every file refused whole, with its row, column and reason, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.resources.services import import_transfers
from tests.badinput.corpus import Case, Data, _csv, _xlsx
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

HEADER = "date,from_facility,to_facility,patients,severe,green_channel"
GOOD = "2023-02-02,VC-2,THC-E,1,0,0"


def _row(**over: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    cells.update(over)
    return ",".join(cells.values())


def _cases() -> list[tuple[Case, Data]]:
    c = generic_cases("transfers", HEADER, GOOD, formula_column=3, required="to_facility")

    def one(name: str, column: str, reason: str, /, **over: str) -> None:
        """The good row, then the bad one (row 3) on another day."""
        text = f"{HEADER}\n{GOOD}\n{_row(**{'date': '2023-02-03', **over})}\n"
        c.append((Case("transfers", name, column, reason, 3), _csv(text)))

    whole = "not a whole number of at least 0"
    for column in ("patients", "severe", "green_channel"):
        for name, value in (
            ("nan", "NaN"),
            ("inf", "-inf"),
            ("1e400", "1e400"),
            ("negative", "-2"),
            ("fraction", "0.5"),
        ):
            one(f"{column}_{name}.csv", column, whole, **{column: value})
        one(f"{column}_huge.csv", column, "plausible count", **{column: "20000000"})
    one("patients_empty.csv", "patients", "empty cell", patients="")
    one("severe_over_patients.csv", "severe", "more than the patients", severe="3")
    one("green_over_patients.csv", "green_channel", "more than the patients", green_channel="2")
    one("self.csv", "to_facility", "does not refer to itself", to_facility="VC-2")
    one("from_unknown.csv", "from_facility", "unknown facility", from_facility="VC-99")
    one("to_unknown.csv", "to_facility", "unknown facility", to_facility="THC-99")
    one("from_empty.csv", "from_facility", "empty cell", from_facility="")
    one("from_area_code.csv", "from_facility", "unknown facility", from_facility="990101001002")
    one("downward.csv", "to_facility", "is not above", from_facility="THC-E", to_facility="VC-1")
    one("sideways.csv", "to_facility", "is not above", from_facility="VC-1", to_facility="VC-3")
    one("other_township.csv", "to_facility", "does not serve the township", from_facility="VC-3")
    one(
        "skip_level_not_green.csv",
        "green_channel",
        "skips a level",
        to_facility="CH",
        patients="2",
        green_channel="1",
    )
    one(
        "before_pairing.csv",
        "to_facility",
        "is not paired with the county",
        date="2022-11-30",
        from_facility="CH",
        to_facility="UH",
    )
    span = "outside the accepted span"
    for name, value, reason in (
        ("date_trailing.csv", "2023-02-03abc", "not a date"),
        ("date_feb29.csv", "2023-02-29", "not a date"),
        ("date_overflow.csv", "20230-02-03", "not a date"),
        ("date_time.csv", "2023-02-03 10:30", "not a date"),
        ("date_1900.csv", "1900-01-01", span),
        ("date_2099.csv", "2099-01-01", span),
        ("date_empty.csv", "", "empty cell"),
    ):
        one(name, "date", reason, date=value)
    c.append(
        (
            Case("transfers", "duplicate.csv", "date", "duplicate of row 2", 3),
            _csv(f"{HEADER}\n{GOOD}\n{_row(patients='4')}\n"),
        )
    )
    c.append(
        (
            Case("transfers", "downward.csv.gz", "to_facility", "is not above", 3),
            gz(f"{HEADER}\n{GOOD}\n{_row(from_facility='CH', to_facility='VC-1')}\n"),
        )
    )
    heads = HEADER.split(",")
    c.append(
        (
            Case("transfers", "patients_nan.xlsx", "patients", whole, 3),
            _xlsx([heads, GOOD.split(","), _row(date="2023-02-03", patients="NaN").split(",")]),
        )
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("transfers"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 50


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_transfers(corpus / case.name, today=TODAY))


@pytest.mark.parametrize("name", ["downward.csv", "patients_nan.csv", "zip_bomb.xlsx"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["resources", "import-transfers", str(corpus / name)], monkeypatch)
