"""Bad-input corpus of ``ruralwatch keyareas import`` (key-area tags and support units):
every file refused whole, with its row, column and reason, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.keyareas.services import import_tags
from tests.badinput.corpus import COUNTY, TOWN, V1, V2, V3, Case, Data, _csv, _xlsx
from tests.badinput.harness import (
    assert_cli_refuses,
    assert_refused,
    generic_cases,
    gz,
    world_fixture,
    write_cases,
)

pytestmark = pytest.mark.django_db
world = world_fixture()

HEADER = "code,key_areas,support_unit"
GOOD = f"{V1},forest,{COUNTY}"


def _cases() -> list[tuple[Case, Data]]:
    c = generic_cases("keyareas", HEADER, GOOD, formula_column=1, required="key_areas")

    def one(name: str, row: str, column: str, reason: str, line: int = 3) -> None:
        c.append((Case("keyareas", name, column, reason, line), _csv(f"{HEADER}\n{GOOD}\n{row}\n")))

    tags = "key-area tags must be a comma-separated list"
    one("tag_unknown.csv", f"{V2},moon,", "key_areas", tags)
    one("tag_mixed.csv", f"{V2},mountain;moon,", "key_areas", tags)
    one("tag_chinese.csv", f"{V2},山区,", "key_areas", tags)
    one("tag_number.csv", f"{V2},1,", "key_areas", tags)
    one("tag_long.csv", f"{V2},{'x' * 5000},", "key_areas", tags)
    one("code_empty.csv", ",mountain,", "code", "code is empty")
    one("code_unknown.csv", "990101009009,mountain,", "code", "unknown area")
    one("code_text.csv", "village,mountain,", "code", "unknown area")
    one("code_long.csv", f"{'9' * 400},mountain,", "code", "unknown area")
    one("duplicate.csv", f"{V1},mountain,", "code", "appears more than once")
    one(
        "support_unknown.csv", f"{V2},mountain,990101009000", "support_unit", "unknown support unit"
    )
    one("support_without_tags.csv", f"{V2},,{COUNTY}", "support_unit", "only a key area")
    one("support_inside.csv", f"{TOWN},mountain,{V2}", "support_unit", "lies inside the key area")
    one("support_is_itself.csv", f"{V2},mountain,{V2}", "support_unit", "lies inside the key area")
    one("support_stored_key_area.csv", f"{V2},mountain,{V3}", "support_unit", "itself a key area")
    one("support_tagged_here.csv", f"{V2},island,{V1}", "support_unit", "itself a key area")
    c.append(
        (
            # A column of the file's own named like the importer's working columns ("path",
            # "level", "stored") must not stand in for them.
            Case("keyareas", "extra_path_column.csv", "code", "unknown area", 2),
            _csv("code,key_areas,path,level\n990101009009,mountain,/x/,5\n"),
        )
    )
    c.append(
        (
            Case("keyareas", "extra_stored_column.csv", "support_unit", "itself a key area", 2),
            _csv(f"code,key_areas,support_unit,stored\n{V2},mountain,{V3},\n"),
        )
    )
    c.append(
        (
            Case("keyareas", "tag_unknown.csv.gz", "key_areas", tags, 3),
            gz(f"{HEADER}\n{GOOD}\n{V2},moon,\n"),
        )
    )
    c.append(
        (
            Case("keyareas", "tag_unknown.xlsx", "key_areas", tags, 3),
            _xlsx([HEADER.split(","), GOOD.split(","), [V2, "moon", None]]),
        )
    )
    c.append(
        (
            Case("keyareas", "chinese_headers_unknown.csv", "code", "unknown area", 2),
            _csv("区划代码,三区一岛\n990101009009,mountain\n"),
        )
    )
    c.append(
        (
            Case("keyareas", "tag_nul.csv", "key_areas", "control character", 3),
            _csv(f"{HEADER}\n{GOOD}\n{V2},moun\x00tain,\n"),
        )
    )
    return c


CASES = _cases()
ALL = [case for case, _data in CASES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cases(tmp_path_factory.mktemp("keyareas"), CASES)


def test_the_corpus_is_large() -> None:
    assert len(ALL) >= 35


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, world: None) -> None:
    assert_refused(case, lambda: import_tags(corpus / case.name))


@pytest.mark.parametrize("name", ["tag_unknown.csv", "support_inside.csv", "truncated.csv.gz"])
def test_command_line(
    name: str, corpus: Path, world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if c.name == name)
    assert_cli_refuses(case, ["keyareas", "import", str(corpus / name)], monkeypatch)


# --- a user's upload: only areas below the level they manage, inside their jurisdiction ------

SCOPED = [
    Case("keyareas", "county.csv", "code", "you may not set area", 2),
    Case("keyareas", "own_township.csv", "code", "you may not set area", 2),
    Case("keyareas", "other_township_village.csv", "code", "you may not set area", 2),
    Case("keyareas", "support_outside.csv", "support_unit", "you may not set area", 2),
]
SCOPED_ROWS = {
    "county.csv": f"{COUNTY},mountain,",
    "own_township.csv": f"{TOWN},mountain,",
    "other_township_village.csv": f"{V3},forest,",
    "support_outside.csv": f"{V2},mountain,{COUNTY}",
}


@pytest.mark.parametrize("case", SCOPED, ids=[c.name for c in SCOPED])
def test_a_township_user_sets_only_its_villages(case: Case, tmp_path: Path, world: None) -> None:
    from ruralwatch.accounts.services import create_user_with_jurisdiction

    user = create_user_with_jurisdiction("tw-badinput", "pw-badinput-1", TOWN, "township")
    path = tmp_path / case.name
    path.write_text(f"{HEADER}\n{SCOPED_ROWS[case.name]}\n", encoding="utf-8")
    assert_refused(case, lambda: import_tags(path, user=user))
