import numpy as np
import polars as pl
import pytest

from ruralwatch.synth import build_region
from ruralwatch.synth.region import KEY_AREAS, KEYGROUPS, RURAL_65PLUS_SHARE, tier_shares

SEEDS = (20230122, 1, 2)


@pytest.fixture(scope="module", params=SEEDS)
def region(request):
    return build_region(request.param)


def test_deterministic_for_a_seed() -> None:
    a, b, c = build_region(5), build_region(5), build_region(6)
    assert a.areas.equals(b.areas)
    assert a.keygroups.equals(b.keygroups)
    assert a.facilities.equals(b.facilities)
    assert not a.areas.equals(c.areas)


def test_sizes_and_shares(region) -> None:
    levels = dict(region.areas.group_by("level").len().iter_rows())
    assert levels[1] == levels[2] == levels[3] == 1
    assert 12 <= levels[4] <= 20
    assert 200 <= levels[5] <= 400
    villages = region.villages
    total = villages["population"].sum()
    assert 240_000 <= total <= 360_000
    share = villages["population_65plus"].sum() / total
    assert 0.15 <= share <= 0.20
    assert share == pytest.approx(RURAL_65PLUS_SHARE, abs=0.01)
    # typical villages of 500–2,500 people, a few township seats larger
    median = villages["population"].median()
    assert 500 <= median <= 2_500
    # every level's population is the sum of its children
    for level in (1, 2, 3, 4):
        parents = region.areas.filter(pl.col("level") == level).select("code", "population")
        sums = (
            region.areas.filter(pl.col("level") == level + 1)
            .group_by("parent_code")
            .agg(pl.col("population").sum().alias("s"))
        )
        joined = parents.join(sums, left_on="code", right_on="parent_code")
        assert joined.height == parents.height
        assert (joined["population"] == joined["s"]).all()


def test_codes_are_well_formed(region) -> None:
    areas = region.areas
    assert areas["code"].str.contains(r"^99\d{10}$").all()
    assert areas["code"].n_unique() == areas.height
    prefix = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
    checked = areas.with_columns(
        pl.col("level").replace_strict(prefix, return_dtype=pl.Int64).alias("n")
    )
    # a code is its own prefix padded with zeros
    assert checked.select(pl.col("code").str.slice(pl.col("n")).str.contains("^0*$").all()).item()
    child = checked.filter(pl.col("level") > 1)
    parents = areas.select(pl.col("code").alias("parent_code"), pl.col("level").alias("pl"))
    joined = child.join(parents, on="parent_code", how="left")
    assert joined["pl"].null_count() == 0
    assert (joined["pl"] == joined["level"] - 1).all()
    parent_prefix = {2: 2, 3: 4, 4: 6, 5: 9}
    for level, n in parent_prefix.items():
        rows = joined.filter(pl.col("level") == level)
        assert (rows["code"].str.slice(0, n) == rows["parent_code"].str.slice(0, n)).all()
        assert (rows["parent_code"].str.slice(n) == "0" * (12 - n)).all()
    assert areas.filter(pl.col("level") == 1)["parent_code"].null_count() == 1


def test_names_and_classes(region) -> None:
    areas = region.areas
    by = {lvl: areas.filter(pl.col("level") == lvl) for lvl in range(1, 6)}
    assert by[3]["name"].str.ends_with("县").all()
    assert by[2]["name"].str.ends_with("市").all()
    assert by[4]["name"].str.contains("[镇乡]$").all()
    assert by[5]["name"].str.contains("(村委会|村)$").all()
    # siblings have distinct names
    dup = by[5].group_by("parent_code").agg(pl.col("name").n_unique() == pl.len())
    assert dup[dup.columns[1]].all()
    ur = by[5]["urban_rural"].value_counts()
    counts = dict(ur.iter_rows())
    assert set(counts) <= {"121", "122", "210", "220"}
    assert counts["220"] / by[5].height > 0.8
    assert by[4]["urban_rural"].null_count() == by[4].height
    tokens = set(",".join(areas["key_areas"].to_list()).split(",")) - {""}
    assert tokens <= set(KEY_AREAS)
    assert (by[4]["key_areas"].str.contains("mountain")).sum() >= 2  # a mountainous group


def test_keygroups(region) -> None:
    kg = region.keygroups
    assert set(kg["group"].unique()) == set(KEYGROUPS)
    assert (kg["count"] >= 0).all()
    assert set(kg.filter(pl.col("group") == "age65")["tier"].unique()) == {"red", "yellow", "green"}
    assert (
        kg.filter(pl.col("group") != "age65")["tier"].null_count()
        == kg.filter(pl.col("group") != "age65").height
    )
    age = kg.filter(pl.col("group") == "age65").group_by("area_code").agg(pl.col("count").sum())
    joined = region.villages.join(age, left_on="code", right_on="area_code")
    assert joined.height == region.villages.height
    assert (joined["count"] == joined["population_65plus"]).all()
    tiers = kg.filter(pl.col("group") == "age65").group_by("tier").agg(pl.col("count").sum())
    shares = dict(tiers.iter_rows())
    total = sum(shares.values())
    assert 0.1 < shares["red"] / total < 0.45
    assert shares["yellow"] > shares["green"]
    nursing = kg.filter(pl.col("group") == "nursing_home")["count"].sum()
    homes = region.facilities.filter(pl.col("kind") == "nursing_home")["capacity"].sum()
    assert 0 < nursing <= homes


def test_tier_shares_follow_the_scoring_rule() -> None:
    young = tier_shares(1, (1.0, 0.0, 0.0))
    # age 65–79, fully vaccinated: green if no comorbidity, else yellow (score 2–3)
    assert young[0] == 0 and young[2] == pytest.approx(0.35)
    assert tier_shares(2, (0.0, 0.0, 1.0))[0] == pytest.approx(1.0)  # 80+, unvaccinated → red
    assert tier_shares(2, (0.4, 0.2, 0.4)).sum() == pytest.approx(1.0)


def test_facilities(region) -> None:
    f = region.facilities
    assert f["code"].n_unique() == f.height
    kinds = dict(f.group_by("kind").len().iter_rows())
    assert kinds["township_health_centre"] == region.townships.height
    assert kinds["village_clinic"] == region.villages.height
    assert kinds["nursing_home"] >= 1
    thc = f.filter(pl.col("kind") == "township_health_centre")
    assert (thc["pulse_oximeters"] >= 20).mean() > 0.6
    vc = f.filter(pl.col("kind") == "village_clinic")
    assert (vc["pulse_oximeters"] >= 2).mean() > 0.75
    assert (vc["pulse_oximeters"] < 2).any() or region.villages.height < 250
    assert set(f["area_code"].to_list()) <= set(region.areas["code"].to_list())
    assert f["name"].str.contains("(卫生院|卫生室|敬老院)$").all()


def test_overrides() -> None:
    r = build_region(3, n_townships=12, n_villages=200)
    assert r.townships.height == 12
    assert r.villages.height == 200
    tw, county = r.village_groups()
    assert tw.max() == 11 and county.max() == 0
    assert np.all(np.diff(tw) >= 0)
    with pytest.raises(ValueError):
        build_region(3, n_townships=50, n_villages=100)
    with pytest.raises(ValueError):
        build_region(3, scale="nation")  # type: ignore[arg-type]
