"""The detection read (level_panel_frame) returns exactly the stored values: on PostgreSQL it
reads one text line per area and splits it, so the numbers must survive the text round trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from django.utils import timezone

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.models import AggregateValue, ReportValue
from ruralwatch.reporting.services import roll_up
from ruralwatch.signals.selectors import level_panel_frame
from tests.trees import ONE_TOWNSHIP

pytestmark = pytest.mark.django_db

TREE = ONE_TOWNSHIP + "990101002000,西镇,4,990101000000\n990101002001,西一村,5,990101002000\n"
START = dt.date(2023, 1, 1)
# Values whose shortest decimal form is long, tiny, huge or negative: each must come back as
# the same double.
AWKWARD = [0.1 + 0.2, 1 / 3, 1e-7, 123456789.125, 2.0**60, -2.5, 7.0, 1e-300]


def _stored(rows: list[tuple[str, dt.date, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"area": pl.String, "date": pl.Date, "value": pl.Float64}, orient="row"
    ).sort("area", "date")


def test_read_equals_the_stored_values_bit_for_bit(tmp_path: Path) -> None:
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    now = timezone.now()
    rows = []
    for i, value in enumerate(AWKWARD):
        day = START + dt.timedelta(days=i)
        rows.append(("990101001001", day, value))
        if i % 3:  # the other villages miss some days: no row, not a zero
            rows.append(("990101001002", day, value * 3))
        rows.append(("990101002001", day, float(i)))
    ReportValue.objects.bulk_create(
        ReportValue(
            area_id=a, date=d, indicator_id="new_cases", value=v, reporter="t", submitted_at=now
        )
        for a, d, v in rows
    )
    end = START + dt.timedelta(days=len(AWKWARD) - 1)
    got = level_panel_frame(5, "new_cases", START, end).sort("area", "date")
    expected = _stored(rows)
    assert got.schema == expected.schema
    assert got.rows() == expected.rows()
    # Under a root and within a shorter range: only those rows.
    west = "/990000000000/990100000000/990101000000/990101002000/"
    part = level_panel_frame(5, "new_cases", START + dt.timedelta(days=2), end, west)
    assert part.sort("date").rows() == [
        (a, d, v) for a, d, v in rows if a == "990101002001" and d >= START + dt.timedelta(days=2)
    ]
    # Townships read the roll-ups: the same numbers as the stored aggregates.
    roll_up(START, end)

    agg = _stored(
        list(
            AggregateValue.objects.filter(level=4, indicator_id="new_cases").values_list(
                "area_id", "date", "value"
            )
        ),
    )
    towns = level_panel_frame(4, "new_cases", START, end).sort("area", "date")
    assert towns.rows() == agg.rows() and towns.height == 2 * len(AWKWARD)
