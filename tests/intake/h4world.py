"""A small real tree for the intake API tests (two townships of 长安区, 石家庄市, from the 2016
division list), users with tokens, and helpers to post values."""

from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from django.test import Client

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.api.services import create_token
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from tests.shared import DATA

TOWN_A = "130102001000"  # 建北街道办事处
TOWN_B = "130102002000"  # 青园街道办事处
DAY = dt.date(2023, 1, 5)


@dataclass
class World:
    villages_a: list[str]
    villages_b: list[str]
    county: Client
    town_a: Client
    county_token: str


@functools.cache
def _tree_file() -> Path:
    """The two townships, their villages and ancestors, cut once from the national list."""
    source = DATA / "admin" / "cn_divisions_2016_village.csv.gz"
    rows = pl.read_csv(source, infer_schema=False)
    keep = rows.filter(
        pl.col("code").is_in(["130000000000", "130100000000", "130102000000", TOWN_A, TOWN_B])
        | pl.col("parent_code").is_in([TOWN_A, TOWN_B])
    )
    path = Path(tempfile.mkdtemp(prefix="rw-h4-")) / "tree.csv"
    keep.write_csv(path)
    return path


def build() -> World:
    import_areas(_tree_file())
    a = list(Area.objects.filter(parent_id=TOWN_A).order_by("code").values_list("code", flat=True))
    b = list(Area.objects.filter(parent_id=TOWN_B).order_by("code").values_list("code", flat=True))
    Area.objects.filter(code__in=a + b).update(population=2000)
    county = create_user_with_jurisdiction("h4county", "pw-h4-county", "130102000000", "county")
    town = create_user_with_jurisdiction("h4town", "pw-h4-town", TOWN_A, "township")
    _t, county_plain = create_token(county, "system")
    _t, town_plain = create_token(town, "township system")
    return World(
        a,
        b,
        Client(HTTP_AUTHORIZATION=f"Bearer {county_plain}"),
        Client(HTTP_AUTHORIZATION=f"Bearer {town_plain}"),
        county_plain,
    )


def post(client: Client, values: Any, **params: str) -> tuple[int, dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(
        "/api/intake/values" + (f"?{query}" if query else ""),
        data=json.dumps({"values": values} if isinstance(values, list) else values),
        content_type="application/json",
    )
    return response.status_code, response.json()


def value(area: str, indicator: str, v: Any, day: dt.date = DAY, **extra: Any) -> dict[str, Any]:
    return {"area": area, "date": day.isoformat(), "indicator": indicator, "value": v, **extra}
