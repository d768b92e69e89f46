"""A real county (长安区, 石家庄市, 2016 division tree) with users at every level, for the
daily form, sign-off and missing-report tests (tests/intake, tests/reporting)."""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from tests.shared import DATA

VILLAGES_2016 = DATA / "admin" / "cn_divisions_2016_village.csv.gz"
COUNTY = "130102000000"  # 长安区, 石家庄市
#: A county with 200 villages (the concurrency test: one submitter per village).
COUNTY_200 = "131124000000"
PASSWORD = "pw-intake-123"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DAY = dt.date(2023, 1, 10)
#: The wall clock of the tests: the day after DAY, 09:00 in Shanghai.
NOW = dt.datetime(2023, 1, 11, 1, 0, tzinfo=dt.UTC)


@dataclass
class World:
    county: Area
    township: Area
    other_township: Area
    villages: list[Area]  # of ``township``
    users: dict[str, Any]


@functools.cache
def county_file(county: str) -> Path:
    """The county's subtree and its ancestors from the national file, as a small CSV read
    once per test session (the national file has 700,000 rows)."""
    frame = pl.read_csv(VILLAGES_2016, infer_schema=False)
    keep = pl.col("code").str.starts_with(county[:6]) | pl.col("code").is_in(
        [county[:2] + "0" * 10, county[:4] + "0" * 8]
    )
    path = Path(tempfile.mkdtemp(prefix="rw-intake-")) / f"{county}.csv"
    frame.filter(keep).write_csv(path)
    return path


def build(county: str = COUNTY) -> World:
    """The county's subtree and users: a doctor and a cadre of the first village, the
    township's desk, the county's desk and its leader, the prefecture's desk."""
    import_areas(county_file(county))
    c = Area.objects.get(code=county)
    townships = list(Area.objects.filter(parent_id=county, level=4).order_by("code")[:2])
    t = next(x for x in townships if Area.objects.filter(parent_id=x.code).count() >= 3)
    other = next(x for x in townships if x.code != t.code) if len(townships) > 1 else t
    villages = list(Area.objects.filter(parent_id=t.code, level=5).order_by("code"))
    users = {
        "doctor": create_user_with_jurisdiction(
            "doc1", PASSWORD, villages[0].code, "village_doctor"
        ),
        "cadre": create_user_with_jurisdiction(
            "cadre2", PASSWORD, villages[1].code, "village_cadre"
        ),
        "township": create_user_with_jurisdiction("town", PASSWORD, t.code, "township"),
        "county": create_user_with_jurisdiction("county", PASSWORD, county, "county"),
        "leader": create_user_with_jurisdiction("leader", PASSWORD, county, "county_leader"),
        "prefecture": create_user_with_jurisdiction("pref", PASSWORD, c.l2, "prefecture"),
    }
    return World(c, t, other, villages, users)
