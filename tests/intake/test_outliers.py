"""Outlier screening: recall and precision on the synthetic region's injected data errors
against its truth, the screens on series with known answers, and the stored flags (values
never changed; a confirmed flag survives a re-run)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from ruralwatch.intake import nightly, outliers
from ruralwatch.intake import rules as engine
from ruralwatch.intake.models import OutlierFlag
from ruralwatch.reporting.models import ReportValue
from ruralwatch.synth import ERROR_KINDS, build_demo
from tests.intake import h4world
from tests.intake.h4world import post, value

CASES_RULE = engine.make_rule(
    "cases_le_positives",
    "new_cases",
    "less_than_or_equal_to",
    "antigen_pos + pcr_pos",
    ["new_cases", "antigen_pos", "pcr_pos"],
)


@pytest.mark.parametrize(("seed", "scenario"), [(20230122, "baseline"), (11, "rebound")])
def test_recall_and_precision_on_the_synthetic_region(seed: int, scenario: str) -> None:
    demo = build_demo(seed=seed, scenario=scenario)  # type: ignore[arg-type]
    values = demo.reports.values.select(
        "area_code", "date", "indicator", pl.col("value").cast(pl.Float64)
    )
    start, end = values["date"].min(), values["date"].max()
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    flags = outliers.screen(values, start, end, rules=[CASES_RULE])
    found = outliers.agreement(flags, demo.reports.truth, ERROR_KINDS)
    assert found.errors > 90
    assert found.recall >= 0.95, found
    assert found.precision >= 0.8, found
    for kind in ERROR_KINDS:  # every kind of injected error is found, not only the common ones
        n, hit = found.by_kind[kind]
        assert hit >= 0.8 * n, (kind, found.by_kind)
    # The classic trailing robust z reads the epidemic's rise as outliers (why it is off by
    # default): most of its flags are real values.
    trailing = outliers.screen(values, start, end, params=outliers.Params(methods=("robust_z",)))
    assert outliers.agreement(trailing, demo.reports.truth, ERROR_KINDS).precision < 0.1


def _long(series: dict[tuple[str, str], list[float]], start: dt.date) -> pl.DataFrame:
    rows = [
        (area, start + dt.timedelta(days=i), ind, v)
        for (area, ind), vals in series.items()
        for i, v in enumerate(vals)
        if not np.isnan(v)
    ]
    return pl.DataFrame(rows, schema=["area_code", "date", "indicator", "value"], orient="row")


def test_screens_on_series_with_known_answers() -> None:
    rng = np.random.default_rng(3)
    start = dt.date(2023, 1, 1)
    n = 40
    flat = rng.poisson(6, n).astype(float)
    flat[30] = 60.0  # a typing error: ten times the level
    wave = np.round(3 + 40 * np.exp(-(((np.arange(n) - 20) / 6.0) ** 2)))  # a real surge
    with_gap = rng.poisson(6, n).astype(float)
    with_gap[10:15] = np.nan  # missing reports are not zeros and not outliers
    series = {
        ("v1", "fever_visits"): list(flat),
        ("v2", "fever_visits"): list(wave),
        ("v2", "antigen_pos"): list(np.round(wave * 0.6)),
        ("v3", "fever_visits"): list(with_gap),
    }
    flags = outliers.screen(_long(series, start), start, start + dt.timedelta(days=n - 1))
    got = {
        (a, str(d), k, m)
        for a, d, k, m in flags.select("area_code", "date", "indicator", "method").iter_rows()
    }
    assert got == {("v1", "2023-01-31", "fever_visits", "seasonal")}
    # The trailing robust z flags the typing error too, and the wave's rise as well.
    trailing = outliers.screen(
        _long(series, start), start, start + dt.timedelta(days=n - 1),
        params=outliers.Params(methods=("robust_z",)),
    )  # fmt: skip
    hits = set(zip(trailing["area_code"], trailing["date"].cast(pl.String), strict=True))
    assert ("v1", "2023-01-31") in hits and any(a == "v2" for a, _d in hits)


def test_repeated_day_is_flagged_once() -> None:
    start = dt.date(2023, 1, 1)
    day = {"fever_visits": 9.0, "antigen_pos": 4.0, "pcr_pos": 1.0, "new_cases": 3.0, "deaths": 0.0}
    rows = []
    for i in range(6):
        for k, v in day.items():
            vv = v + (i if k != "deaths" else 0)
            if i == 4:  # the 5th day repeats the 4th exactly
                vv = v + 3 if k != "deaths" else 0
            rows.append(("v1", start + dt.timedelta(days=i), k, vv))
    frame = pl.DataFrame(rows, schema=["area_code", "date", "indicator", "value"], orient="row")
    flags = outliers.screen(frame, start, start + dt.timedelta(days=5))
    assert flags.select("date", "indicator", "method").rows() == [
        (dt.date(2023, 1, 5), "", "repeat")
    ]


@pytest.fixture
def world(db: None) -> h4world.World:
    return h4world.build()


def test_flags_are_stored_values_kept_and_confirmations_survive(world: h4world.World) -> None:
    rng = np.random.default_rng(5)
    a1, a2 = world.villages_a[:2]
    start = dt.date(2022, 12, 1)
    values = []
    for d in range(40):
        day = start + dt.timedelta(days=d)
        for v in (a1, a2):
            n = int(rng.poisson(6))
            if v == a1 and d == 30:
                n = 70  # typed with an extra zero
            values.append(value(v, "fever_visits", n, day=day))
            values.append(value(v, "kg_contacts", int(rng.poisson(4)), day=day))
    assert post(world.county, values)[0] == 200
    before = list(
        ReportValue.objects.order_by("area_id", "date", "indicator_id").values_list(
            "value", flat=True
        )
    )
    end = start + dt.timedelta(days=39)
    run = nightly.screen_outliers(end - dt.timedelta(days=13), end)
    assert run.flags["seasonal"] == 1
    flag = OutlierFlag.objects.get()
    assert (flag.area_id, flag.date, flag.indicator, flag.value) == (
        a1, start + dt.timedelta(days=30), "fever_visits", 70
    )  # fmt: skip
    assert flag.baseline is not None and flag.baseline < 10 and flag.score >= 5
    assert (
        list(
            ReportValue.objects.order_by("area_id", "date", "indicator_id").values_list(
                "value", flat=True
            )
        )
        == before
    )
    # The reporter confirms it; a re-run keeps the confirmation and adds no second flag.
    r = world.town_a.post(
        f"/api/intake/flags/{flag.pk}",
        data={"status": "confirmed"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    nightly.screen_outliers(end - dt.timedelta(days=13), end)
    assert list(OutlierFlag.objects.values_list("status", flat=True)) == ["confirmed"]
    r = world.town_a.get("/api/intake/flags", {"start": "2022-12-01", "end": "2023-01-09"})
    assert [f["value"] for f in r.json()] == [70]
    other = h4world.Client(HTTP_AUTHORIZATION="Bearer rwt_nobody")
    assert other.get("/api/intake/flags").status_code == 401
    summary = nightly.nightly(start + dt.timedelta(days=33))
    assert (summary["counties"], summary["flags"]["seasonal"]) == (1, 1)
    assert OutlierFlag.objects.count() == 1  # the confirmed flag, kept
