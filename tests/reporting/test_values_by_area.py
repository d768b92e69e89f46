"""``values_by_area`` gives every stored value, and only those, whatever its encoding: on
PostgreSQL a read of up to ``MASK_DAYS`` days sends the days with a value as bits and only the
values that are not zero; a longer one lists every value. Both are compared with a plain read
of the rows, over ranges that end inside, at and past the 64-bit words' edges."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import AggregateValue, ReportValue
from ruralwatch.reporting.selectors import MASK_DAYS, values_by_area
from tests.trees import ONE_TOWNSHIP

pytestmark = pytest.mark.django_db

START = dt.date(2022, 10, 1)
V1, V2 = "990101001001", "990101001002"
TOWN = "990101001000"
SUBMITTED = dt.datetime(2023, 3, 1, tzinfo=dt.UTC)

#: Values that must come back as the same doubles (shortest text, tiny, huge, fractions).
ODD = (0.1, 1e-7, 2.5e20, 1 / 3, 7.0, 12345.678)


def _stored(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(ONE_TOWNSHIP, encoding="utf-8")
    import_areas(tree)
    rows = []
    for d in range(200):  # V1: zeros with gaps and odd values; V2: values from day 70 only
        day = START + dt.timedelta(days=d)
        if d % 11 != 5:
            value = ODD[d % len(ODD)] if d % 7 == 0 else 0.0
            rows.append(ReportValue(area_id=V1, date=day, indicator_id="new_cases", value=value))
        if d >= 70 and d % 3:
            rows.append(
                ReportValue(area_id=V2, date=day, indicator_id="new_cases", value=float(d % 4))
            )
    for r in rows:
        r.submitted_at = SUBMITTED
    ReportValue.objects.bulk_create(rows)
    AggregateValue.objects.bulk_create(
        AggregateValue(
            area_id=TOWN,
            level=4,
            date=START + dt.timedelta(days=d),
            indicator_id="new_cases",
            value=float(d % 5 == 0) * 2.5,
            n_areas=2,
        )
        for d in range(0, 200, 2)
    )


def _plain(model: type, first: dt.date, last: dt.date, root: str) -> pl.DataFrame:
    rows = (
        model.objects.filter(
            indicator_id="new_cases", date__range=(first, last), area__path__startswith=root
        )
        .order_by("area_id", "date")
        .values_list("area_id", "date", "value")
    )
    return pl.DataFrame(
        list(rows),
        schema={"area": pl.String, "date": pl.Date, "value": pl.Float64},
        orient="row",
    )


@pytest.mark.parametrize(
    ("offset", "days"),
    [(0, 1), (0, 63), (0, 64), (0, 65), (3, 91), (0, 128), (72, MASK_DAYS), (0, 129), (0, 200)],
)
def test_every_value_comes_back_as_stored(tmp_path: Path, offset: int, days: int) -> None:
    _stored(tmp_path)
    root = Area.objects.get(code="990000000000").path
    first = START + dt.timedelta(days=offset)
    last = first + dt.timedelta(days=days - 1)
    for source, model in (("report", ReportValue), ("aggregate", AggregateValue)):
        got = values_by_area(source, "new_cases", first, last, root_path=root)
        assert got.schema == {"area": pl.String, "date": pl.Date, "value": pl.Float64}
        want = _plain(model, first, last, root)
        assert want.height > 0
        assert got.sort("area", "date").equals(want), (source, first, last)
    # the whole tree (no join on the areas) and one village's subtree
    whole = values_by_area("report", "new_cases", first, last)
    assert whole.sort("area", "date").equals(_plain(ReportValue, first, last, "/"))
    village = Area.objects.get(code=V2).path
    alone = values_by_area("report", "new_cases", first, last, root_path=village)
    assert alone.sort("area", "date").equals(_plain(ReportValue, first, last, village))


def test_a_range_without_values_is_empty(tmp_path: Path) -> None:
    _stored(tmp_path)
    later = START + dt.timedelta(days=400)
    got = values_by_area("report", "new_cases", later, later + dt.timedelta(days=30))
    assert got.is_empty()
    assert got.schema == {"area": pl.String, "date": pl.Date, "value": pl.Float64}
