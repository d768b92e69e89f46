"""Division-list import: real NBS files, all-or-nothing rejection, idempotence, subtrees."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.utils import translation

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.core.problems import ImportRejected
from tests.shared import DATA

VILLAGES_2016 = DATA / "admin" / "cn_divisions_2016_village.csv.gz"
TOWNSHIPS_2023 = DATA / "admin" / "cn_divisions_2023_township.csv.gz"

pytestmark = pytest.mark.django_db


def _write(tmp_path: Path, text: str, name: str = "areas.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_county_subtree_from_2016_file_with_ancestors() -> None:
    summary = import_areas(VILLAGES_2016, root="130102000000")  # 长安区, 石家庄市
    assert summary.imported == summary.rows
    county = Area.objects.get(code="130102000000")
    assert county.level == 3
    assert county.path == "/130000000000/130100000000/130102000000/"
    villages = Area.objects.filter(path__startswith=county.path, level=5)
    with gzip.open(VILLAGES_2016, "rt", encoding="utf-8") as fh:
        expected = sum(1 for line in fh if line.startswith("130102") and ",5,130102" in line)
    assert villages.count() == expected > 0
    v = villages.first()
    assert v is not None
    assert (v.l1, v.l2, v.l3) == ("130000000000", "130100000000", "130102000000")
    assert v.l4 == v.parent_id and v.l5 == v.code
    # Ancestors are loaded, siblings are not.
    assert Area.objects.filter(level=1).count() == 1
    assert not Area.objects.filter(code="130104000000").exists()


def test_reimport_is_idempotent_and_counts_updates(tmp_path: Path) -> None:
    text = (
        "code,name,level,parent_code\n110000000000,北京市,1,\n110100000000,市辖区,2,110000000000\n"
    )
    first = import_areas(_write(tmp_path, text))
    again = import_areas(_write(tmp_path, text))
    renamed = import_areas(_write(tmp_path, text.replace("市辖区", "北京城区")))
    assert (first.imported, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert (renamed.imported, renamed.updated, renamed.unchanged) == (0, 1, 1)
    assert Area.objects.get(code="110100000000").name == "北京城区"


def test_bad_rows_are_all_reported_and_nothing_is_written(tmp_path: Path) -> None:
    import_areas(
        _write(tmp_path, "code,name,level,parent_code\n110000000000,北京市,1,\n", "ok.csv")
    )
    before = list(Area.objects.values_list("code", "name", "path").order_by("code"))
    bad = _write(
        tmp_path,
        "code,name,level,parent_code\n"
        "120000000000,天津市,1,\n"  # fine on its own
        "12010000000,短代码,2,120000000000\n"  # row 3: bad code
        "120100000000,市辖区,2,999900000000\n"  # row 4: unknown parent
        "120101000000,和平区,2,110000000000\n"  # row 5: fine (level 2 under a province)
        "120101000000,和平区,3,120100000000\n"  # row 6: duplicate code
        "120102000000,河东区,7,120100000000\n"  # row 7: level out of range
        "130000000000,河北省,2,\n",  # row 8: a level-2 unit with no parent
        "bad.csv",
    )
    with pytest.raises(ImportRejected) as info:
        import_areas(bad)
    found = {(p.row, p.column) for p in info.value.problems}
    assert {(3, "code"), (6, "code"), (7, "level"), (8, "parent_code")} <= found
    assert all(p.file == "bad.csv" for p in info.value.problems)
    # Unknown parents are found once the structural problems are fixed.
    with pytest.raises(ImportRejected) as info2:
        import_areas(
            _write(
                tmp_path,
                "code,name,level,parent_code\n120100000000,市辖区,2,999900000000\n",
                "p.csv",
            )
        )
    assert [(p.row, p.column) for p in info2.value.problems] == [(2, "parent_code")]
    assert "999900000000" in str(info2.value.problems[0])
    after = list(Area.objects.values_list("code", "name", "path").order_by("code"))
    assert after == before


def test_level_mismatch_is_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "code,name,level,parent_code\n110000000000,北京市,1,\n110100000000,市辖区,2,110000000000\n"
        "110101000000,东城区,3,110100000000\n110102000000,西城区,3,110101000000\n",
    )
    with translation.override("en"), pytest.raises(ImportRejected) as info:
        import_areas(path)
    assert [(p.row, p.column) for p in info.value.problems] == [(5, "level")]
    assert "level-3 unit cannot hang under a level-3 parent" in info.value.problems[0].reason
    assert Area.objects.count() == 0


def test_2023_tree_where_townships_hang_under_prefectures() -> None:
    """Dongguan (4419) has no county level: townships point at the prefecture row."""
    summary = import_areas(TOWNSHIPS_2023, root="441900000000")
    assert summary.by_level[4] > 20
    town = Area.objects.filter(parent_id="441900000000", level=4).first()
    assert town is not None
    assert town.l3 == "" and town.l2 == "441900000000"


@pytest.mark.slow
def test_full_national_tree_imports() -> None:
    summary = import_areas(VILLAGES_2016)
    assert summary.by_level == {1: 34, 2: 344, 3: 3133, 4: 42868, 5: 666655}
    assert Area.objects.count() == 713034
    # A subtree is one prefix range on the materialized path.
    hebei = Area.objects.get(code="130000000000")
    assert (
        Area.objects.filter(path__startswith=hebei.path, level=5).count()
        == Area.objects.filter(l1="130000000000", level=5).count()
    )
