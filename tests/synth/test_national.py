"""Reports on the real 2016 tree at a scale (ruralwatch.synth.national), read from ../shared."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ruralwatch.synth.national import day_values, load_tree, scale_prefixes
from tests.shared import SHARED

ADMIN = SHARED / "data" / "admin" / "cn_divisions_2016_village.csv.gz"


@pytest.fixture(scope="module")
def county():  # type: ignore[no-untyped-def]
    return load_tree(ADMIN, "county")


def test_a_county_cut_keeps_its_ancestors_and_its_real_villages(county) -> None:  # type: ignore[no-untyped-def]
    areas = county.areas
    counts = dict(areas.group_by("level").len().iter_rows())
    assert counts == {1: 1, 2: 1, 3: 1, 4: 16, 5: 362}  # 宜阳县 in the 2016 list
    assert set(areas.filter(pl.col("level") < 4)["code"]) == {
        "410000000000",
        "410300000000",
        "410327000000",
    }
    assert areas.filter(pl.col("code") == "410327000000")["name"].item() == "宜阳县"
    # Parents before children, as the importer wants them.
    assert areas["level"].to_list() == sorted(areas["level"].to_list())


def test_parents_carry_the_sum_of_their_villages_populations(county) -> None:  # type: ignore[no-untyped-def]
    areas = county.areas
    villages = areas.filter(pl.col("level") == 5)
    total = int(villages["population"].sum())
    for code in ("410000000000", "410300000000", "410327000000"):
        assert areas.filter(pl.col("code") == code)["population"].item() == total
    by_township = villages.group_by("parent_code").agg(pl.col("population").sum())
    townships = areas.filter(pl.col("level") == 4).join(
        by_township, left_on="code", right_on="parent_code"
    )
    assert (townships["population"] == townships["population_right"]).all()
    assert (areas["population_65plus"] <= areas["population"]).all()
    assert (villages["population"] >= 50).all()


def test_a_day_is_drawn_the_same_whatever_was_drawn_before(county) -> None:  # type: ignore[no-untyped-def]
    first, values = day_values(county, 30)
    day_values(county, 3)
    again, values_again = day_values(county, 30)
    assert (first == again).all()
    assert all((values[k] == values_again[k]).all() for k in values)
    _, values_other = day_values(county, 31)
    assert not all((values[k] == values_other[k]).all() for k in values)


def test_the_indicators_nest_and_unreported_villages_send_nothing(county) -> None:  # type: ignore[no-untyped-def]
    reported = np.zeros(len(county.village_codes), dtype=int)
    for day in range(60):
        r, v = day_values(county, day)
        reported += r
        assert (v["antigen_pos"] <= v["fever_visits"]).all()
        assert (v["new_cases"] <= v["fever_visits"]).all()
        assert (v["severe_cases"] <= v["new_cases"]).all()
        assert (v["deaths"] <= v["severe_cases"]).all()
        assert all((x[~r] == 0).all() for x in v.values())
        assert all((x >= 0).all() for x in v.values())
    missing = 1 - reported.sum() / (60 * reported.size)
    assert 0.01 < missing < 0.03  # P_MISSING = 2 %


def test_after_the_wave_most_villages_report_no_cases(county) -> None:  # type: ignore[no-untyped-def]
    late = county.peak_day.max() + 4 * county.width.max()
    _, values = day_values(county, int(late) + 1)
    assert (values["new_cases"] == 0).mean() > 0.8


def test_an_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale 'planet'"):
        load_tree(ADMIN, "planet")
    for wrong in ("province:6", "province:640", "province:xx", "province:00", "county:41"):
        with pytest.raises(ValueError, match="unknown scale"):
            load_tree(ADMIN, wrong)
    with pytest.raises(ValueError, match="no villages"):
        load_tree(ADMIN, "province:99")  # no province 99 in the 2016 list


def test_one_province_by_its_code_is_a_scale() -> None:
    ningxia = load_tree(ADMIN, "province:64")
    areas = ningxia.areas
    # 宁夏回族自治区 in the 2016 list: the province and everything under it, nothing else.
    assert areas.filter(pl.col("level") == 1)["name"].to_list() == ["宁夏回族自治区"]
    assert areas["code"].str.starts_with("64").all()
    counts = dict(areas.group_by("level").len().iter_rows())
    assert counts[5] == len(ningxia.village_codes) == 2_884
    assert counts[3] == 27
    assert ningxia.provinces == ["64"]
    province = areas.filter(pl.col("level") == 1)["population"].item()
    assert province == int(ningxia.population.sum()) > 0
    # The named scale of a province and its code give the same tree.
    assert scale_prefixes("province:41") == scale_prefixes("province") == ("41",)
