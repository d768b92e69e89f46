"""A real county with a real pasture township, built once per module through the importers.

From the 2016 NBS division list (``../shared/data/admin``): 河北省 › 张家口市 › 康保县 with the
township-level 康保牧场 (a state pasture: three villages, 500501 and 500503 rural, 500502
urban-rural code 123) and 张纪镇 (its first six villages); and 张北县 next door (one township,
one village) for scoping. Populations are set here (the list has none): 1,000 per village.

Daily ``new_cases`` from DAY0 (2023-01-01) to DAY (2023-02-18), every village on time:

- 500501: nothing until one case on DAY (a first case after 48 quiet days);
- 500502: nothing until 1, 1, 1 on the last three days (three cases: a rise);
- 500503: nothing at all (still low);
- 张纪镇's villages: 2 a day; 张北县's village: 1 a day.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.test import override_settings

from ruralwatch.accounts.models import Role
from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.services import import_reports
from tests.fixtures.shared_db import built_once
from tests.shared import DATA

DAY0 = dt.date(2023, 1, 1)
DAY = dt.date(2023, 2, 18)
NOW = dt.datetime(2023, 2, 19, 6, 0, tzinfo=dt.UTC)
PROVINCE = "130000000000"
COUNTY = "130723000000"
PASTURE = "130723500000"
P1, P2, P3 = "130723500501", "130723500502", "130723500503"
TOWN = "130723101000"
FOREST = "130723501000"  # 屯垦林场: a state forest farm, one village (code 123)
OUT_COUNTY = "130722000000"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD = "pw-Long-enough-123"
#: username → (area, role)
USERS: dict[str, tuple[str | None, str]] = {
    "county": (COUNTY, Role.COUNTY),
    "town": (TOWN, Role.TOWNSHIP),
    "pasture": (PASTURE, Role.TOWNSHIP),
    "doctor": (P1, Role.VILLAGE_DOCTOR),
    "outside": (OUT_COUNTY, Role.COUNTY),
    "leader": (COUNTY, Role.COUNTY_LEADER),
}


def real_rows() -> pl.DataFrame:
    frame = pl.read_csv(
        DATA / "admin" / "cn_divisions_2016_village.csv.gz",
        schema_overrides={"code": pl.String, "parent_code": pl.String, "urban_rural": pl.String},
    )
    out_town = (
        frame.filter((pl.col("level") == 4) & pl.col("code").str.starts_with("130722"))
        .sort("code")
        .head(1)
    )
    out_village = frame.filter(pl.col("parent_code") == out_town["code"][0]).sort("code").head(1)
    town_villages = frame.filter(pl.col("parent_code") == TOWN).sort("code").head(6)
    picked = pl.concat(
        [
            frame.filter(
                pl.col("code").is_in(
                    [PROVINCE, "130700000000", COUNTY, OUT_COUNTY, PASTURE, FOREST, TOWN]
                )
            ),
            frame.filter(pl.col("parent_code").is_in([PASTURE, FOREST])),
            town_villages,
            out_town,
            out_village,
        ]
    ).unique("code")
    return picked.sort("level", "code")


def villages(rows: pl.DataFrame) -> list[str]:
    return rows.filter(pl.col("level") == 5)["code"].to_list()


def series(code: str, n_days: int) -> list[float]:
    if code == P1:
        return [0.0] * (n_days - 1) + [1.0]
    if code == P2:
        return [0.0] * (n_days - 3) + [1.0, 1.0, 1.0]
    if code == P3:
        return [0.0] * n_days
    if code.startswith("130722"):
        return [1.0] * n_days
    return [2.0] * n_days


def build(folder: Path) -> pl.DataFrame:
    rows = real_rows()
    pops = {5: 1000, 4: 3000, 3: 20000, 2: 100000, 1: 1000000}
    areas = folder / "areas.csv"
    with areas.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "name", "level", "parent_code", "urban_rural", "population"])
        for r in rows.iter_rows(named=True):
            w.writerow(
                [
                    r["code"],
                    r["name"],
                    r["level"],
                    r["parent_code"] or "",
                    r["urban_rural"] or "",
                    pops[r["level"]],
                ]
            )
    import_areas(areas)
    n_days = (DAY - DAY0).days + 1
    reports = folder / "reports.csv"
    with reports.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["area_code", "date", "indicator", "value", "submitted_at"])
        for code in villages(rows):
            for i, v in enumerate(series(code, n_days)):
                day = DAY0 + dt.timedelta(days=i)
                w.writerow([code, day.isoformat(), "new_cases", int(v), f"{day} 20:00"])
    import_reports(reports, now=NOW)
    return rows


def make_users() -> None:
    for name, (area, role) in USERS.items():
        create_user_with_jurisdiction(name, PASSWORD, area, role)


def _build_world_and_users(folder: Path) -> pl.DataFrame:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        rows = build(folder)
        make_users()
    return rows


_module_world = built_once(_build_world_and_users)


@pytest.fixture
def world(_module_world: pl.DataFrame, db: None, settings: Any) -> pl.DataFrame:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return _module_world


@pytest.fixture
def users(world: pl.DataFrame) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.in_bulk(list(USERS), field_name="username")


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def tag_pasture(folder: Path, support: str = TOWN) -> None:
    """The pasture and its three villages tagged pastoral; the pasture paired with 张纪镇."""
    from ruralwatch.keyareas.services import import_tags

    import_tags(
        write_csv(
            folder / "tags.csv",
            [
                ["code", "key_areas", "support_unit"],
                [PASTURE, "pastoral", support],
                [P1, "pastoral", ""],
                [P2, "pastoral", ""],
                [P3, "pastoral", ""],
            ],
        )
    )
