"""Bad-input corpus of ``ruralwatch resources import-stock`` (stock reports): every file
refused whole, with its row, column and reason, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.resources.services import import_stock
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

HEADER = "facility_code,item,date,on_hand,received,issued"
GOOD = "VC-2,antigen_kit,2023-02-02,30,10,0"


def _row(**over: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    cells.update(over)
    return ",".join(cells.values())


def _cases() -> list[tuple[Case, Data]]:
    c = generic_cases("stock", HEADER, GOOD, formula_column=3, required="on_hand")

    def one(name: str, column: str, reason: str, /, **over: str) -> None:
        """The good row, then the bad one (row 3) for another facility."""
        text = f"{HEADER}\n{GOOD}\n{_row(**{'facility_code': 'VC-3', **over})}\n"
        c.append((Case("stock", name, column, reason, 3), _csv(text)))

    whole = "not a whole number of at least 0"
    for column in ("on_hand", "received", "issued"):
        for name, value in (
            ("nan", "NaN"),
            ("inf", "inf"),
            ("1e400", "1e400"),
            ("negative", "-3"),
            ("fraction", "0.5"),
            ("text", "lots"),
        ):
            one(f"{column}_{name}.csv", column, whole, **{column: value})
        one(f"{column}_huge.csv", column, "plausible count", **{column: "10000001"})
    one("on_hand_empty.csv", "on_hand", "empty cell", on_hand="")
    one("item_unknown.csv", "item", "unknown item", item="vaccine_x")
    one("item_empty.csv", "item", "empty cell", item="")
    one("facility_unknown.csv", "facility_code", "unknown facility", facility_code="VC-99")
    one(
        "facility_is_area_code.csv",
        "facility_code",
        "unknown facility",
        facility_code="990101001001",
    )
    one("facility_empty.csv", "facility_code", "empty cell", facility_code="")
    one("facility_long.csv", "facility_code", "unknown facility", facility_code="F" * 300)
    span = "outside the accepted span"
    for name, value, reason in (
        ("date_trailing.csv", "2023-02-02abc", "not a date"),
        ("date_feb30.csv", "2023-02-30", "not a date"),
        ("date_month13.csv", "2023-13-01", "not a date"),
        ("date_overflow.csv", "99999-01-01", "not a date"),
        ("date_dmy.csv", "02/02/2023", "not a date"),
        ("date_word.csv", "today", "not a date"),
        ("date_1900.csv", "1900-01-01", span),
        ("date_1999.csv", "1999-12-31", span),
        ("date_2099.csv", "2099-01-01", span),
        ("date_tomorrow.csv", "2023-02-07", span),
        ("date_empty.csv", "", "empty cell"),
    ):
        one(name, "date", reason, date=value)
    c.append(
        (
            Case("stock", "duplicate.csv", "date", "duplicate of row 2", 3),
            _csv(f"{HEADER}\n{GOOD}\n{_row(on_hand='31')}\n"),
        )
    )
    c.append(
        (
            Case("stock", "duplicate_by_chinese_name.csv", "date", "duplicate of row 2", 3),
            _csv(f"{HEADER}\n{GOOD}\n{_row(item='抗原检测试剂')}\n"),
        )
    )
    c.append(
        (
            Case("stock", "on_hand_nan.csv.gz", "on_hand", whole, 3),
            gz(f"{HEADER}\n{GOOD}\n{_row(facility_code='VC-3', on_hand='NaN')}\n"),
        )
    )
    heads = HEADER.split(",")
    c.append(
        (
            Case("stock", "date_trailing.xlsx", "date", "not a date", 3),
            _xlsx(
                [heads, GOOD.split(","), _row(facility_code="VC-3", date="2023-02-02x").split(",")]
            ),
        )
    )
    c.append(
        (
            Case("stock", "item_nul.csv", "item", "control character", 3),
            _csv(
                "\n".join((HEADER, GOOD, _row(facility_code="VC-3", item="antigen\x00kit"))) + "\n"
            ),
        )
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("stock"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 50


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_stock(corpus / case.name, today=TODAY))


@pytest.mark.parametrize("name", ["on_hand_nan.csv", "facility_unknown.csv", "bomb.csv.gz"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["resources", "import-stock", str(corpus / name)], monkeypatch)
