"""The nightly validate step at scale (issue 15): :func:`nightly.nightly` reads the history
only of the areas whose values may be flagged, province by province, and must store exactly
what the county-by-county run that reads every value (:func:`nightly.nightly_per_county`,
with numpy's own median) stores: the same violations and the same flags, row for row, on a
world of two synthetic provinces with the injected errors of their ``truth.json`` — fresh,
after corrections of old and new values, with a flag the reporter confirmed, and run again.
The bounds the pruning rests on are checked against the whole screen, and the fast median
against numpy's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.core import bulk
from ruralwatch.intake import nightly, outliers
from ruralwatch.intake.models import FlagStatus, OutlierFlag, Violation
from ruralwatch.reporting.models import ReportValue, ValidationPending
from ruralwatch.reporting.services import mark_changed
from ruralwatch.synth import ERROR_KINDS, build_demo
from tests.commands import cli_runner

SEED = 20230122
START, END = dt.date(2022, 12, 1), dt.date(2023, 1, 15)
NOW = dt.datetime(2023, 1, 16, 2, tzinfo=dt.UTC)


# --- the numerics ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=9),
        elements=st.one_of(
            st.just(np.nan), st.integers(-3, 12).map(float), st.floats(-1e6, 1e6, width=64)
        ),
    ),
    st.integers(0, 3),
)
def test_fast_median_is_numpys(a: np.ndarray, axis: int) -> None:
    axis = axis % a.ndim
    fast, ref = outliers._nanmedian(a, axis), outliers._nanmedian_numpy(a, axis)
    assert fast.shape == ref.shape
    # Equal as numbers; where the data holds both -0.0 and 0.0 the sign of a zero median
    # may differ (a sort does not order them), which counts never do.
    assert np.array_equal(fast, ref, equal_nan=True)
    same = (fast == ref) | (np.isnan(fast) & np.isnan(ref))
    assert np.array_equal(
        fast.view(np.int64)[same & (fast != 0)], ref.view(np.int64)[same & (fast != 0)]
    )


def _demo_cube() -> tuple[np.ndarray, list[dt.date]]:
    demo = build_demo(seed=SEED, start=START, end=END)
    long = demo.reports.values.select(
        "area_code", "date", "indicator", pl.col("value").cast(pl.Float64)
    )
    _areas, _k, days, cube = outliers._panel(long)
    return cube, days


@pytest.mark.parametrize("noise", [False, True])
def test_bounds_keep_every_flag_of_the_whole_screen(noise: bool) -> None:
    """Every value the whole seasonal screen flags passes both bounds (series baseline, then
    the expectation); the bounds leave out most values of at least ``min_value``."""
    cube, days = _demo_cube()
    if noise:  # negative values, spikes and holes, to reach the bounds' corner cases
        rng = np.random.default_rng(7)
        cube = cube + rng.choice([0.0, 0.0, 0.0, -4.0, 40.0], cube.shape)
        cube[rng.random(cube.shape) < 0.05] = np.nan
    prm = outliers.Params()
    score, expected, _scale = outliers.seasonal_z(cube, prm, days)
    flagged = outliers._flagged(cube, score, expected, prm)
    exp_bound = outliers.seasonal_may_flag(cube, outliers.seasonal_expected(cube, prm, days), prm)
    base_bound = outliers.seasonal_may_flag_series(
        cube, outliers.seasonal_baseline(cube, prm, days), prm
    )
    assert flagged.sum() > 20
    assert not (flagged & ~exp_bound).any()
    assert not (exp_bound & ~base_bound).any()
    big = np.nan_to_num(cube) >= prm.min_value
    assert base_bound.sum() < 0.5 * big.sum(), (base_bound.sum(), big.sum())


# --- the stored result against the county-by-county run ----------------------------------------


def _province(tmp_path: Path, prefix: str, seed: int) -> pl.DataFrame:
    """A synthetic county (its codes moved under province ``prefix``) imported as areas, and
    its values (with the injected errors) written straight into the value table."""
    demo = build_demo(seed=seed, start=START, end=END)

    def moved(col: str) -> pl.Expr:
        return (
            pl.when(pl.col(col).is_null()).then(None).otherwise(prefix + pl.col(col).str.slice(2))
        )

    areas = demo.region.areas.select(
        moved("code").alias("code"), "name", "level", moved("parent_code").alias("parent_code"),
        "population",
    )  # fmt: skip
    csv = tmp_path / f"areas-{prefix}.csv"
    areas.write_csv(csv)
    import_areas(csv)
    values = demo.reports.values.select(
        moved("area_code").alias("area_id"),
        "date",
        pl.col("indicator").alias("indicator_id"),
        pl.col("value").cast(pl.Float64),
        pl.lit("").alias("reporter"),
        pl.col("submitted_at").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S+00:00"),
    )
    with transaction.atomic():
        bulk.load_staging(ReportValue._meta.db_table, values)
    return values


@pytest.fixture(scope="module")
def world(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[pl.DataFrame]:
    """Two provinces of a county each (289 and 309 villages, 8 indicators, 46 days), loaded
    once for the module (inserting 220,000 values into SQLite's shared in-memory test
    database takes minutes) and removed afterwards; each test's writes are rolled back."""
    tmp_path = tmp_path_factory.mktemp("nightly")
    with django_db_blocker.unblock():
        values = pl.concat([_province(tmp_path, "98", SEED), _province(tmp_path, "97", SEED + 1)])
    yield values
    with django_db_blocker.unblock(), transaction.atomic():
        mine = Area.objects.filter(code__regex=r"^9[78]")
        ReportValue.objects.filter(area_id__in=mine.values("code")).delete()
        for model in (Violation, OutlierFlag):
            model.objects.filter(area_id__in=mine.values("code")).delete()
        for level in (5, 4, 3, 2, 1):
            mine.filter(level=level).delete()


def _state() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    violations = sorted(
        Violation.objects.values_list(
            "rule_id", "area_id", "date", "left_value", "right_value", "found_at"
        )
    )
    flags = sorted(
        OutlierFlag.objects.values_list(
            "area_id", "date", "indicator", "method", "value", "score", "baseline", "scale",
            "status", "flagged_at",
        ),
        key=lambda r: tuple("" if x is None else str(x) for x in r),
    )  # fmt: skip
    return violations, flags


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Run ``fn`` as the code before issue 15 did (numpy's median), keep what it stored,
    then roll its writes back."""

    def run(fn: Callable[[], Any]) -> tuple[Any, Any]:
        with monkeypatch.context() as m:
            m.setattr(outliers, "_nanmedian", outliers._nanmedian_numpy)
            with transaction.atomic():
                out = fn()
                state = _state()
                transaction.set_rollback(True)
        return out, state

    yield run


def _quiet_value(day: dt.date, code_prefix: str) -> ReportValue:
    """A value of 1 two days before ``day`` in the province of ``code_prefix``: a quiet
    series, where a spike is flagged."""
    found = (
        ReportValue.objects.filter(
            date=day - dt.timedelta(days=2), value=1, area__code__startswith=code_prefix
        )
        .order_by("area_id", "indicator_id")
        .first()
    )
    assert found is not None
    return found


def _same(reference: Callable[..., Any], day: dt.date, path: str = "/") -> dict[str, Any]:
    ref_out, ref = reference(lambda: nightly.nightly_per_county(day, path=path, now=NOW))
    out = nightly.nightly(day, path=path, now=NOW)
    assert _state() == ref
    assert (out["counties"], out["violations"], out["flags"]) == (
        ref_out["counties"], ref_out["violations"], ref_out["flags"]
    )  # fmt: skip
    return out


def test_same_violations_and_flags_as_the_county_loop(
    db: None, world: pl.DataFrame, reference: Callable[..., Any]
) -> None:
    day = dt.date(2023, 1, 12)
    out = _same(reference, day)
    violations, flags = _state()
    methods = {f[3] for f in flags}
    # Not a vacuous equality: the injected errors give violations and every kind of flag.
    assert len(violations) >= 3 and {"seasonal", "repeat", "rule"} <= methods, (
        len(violations), methods
    )  # fmt: skip
    assert out["counties"] == 2 and out["partitions"] == 2
    # The history is read only for the few areas that need it.
    window = world.filter(pl.col("date").is_between(day - dt.timedelta(days=6), day)).height
    history = world.filter(pl.col("date").is_between(day - dt.timedelta(days=62), day)).height
    assert out["values_read"] < window + 0.25 * (history - window), (out["values_read"], window)
    # Early days (little history), and subtrees: a province, a county, a township.
    _same(reference, START + dt.timedelta(days=3))
    county = Area.objects.filter(level=3, code__startswith="97").order_by("code").first()
    town = Area.objects.filter(level=4, code__startswith="98").order_by("code").first()
    assert county is not None and town is not None
    for path in ("/980000000000/", county.path, town.path):
        _same(reference, day, path)


def test_same_without_a_code_range(
    db: None, world: pl.DataFrame, reference: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition whose codes form no range of the values' key (a tree whose codes do not
    follow the import's digits) is read joined to its areas in SQL instead of by the range
    and kept to its areas in memory (SQLite; PostgreSQL reads by the areas' codes either
    way): the same rows either way."""
    day = dt.date(2023, 1, 12)
    ranged = _same(reference, day)
    monkeypatch.setattr(nightly, "code_range", lambda path: None)
    assert _same(reference, day) == ranged


def test_a_partition_replaces_its_own_flags_on_its_code_range(
    db: None, world: pl.DataFrame, reference: Callable[..., Any]
) -> None:
    """A province's partition deletes and reads back the flags and violations of its own areas
    alone, bounded by its code range on the tables' area column (each partition once read the
    window's flags of every province), and leaves the other province's as they were: its open
    flags and a flag its reporter confirmed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)
    theirs = OutlierFlag.objects.filter(area__code__startswith="98").order_by("area_id", "date")
    confirmed = theirs.first()
    assert confirmed is not None and theirs.count() > 1
    nightly.set_flag_status(confirmed, FlagStatus.CONFIRMED.value)
    before = sorted(theirs.values_list("area_id", "date", "indicator", "method", "status"))
    with CaptureQueriesContext(connection) as seen:
        _same(reference, day, "/970000000000/")
    assert sorted(theirs.values_list("area_id", "date", "indicator", "method", "status")) == before
    flag_table, violation_table = OutlierFlag._meta.db_table, Violation._meta.db_table
    statements = [
        q["sql"]
        for q in seen.captured_queries
        if f"FROM {flag_table} WHERE" in q["sql"] or f"FROM {violation_table} WHERE" in q["sql"]
    ]
    assert len(statements) >= 3, statements  # the violations' delete, the flags' delete and read
    for sql in statements:
        assert "area_id BETWEEN '970000000000' AND '979999999999'" in sql, sql


def test_detection_reads_the_kept_days_of_villages_from_the_copies(
    db: None, world: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``screen_days.village_values`` (the cycle's read of the villages for detection) gives
    the rows of ``values_by_area`` for the villages of a province: the days the night's
    validation kept from its copies, the others (a day after the night's, a day a writer
    marked changed, copies of other areas) from the values; detection with it stores the
    same signals as with its own read."""
    from ruralwatch.intake import screen_days
    from ruralwatch.reporting.selectors import values_by_area
    from ruralwatch.signals.models import Signal
    from ruralwatch.signals.services import detect_signals

    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)  # keeps each province's days up to ``day``
    first, last = day - dt.timedelta(days=6), day + dt.timedelta(days=1)
    read: list[tuple[dt.date, dt.date]] = []
    real = screen_days.values_by_area

    def spy(source: str, indicator: str, start: dt.date, end: dt.date, **kw: Any) -> Any:
        read.append((start, end))
        return real(source, indicator, start, end, **kw)

    monkeypatch.setattr(screen_days, "values_by_area", spy)

    def same(path: str, indicator: str) -> list[tuple[dt.date, dt.date]]:
        read.clear()
        got = screen_days.village_values(path, indicator, first, last)
        plain = values_by_area("report", indicator, first, last, root_path=path, level=5)
        assert got.schema == plain.schema
        assert got.sort("area", "date").equals(plain.sort("area", "date")), (path, indicator)
        assert plain.height > 0
        return list(read)

    provinces = ["/980000000000/", "/970000000000/"]
    for path in provinces:
        for indicator in ("deaths", "new_cases", "fever_visits"):
            assert same(path, indicator) == [(last, last)]  # seven days from the copies
    # A writer corrects a kept day and marks it: that day is read from the values.
    changed = day - dt.timedelta(days=2)
    village = (
        Area.objects.filter(level=5, code__startswith="97")
        .order_by("code")
        .values_list("code", flat=True)
    )[0]
    ReportValue.objects.update_or_create(
        area_id=village,
        date=changed,
        indicator_id="deaths",
        defaults={"value": 3.0, "submitted_at": NOW},
    )
    mark_changed([changed])
    assert same("/970000000000/", "deaths") == [(changed, changed), (last, last)]
    # Copies made of other areas (a village moved or added since) are not used.
    with monkeypatch.context() as m:
        m.setattr(screen_days, "areas_key", lambda codes: 12345)
        assert same("/980000000000/", "deaths") == [(first, last)]
    # Detection stores the same signals either way.
    columns = ("rule_id", "area_id", "indicator_id", "date", "method", "observed", "expected")
    for path in provinces:
        detect_signals(first, last, root_path=path)
        plain = sorted(Signal.objects.values_list(*columns))
        detect_signals(first, last, root_path=path, village_values=screen_days.village_values)
        assert sorted(Signal.objects.values_list(*columns)) == plain
        assert any(row[2] == "deaths" for row in plain)


def test_the_assessment_reads_the_kept_days_from_the_copies(
    db: None, world: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``screen_days.report_values`` (the cycle's read of the reported values for the
    assessment's 91 days) gives the rows of ``values_by_area`` under a province, every level:
    the kept days from the copies; from the values, in runs, the days no copy holds, but not
    the days nobody reported the indicator (before the world's first); a prefecture's own
    reports (outside the county-only copies) from the values; the assessment stores the same
    judgements with it as with its own read. Copies are kept as long as it reads."""
    from ruralwatch.assessments.models import Judgement
    from ruralwatch.assessments.services import HISTORY_DAYS, assess
    from ruralwatch.intake import screen_days
    from ruralwatch.reporting.selectors import values_by_area

    assert screen_days.KEEP_DAYS >= HISTORY_DAYS + 1
    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)  # keeps each province's 14 days up to ``day``
    pref = Area.objects.filter(level=2, code__startswith="97").order_by("code").first()
    assert pref is not None
    for d in (day - dt.timedelta(days=3), day - dt.timedelta(days=30)):  # kept, and not
        ReportValue.objects.create(
            area_id=pref.code, date=d, indicator_id="new_cases", value=4.0, submitted_at=NOW
        )
    first, last = day - dt.timedelta(days=HISTORY_DAYS), day + dt.timedelta(days=1)
    read: list[tuple[dt.date, dt.date, int | None]] = []
    real = screen_days.values_by_area

    def spy(source: str, indicator: str, start: dt.date, end: dt.date, **kw: Any) -> Any:
        read.append((start, end, kw.get("level")))
        return real(source, indicator, start, end, **kw)

    monkeypatch.setattr(screen_days, "values_by_area", spy)
    for path in ["/980000000000/", "/970000000000/"]:
        for indicator in ("new_cases", "deaths"):
            read.clear()
            got = screen_days.report_values(path, indicator, first, last)
            plain = values_by_area("report", indicator, first, last, root_path=path)
            assert got.schema == plain.schema and plain.height > 0
            assert got.sort("area", "date").equals(plain.sort("area", "date")), (path, indicator)
            window = day - dt.timedelta(days=13)
            # the days before the window and the day after it (the areas above the counties,
            # a province and its prefecture, over the kept days by their codes)
            runs = [(START, window - dt.timedelta(days=1), None), (last, last, None)]
            assert sorted(read, key=str) == sorted(runs, key=str), (path, indicator)
    # The assessment stores the same judgements either way.
    columns = ("area_id", "level", "phase", "rebound_detected", "pooled", "text_en", "evidence")
    for path in ["/980000000000/", "/970000000000/"]:
        assess(day, root_path=path)
        plain_judged = sorted(Judgement.objects.filter(date=day).values_list(*columns), key=str)
        assess(day, root_path=path, report_values=screen_days.report_values)
        judged = sorted(Judgement.objects.filter(date=day).values_list(*columns), key=str)
        assert judged == plain_judged and len(judged) > 300


def test_keep_copies_makes_the_days_the_nights_did_not_keep(
    db: None, world: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nightly.keep_copies`` (after an upgrade, or a history loaded in bulk) keeps every
    partition's days up to ``screen_days.KEEP_DAYS`` back, each exactly as the values give it
    (an empty copy for a day nobody reported on); the assessment's read then takes only the
    day after from the values, and returns the same rows."""
    from ruralwatch.intake import screen_days
    from ruralwatch.intake.models import ScreenDay

    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)
    assert ScreenDay.objects.count() == 2 * 14
    invoke = cli_runner(monkeypatch)
    assert invoke(["reports", "keep-copies", "--day", "12/01/2023"]).exit_code == 2
    result = invoke(["reports", "keep-copies", "--day", day.isoformat()])
    assert result.exit_code == 0, result.output
    first = day - dt.timedelta(days=screen_days.KEEP_DAYS - 1)
    assert f"{first} … {day}: the copies of 2 partition(s) are kept" in result.output
    days = [first + dt.timedelta(days=i) for i in range(screen_days.KEEP_DAYS)]
    for part in sorted(set(ScreenDay.objects.values_list("partition", flat=True))):
        codes = nightly._populations(part, True)["area_code"]
        copies = screen_days.read(part, True, days, screen_days.areas_key(codes))
        assert sorted(copies) == days
        values = nightly._read_values(part, True, first, day, codes)
        for d, copy in copies.items():
            same_day = values.filter(pl.col("date") == d)
            assert copy.height == same_day.height and (d >= START or copy.is_empty())
            assert copy.sort("area_code").equals(same_day.select(copy.columns).sort("area_code"))
    read: list[tuple[dt.date, dt.date]] = []
    real = screen_days.values_by_area

    def spy(source: str, indicator: str, start: dt.date, end: dt.date, **kw: Any) -> Any:
        if kw.get("level") is None:
            read.append((start, end))
        return real(source, indicator, start, end, **kw)

    monkeypatch.setattr(screen_days, "values_by_area", spy)
    last = day + dt.timedelta(days=1)
    got = screen_days.report_values("/980000000000/", "new_cases", first, last)
    plain = real("report", "new_cases", first, last, root_path="/980000000000/")
    assert got.sort("area", "date").equals(plain.sort("area", "date"))
    assert read == [(last, last)]
    # A tree of one province, whose cycle in one process reads the whole tree ("/"): the
    # copies are its province's.
    mine = Area.objects.filter(code__startswith="97")
    ReportValue.objects.filter(area_id__in=mine.values("code")).delete()
    for level in (5, 4, 3, 2, 1):
        mine.filter(level=level).delete()
    read.clear()
    got = screen_days.report_values("/", "new_cases", first, last)
    assert got.sort("area", "date").equals(plain.sort("area", "date"))
    assert read == [(last, last)]


def test_the_seasonal_history_is_read_from_the_copies(
    db: None, world: pl.DataFrame, reference: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seasonal screen's history of the series it may flag (the weeks before the read
    window) comes from the copies kept of those days, as the window's days do, and from the
    values only for the days without a copy or marked changed: the same flags as the county
    loop either way, and a change no writer marked is not seen (the contract every writer
    keeps)."""
    day = dt.date(2023, 1, 12)
    window_first = day - dt.timedelta(days=13)
    nightly.keep_copies(day)
    from_values: list[tuple[dt.date, dt.date]] = []
    real = nightly._values_of

    def spy(codes: pl.Series, first: dt.date, last: dt.date) -> pl.DataFrame:
        from_values.append((first, last))
        return real(codes, first, last)

    monkeypatch.setattr(nightly, "_values_of", spy)
    out = _same(reference, day)
    assert from_values == [] and out["flags"]["seasonal"] > 0, (from_values, out)
    # A seasonal flag's series made noisy on every day of its history before the window
    # (0 and 400 by turns): its residuals' MAD, so its scale, grows and the flag goes, but
    # only once the change is marked.
    flag = (
        OutlierFlag.objects.filter(method="seasonal", date__gte=day - dt.timedelta(days=6))
        .order_by("area_id", "date")
        .first()
    )
    assert flag is not None
    loud = _days(START, window_first - dt.timedelta(days=1))
    series = ReportValue.objects.filter(area_id=flag.area_id, indicator_id=flag.indicator)
    for k, d in enumerate(loud):
        assert series.filter(date=d).update(value=400 * (k % 2)) == 1

    def still_flagged() -> bool:
        return OutlierFlag.objects.filter(
            area_id=flag.area_id, date=flag.date, indicator=flag.indicator, method="seasonal"
        ).exists()

    nightly.nightly(day, now=NOW)
    assert still_flagged() and from_values == []
    mark_changed(loud)
    _same(reference, day)
    assert not still_flagged()
    # the marked days alone from the values (the screen's own history read, and the county
    # loop's rolled back: one run each of the days the spy saw)
    assert {d for first, last in from_values for d in _days(first, last)} == set(loud)


def _submissions(world: pl.DataFrame) -> pl.DataFrame:
    """A submission for every area-day of the world (its first value's arrival), stored."""
    from ruralwatch.reporting.models import Submission

    at = pl.col("submitted_at").str.to_datetime("%Y-%m-%d %H:%M:%S%z")
    midnight = (
        pl.col("date")
        .cast(pl.Date)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("Asia/Shanghai")
        .dt.convert_time_zone("UTC")
    )
    subs = (
        world.group_by("area_id", "date")
        .agg(pl.col("submitted_at").min())
        .with_columns(((at - midnight).dt.total_seconds() / 3600.0).alias("delay_hours"))
        .with_columns(
            # a few on the exact edge of a day's delay at the morning's time of day (07:00)
            pl.when(pl.col("area_id").str.ends_with("7"))
            .then(7.0 + 24.0 * (pl.col("delay_hours") // 24))
            .otherwise(pl.col("delay_hours"))
            .alias("delay_hours"),
            pl.col("date").cast(pl.String).str.slice(0, 10),
            pl.lit("").alias("reporter"),
        )
    )
    bulk.append(
        Submission._meta.db_table,
        subs.select("area_id", "date", "submitted_at", "delay_hours", "reporter"),
    )
    return subs


def test_the_triangle_reads_the_kept_days_arrivals_from_the_copies(
    db: None, world: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation keeps each day's submissions with its copy; the nowcast's reporting
    triangle (``delay_triangle``, the cycle's ``arrivals=screen_days.arrival_days``) takes the
    kept days from there and reads the submissions of the others only (a day marked changed,
    a day without a copy), and gives the rows of the submissions' read either way; so does the
    assessment's every judgement."""
    import numpy as np

    from ruralwatch.assessments.models import Judgement
    from ruralwatch.assessments.services import assess
    from ruralwatch.intake import screen_days
    from ruralwatch.reporting import selectors

    subs = _submissions(world)
    day = dt.date(2023, 1, 12)
    nightly.keep_copies(day)
    first = day - dt.timedelta(days=35)  # the triangle's days
    now = dt.datetime(2023, 1, 13, 7, tzinfo=ZoneInfo("Asia/Shanghai"))
    read: list[tuple[dt.date, dt.date]] = []
    real = selectors._submitted

    def spy(root: str, delay: str, hour: float, start: dt.date, a: dt.date, b: dt.date) -> Any:
        read.append((a, b))
        return real(root, delay, hour, start, a, b)

    monkeypatch.setattr(selectors, "_submitted", spy)

    def triangles(path: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        villages = Area.objects.filter(level=5, path__startswith=path).order_by("code")
        codes = list(villages.values_list("code", flat=True))
        mine = world.filter(
            pl.col("area_id").is_in(codes)
            & (pl.col("indicator_id") == "new_cases")
            & pl.col("date").cast(pl.Date).is_between(first, day)
        )
        block = np.full(((day - first).days + 1, len(codes)), np.nan)
        column = {c: j for j, c in enumerate(codes)}
        for code, d, v in mine.select("area_id", pl.col("date").cast(pl.Date), "value").rows():
            block[(d - first).days, column[code]] = v
        keyed = ["l1", "l2", "l3", "l4", "date", "delay"]
        _, kept = selectors.delay_triangle(
            path, "new_cases", first, day, now=now, panel=(block, codes),
            arrivals=screen_days.arrival_days,
        )  # fmt: skip
        _, plain = selectors.delay_triangle(
            path, "new_cases", first, day, now=now, panel=(block, codes)
        )
        return kept.sort(keyed), plain.sort(keyed)

    for path in ("/970000000000/", "/980000000000/"):
        read.clear()
        kept, plain = triangles(path)
        assert kept.equals(plain) and plain["reports"].sum() > 5_000, path
        # the plain read alone: every day, one run (the world's first days have no copy
        # with values, but their empty copies hold no submissions either)
        assert read == [(first, day)], read
    # edges of a delay: the same counts at the boundary's own time of day
    assert subs.filter(pl.col("delay_hours") % 24 == 7).height > 100
    # A day marked changed (a late report) is read from the submissions, and no other.
    late = day - dt.timedelta(days=2)
    mark_changed([late])
    read.clear()
    kept, plain = triangles("/970000000000/")
    assert kept.equals(plain) and read == [(late, late), (first, day)], read
    # the assessment stores the same judgements either way
    ValidationPending.objects.all().delete()
    columns = ("area_id", "level", "phase", "rebound_detected", "pooled", "text_en", "evidence")
    for path in ["/980000000000/", "/970000000000/"]:
        assess(day, root_path=path, report_values=screen_days.report_values)
        plain_judged = sorted(Judgement.objects.filter(date=day).values_list(*columns), key=str)
        read.clear()
        assess(
            day,
            root_path=path,
            report_values=screen_days.report_values,
            arrivals=screen_days.arrival_days,
        )
        judged = sorted(Judgement.objects.filter(date=day).values_list(*columns), key=str)
        assert judged == plain_judged and len(judged) > 300
        assert read == [], read
        assert any("nowcast" in str(j[-1]) for j in judged)


def test_a_partitions_areas_are_read_once_for_both_reads_of_its_copies(
    db: None, world: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The assessment of a partition reads its copies twice (the values, the submissions);
    within ``areas_read_once`` (the cycle's assessment of a partition) the partition's areas
    are read and fingerprinted once for both, and the judgements are those of two reads. A
    new block reads them again: a division list changed between two cycles is seen."""
    from ruralwatch.assessments.models import Judgement
    from ruralwatch.assessments.services import assess
    from ruralwatch.intake import screen_days

    _submissions(world)
    day = dt.date(2023, 1, 12)
    nightly.keep_copies(day)
    calls: list[tuple[str, bool]] = []
    real = screen_days.partition_codes

    def spy(root: str, county_only: bool) -> pl.Series:
        calls.append((root, county_only))
        return real(root, county_only)

    monkeypatch.setattr(screen_days, "partition_codes", spy)
    path = "/970000000000/"
    columns = ("area_id", "level", "phase", "rebound_detected", "pooled", "text_en", "evidence")

    def judged() -> list[Any]:
        assess(
            day,
            root_path=path,
            report_values=screen_days.report_values,
            arrivals=screen_days.arrival_days,
        )
        return sorted(Judgement.objects.filter(date=day).values_list(*columns), key=str)

    apart = judged()
    read_apart = list(calls)
    calls.clear()
    with screen_days.areas_read_once():
        together = judged()
    assert together == apart and len(together) > 200
    assert calls and len(calls) == len(set(calls)) and len(read_apart) == 2 * len(calls)
    calls.clear()
    with screen_days.areas_read_once():
        judged()
    assert len(calls) == len(set(calls)) > 0


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def test_an_import_of_a_new_day_makes_its_copies(
    db: None,
    world: pl.DataFrame,
    reference: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """An import that brings a day nobody had reported on makes the validation's copies of it
    from its own values (reporting.hooks): the day is marked for the roll-up but not for the
    validation, each partition's copy holds exactly what the values give, and the night reads
    none of the day's values and stores what the county loop does. A second import into the
    day marks it as any writer does; a day another writer marked, or a validation took, since
    the import began gets no copies."""
    from ruralwatch.intake import screen_days
    from ruralwatch.intake.models import ScreenDay, ScreenTake
    from ruralwatch.reporting.models import RollupPending
    from ruralwatch.reporting.services import import_reports

    new = END + dt.timedelta(days=1)
    nightly.nightly(END, now=NOW)  # the copies of the night before
    spike = _quiet_value(new, "97")  # a quiet series, whose new day is a spike
    rows = (
        world.filter(pl.col("date").cast(pl.Date) == END)
        .select(
            pl.col("area_id").alias("area_code"),
            pl.lit(new.isoformat()).alias("date"),
            pl.col("indicator_id").alias("indicator"),
            pl.when(
                (pl.col("area_id") == spike.area_id)
                & (pl.col("indicator_id") == spike.indicator_id)
            )
            .then(45.0)
            .otherwise(pl.col("value"))
            .alias("value"),
        )
        .filter(~pl.col("area_code").str.ends_with("999"))  # one village leaves a gap
    )
    assert rows.height > 4_000
    rows.write_csv(tmp_path / "new.csv")
    RollupPending.objects.all().delete()
    later = NOW + dt.timedelta(hours=6)
    summary = import_reports(tmp_path / "new.csv", now=later)
    assert summary.imported == rows.height
    assert RollupPending.objects.filter(date=new).exists()
    assert not ValidationPending.objects.filter(date=new).exists()
    parts = sorted(set(ScreenDay.objects.filter(date=new).values_list("partition", flat=True)))
    assert parts == ["/970000000000/", "/980000000000/"]
    for part in parts:
        codes = nightly._populations(part, True)["area_code"]
        copy = screen_days.read(part, True, [new], screen_days.areas_key(codes))[new]
        values = nightly._read_values(part, True, new, new, codes)
        assert copy.height == values.height > 0
        assert copy.columns == ["area_code", "date", *sorted(copy.columns[2:])]
        assert copy.sort("area_code").equals(values.select(copy.columns).sort("area_code"))
        assert set(values.columns) - set(copy.columns) == set()  # every indicator reported
        # and the day's submissions with it, for the nowcast's triangle
        arrived = screen_days.arrival_days(part, [new])[new]
        stored = bulk.fetch_frame(
            "SELECT s.area_id, s.delay_hours FROM reporting_submission s "
            "JOIN areas_area a ON a.code = s.area_id WHERE s.date = %s AND a.path LIKE %s",
            [new.isoformat(), part + "%"],
            schema=screen_days.ARRIVALS,
        )
        assert arrived.height == stored.height == copy.height
        assert arrived.equals(stored.sort("area_code"))
    # The night reads no value, and flags the spike as the county loop does.
    read = nightly._read_values
    runs: list[tuple[dt.date, dt.date]] = []

    def spy(prefix: str, county_only: bool, first: dt.date, last: dt.date, *a: Any) -> Any:
        runs.append((first, last))
        return read(prefix, county_only, first, last, *a)

    monkeypatch.setattr(nightly, "_read_values", spy)
    _same(reference, new)
    monkeypatch.undo()
    assert runs == []  # the thirteen days before from the night before's copies
    assert OutlierFlag.objects.filter(
        area_id=spike.area_id, date=new, indicator=spike.indicator_id, method="seasonal"
    ).exists()
    # A second import into the day: marked, and its copies dropped by the next take.
    rows.head(3).with_columns(pl.col("value") + 1).write_csv(tmp_path / "again.csv")
    assert import_reports(tmp_path / "again.csv", now=later).updated == 3
    assert ValidationPending.objects.filter(date=new).exists()
    screen_days.take_changed()
    assert not ScreenDay.objects.filter(date=new).exists()
    # Changed by another writer since the import began: no copies, the import marks the day.
    values = rows.with_columns(pl.lit(new.isoformat()).alias("date"))
    since = screen_days.last_take()
    mark_changed([new])
    assert not nightly.keep_imported(values, [new], since=since)
    screen_days.take_changed()  # …or taken by a validation meanwhile
    assert not nightly.keep_imported(values, [new], since=since)
    assert ScreenTake.objects.filter(id__gt=since, date=new).exists()
    assert not ScreenDay.objects.filter(date=new).exists()
    # A whole day of values onto submissions already stored (a report that came without
    # values): copies of the values, but not of the submissions, which the file's are not
    # all of.
    from ruralwatch.reporting.models import Submission

    bare = START - dt.timedelta(days=1)  # no value stored on it
    Submission.objects.create(
        area_id=rows["area_code"][0], date=bare, submitted_at=later, delay_hours=40.0
    )
    rows.head(80).with_columns(pl.lit(bare.isoformat()).alias("date")).write_csv(
        tmp_path / "bare.csv"
    )
    assert import_reports(tmp_path / "bare.csv", now=later).imported == 80
    assert not ValidationPending.objects.filter(date=bare).exists()
    assert ScreenDay.objects.filter(date=bare).exists()
    assert not ScreenDay.objects.filter(date=bare, arrivals__isnull=False).exists()
    assert all(screen_days.arrival_days(p, [bare]) == {} for p in parts)
    # More days than are kept: no copies either.
    far = new - dt.timedelta(days=screen_days.KEEP_DAYS)
    assert not nightly.keep_imported(values, [far, new], since=screen_days.last_take())
    # Copies that fail to be made leave the import whole, and its day marked.
    after = new + dt.timedelta(days=1)

    def broken(*args: Any, **kwargs: Any) -> bool:
        bulk.execute("SELECT no_such_column FROM intake_screenday")  # an error in the database
        return True

    monkeypatch.setattr(nightly, "keep_imported", broken)
    rows.head(50).with_columns(pl.lit(after.isoformat()).alias("date")).write_csv(
        tmp_path / "after.csv"
    )
    next_day = later + dt.timedelta(days=1)
    assert import_reports(tmp_path / "after.csv", now=next_day).imported == 50
    assert ValidationPending.objects.filter(date=after).exists()
    assert ReportValue.objects.filter(date=after).count() == 50
    assert not ScreenDay.objects.filter(date=after).exists()


def test_corrections_confirmations_and_re_runs(
    db: None, world: pl.DataFrame, reference: Callable[..., Any]
) -> None:
    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)
    first = _state()
    nightly.nightly(day, now=NOW)  # a re-run leaves the same state
    assert _state() == first
    # The reporter confirms a flag; it is kept as confirmed by both.
    flag = OutlierFlag.objects.filter(method="seasonal").order_by("area_id", "date").first()
    assert flag is not None
    nightly.set_flag_status(flag, FlagStatus.CONFIRMED.value)
    _same(reference, day)
    kept = OutlierFlag.objects.filter(
        area_id=flag.area_id, date=flag.date, indicator=flag.indicator, method="seasonal"
    )
    assert list(kept.values_list("status", flat=True)) == ["confirmed"]
    # Corrections: an old value (in the history, outside the screened week: it moves its
    # series' MAD), a new spike in the week on a quiet series, a flagged value set back.
    quiet = _quiet_value(day, "97")
    ReportValue.objects.filter(pk=quiet.pk).update(value=45)
    ReportValue.objects.filter(area_id=flag.area_id, date=day - dt.timedelta(days=30)).update(
        value=0
    )
    ReportValue.objects.filter(
        area_id=flag.area_id, date=flag.date, indicator_id=flag.indicator or "fever_visits"
    ).update(value=2)
    # as every writer of village values marks what it changed (the night's copies of those
    # dates are then read again: test_the_nights_copies_of_the_days_it_read)
    mark_changed([quiet.date, day - dt.timedelta(days=30), flag.date])
    out = _same(reference, day)
    assert OutlierFlag.objects.filter(
        area_id=quiet.area_id, date=quiet.date, indicator=quiet.indicator_id
    ).exists(), out
    # The next night, and the screening alone (the API's and the import's path).
    _same(reference, day + dt.timedelta(days=1))
    start, end = day - dt.timedelta(days=13), day
    _, ref = reference(lambda: nightly._screen_outliers_whole(start, end, now=NOW))
    nightly.screen_outliers(start, end, now=NOW)
    assert _state()[1] == ref[1]


def test_the_nights_copies_of_the_days_it_read(
    db: None, world: pl.DataFrame, reference: Callable[..., Any], tmp_path: Path
) -> None:
    """A night keeps each partition's days as it read them (intake.screen_days): exactly the
    rows the values give; the next night reads them back instead of the values, so a change
    no writer marked is not seen (the contract every writer keeps); a marked date, or a
    partition whose areas changed, is read from the values again; a day no night reads any
    more is forgotten."""
    from ruralwatch.intake import screen_days
    from ruralwatch.intake.models import ScreenDay

    day = dt.date(2023, 1, 12)
    first = day - dt.timedelta(days=13)  # the screened week and the seven days before it
    _same(reference, day)
    parts = sorted(set(ScreenDay.objects.values_list("partition", flat=True)))
    assert len(parts) == 2 and ScreenDay.objects.count() == 2 * 14
    for part in parts:
        codes = nightly._populations(part, True)["area_code"]
        values = nightly._read_values(part, True, first, day, codes)
        days = [first + dt.timedelta(days=i) for i in range(14)]
        copies = screen_days.read(part, True, days, screen_days.areas_key(codes))
        assert sorted(copies) == days
        for d, copy in copies.items():
            same_day = values.filter(pl.col("date") == d)
            assert copy.height == same_day.height > 0
            assert copy.sort("area_code").equals(same_day.select(copy.columns).sort("area_code"))
            left_out = same_day.drop(copy.columns)  # the indicators nobody reported that day
            assert all(left_out[c].null_count() == left_out.height for c in left_out.columns)
        whole = nightly._values_in_part(part, True, first, day, codes)
        assert whole.sort("area_code", "date").equals(values.sort("area_code", "date"))

    def flagged(v: ReportValue) -> bool:
        return OutlierFlag.objects.filter(
            area_id=v.area_id, date=v.date, indicator=v.indicator_id, method="seasonal"
        ).exists()

    # A spike written and not marked: the night reads the copy and does not see it.
    spike = _quiet_value(day, "97")
    ReportValue.objects.filter(pk=spike.pk).update(value=45)
    nightly.nightly(day, now=NOW)
    assert not flagged(spike)
    # Marked: read again from the values, flagged, and the same as the county loop.
    mark_changed([spike.date])
    assert ValidationPending.objects.filter(date=spike.date).exists()
    _same(reference, day)
    assert flagged(spike) and not ValidationPending.objects.exists()
    # A new village in the other province: its partition's copies no longer fit its areas.
    other = _quiet_value(day, "98")
    ReportValue.objects.filter(pk=other.pk).update(value=45)
    town = Area.objects.filter(level=4, code__startswith="98").order_by("code").first()
    assert town is not None
    (tmp_path / "more.csv").write_text(
        f"code,name,level,parent_code,population\n{town.code[:9]}999,新村,5,{town.code},800\n",
        encoding="utf-8",
    )
    import_areas(tmp_path / "more.csv")
    _same(reference, day)
    assert flagged(other)
    # The next night no longer reads the oldest day, but keeps it for the cycle's assessment
    # (its 91 days); a night screen_days.KEEP_DAYS after it no longer keeps it.
    _same(reference, day + dt.timedelta(days=1))
    kept = set(ScreenDay.objects.values_list("date", flat=True))
    assert min(kept) == first and max(kept) == day + dt.timedelta(days=1)
    later = first + dt.timedelta(days=screen_days.KEEP_DAYS)
    nightly.nightly(later, now=NOW)
    kept = set(ScreenDay.objects.values_list("date", flat=True))
    assert min(kept) == first + dt.timedelta(days=1) and max(kept) == later


def test_a_change_another_partition_took_mid_night_is_read_the_next_night(
    db: None, world: pl.DataFrame, reference: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer changes a day of one partition while that partition's validation has read it
    and not yet kept it, and another partition (another worker) takes the writer's mark
    before the first keeps its days: the first must not keep that day (its copy predates the
    change and no mark is left to drop it), so the next night reads the change and flags it
    as the county loop does (intake.screen_days, "Partitions on several workers")."""
    from ruralwatch.intake import screen_days

    day = dt.date(2023, 1, 12)
    _same(reference, day)  # the copies of the night before
    spike = _quiet_value(day, "97")
    mark_changed([spike.date])  # the night re-reads that date, as after an import
    read = nightly._read_values

    def read_then_change(prefix: str, *args: Any) -> pl.DataFrame:
        wide = read(prefix, *args)
        if prefix.startswith("/97") and not ReportValue.objects.filter(pk=spike.pk, value=45):
            ReportValue.objects.filter(pk=spike.pk).update(value=45)  # a writer…
            mark_changed([spike.date])
            screen_days.take_changed()  # …and the other partition's take, on another worker
        return wide

    monkeypatch.setattr(nightly, "_read_values", read_then_change)
    nightly.nightly(day, now=NOW)
    monkeypatch.undo()
    assert not ValidationPending.objects.exists()  # the mark is gone with the other's take
    _same(reference, day)
    assert OutlierFlag.objects.filter(
        area_id=spike.area_id, date=spike.date, indicator=spike.indicator_id, method="seasonal"
    ).exists()


def test_areas_outside_the_counties_are_left_alone(
    db: None, world: pl.DataFrame, reference: Callable[..., Any]
) -> None:
    """Values of a prefecture (no county above it) are not screened by the county loop, and
    their violations (from an import's check over the whole tree) stay as they are."""
    day = dt.date(2023, 1, 12)
    pref = Area.objects.filter(level=2, code__startswith="97").order_by("code").first()
    assert pref is not None
    rows = [
        (pref.code, day - dt.timedelta(days=d), k, v)
        for d in range(20)
        for k, v in (("new_cases", 90.0 if d == 1 else 3.0), ("antigen_pos", 1.0), ("pcr_pos", 0.0))
    ]
    for code, d, k, v in rows:
        ReportValue.objects.create(area_id=code, date=d, indicator_id=k, value=v, submitted_at=NOW)
    nightly.run_rules(day - dt.timedelta(days=6), day, now=NOW)
    assert Violation.objects.filter(area_id=pref.code).exists()
    _same(reference, day)
    assert Violation.objects.filter(area_id=pref.code).exists()
    assert not OutlierFlag.objects.filter(area_id=pref.code).exists()


def test_truth_errors_in_the_week_are_flagged(db: None, world: pl.DataFrame) -> None:
    """The county demo's injected errors of the screened week are found (the equality above
    would also hold for a screen that flags nothing)."""
    day = dt.date(2023, 1, 12)
    nightly.nightly(day, now=NOW)
    demo = build_demo(seed=SEED, start=START, end=END)
    week = {(day - dt.timedelta(days=i)).isoformat() for i in range(7)}
    errors = [t for t in demo.reports.truth if t["kind"] in ERROR_KINDS and t["date"] in week]
    keys = {
        (a, d, k)
        for a, d, k in OutlierFlag.objects.filter(area__code__startswith="98").values_list(
            "area_id", "date", "indicator"
        )
    }
    days = {(a, d) for a, d, _k in keys}

    def found(e: dict[str, Any]) -> bool:
        area = "98" + str(e["area"])[2:]
        if e.get("indicator"):
            return (area, dt.date.fromisoformat(e["date"]), e["indicator"]) in keys
        return (area, dt.date.fromisoformat(e["date"])) in days

    hits = [e for e in errors if found(e)]
    # The week's last days have no later neighbours yet (they are judged again the next
    # nights), so fewer are found than over a whole period (test_outliers: 95 %).
    assert len(errors) >= 5 and len(hits) >= 0.75 * len(errors), (len(hits), len(errors))


# --- the filters' edges ------------------------------------------------------------------------


@pytest.mark.parametrize("noise", [False, True])
def test_neighbour_bound_keeps_every_flag_of_the_whole_screen(noise: bool) -> None:
    """Every value the whole seasonal screen flags has enough neighbours of at most its
    ``1 / min_ratio`` (the round that reads only those of the week before), and the bound
    leaves out most values of at least ``min_value``."""
    cube, days = _demo_cube()
    if noise:
        rng = np.random.default_rng(11)
        cube = cube + rng.choice([0.0, 0.0, 0.0, -4.0, 40.0], cube.shape)
        cube[rng.random(cube.shape) < 0.05] = np.nan
    prm = outliers.Params()
    score, expected, _scale = outliers.seasonal_z(cube, prm, days)
    flagged = outliers._flagged(cube, score, expected, prm)
    bound = outliers.seasonal_may_flag_neighbours(cube, prm)
    assert flagged.sum() > 20
    assert not (flagged & ~bound).any()
    big = np.nan_to_num(cube) >= prm.min_value
    if not noise:  # (a fifth of the noise is negative values, small neighbours of anything)
        assert bound.sum() < 0.5 * big.sum(), (bound.sum(), big.sum())


def test_neighbour_bound_at_its_edges() -> None:
    """A value exactly ``min_ratio`` times its lower middle neighbour, and a value exactly
    ``min_value`` over zeros, are flagged by the whole screen and kept by the bound; one
    neighbour fewer at most a third of the value and the bound drops it."""
    days = [START + dt.timedelta(days=i) for i in range(30)]
    prm = outliers.Params()
    cube = np.full((3, 1, 30), 9.0)
    cube[0, 0, 20] = 27.0  # 3 * 9: the ratio test's edge; score (27 - 9) / 3 = 6
    cube[1, 0, :] = 0.0
    cube[1, 0, 20] = 5.0  # min_value over zeros: score 5 = z
    cube[2, 0, 20] = 27.0
    cube[2, 0, 13:20] = 9.5  # the lower middle neighbour is now above 27 / 3
    cube[2, 0, 21:28] = 9.5
    cube[2, 0, 13] = 9.0  # one neighbour at a third: not enough
    score, expected, _scale = outliers.seasonal_z(cube, prm, days)
    flagged = outliers._flagged(cube, score, expected, prm)
    bound = outliers.seasonal_may_flag_neighbours(cube, prm)
    assert flagged[0, 0, 20] and flagged[1, 0, 20]
    assert bound[0, 0, 20] and bound[1, 0, 20]
    assert not bound[2, 0, 20] and not flagged[2, 0, 20]


def test_same_at_the_filters_edges(
    db: None, world: pl.DataFrame, reference: Callable[..., Any]
) -> None:
    """The same as the county loop where the night's SQL filters are at their edges: a value
    exactly ``min_ratio`` times its neighbours (the week before read only where small
    enough), one exactly ``min_value`` over zeros, days that exactly reach the nonzero count
    of the repeat screen (the week's first day against the day before), a rule that counts
    missing items as zero (area-days without its items), and a value of an indicator that
    is not in the indicator table (the values then read one row each)."""
    from ruralwatch.intake.models import ValidationRule

    day = dt.date(2023, 1, 12)
    start = day - dt.timedelta(days=6)
    villages = list(
        Area.objects.filter(level=5, code__startswith="97")
        .order_by("code")
        .values_list("code", flat=True)[:6]
    )
    a, b, c, d = villages[:4]
    ReportValue.objects.filter(area_id=a, indicator_id="referrals_up").update(value=9)
    ReportValue.objects.filter(
        area_id=a, indicator_id="referrals_up", date=day - dt.timedelta(days=2)
    ).update(value=27)
    ReportValue.objects.filter(area_id=b, indicator_id="severe_cases").update(value=0)
    ReportValue.objects.filter(
        area_id=b, indicator_id="severe_cases", date=day - dt.timedelta(days=3)
    ).update(value=5)
    indicators = sorted(
        {k for k in ReportValue.objects.filter(area_id=c).values_list("indicator_id", flat=True)}
    )
    assert len(indicators) >= 5
    for code, first in ((c, start - dt.timedelta(days=1)), (d, day - dt.timedelta(days=4))):
        for when in (first, first + dt.timedelta(days=1)):
            for i, k in enumerate(indicators):
                ReportValue.objects.filter(area_id=code, date=when, indicator_id=k).update(
                    value=float(i + 1) if i < 4 else 0.0
                )
    ValidationRule.objects.create(
        code="t_never_skip", name_zh="t", name_en="t", left="severe_cases",
        operator="less_than_or_equal_to", right="pcr_pos - 1",
        left_missing="NEVER_SKIP", right_missing="NEVER_SKIP",
    )  # fmt: skip
    ReportValue.objects.filter(area_id=villages[4], date=day, indicator_id="pcr_pos").delete()
    _same(reference, day)
    flags = set(OutlierFlag.objects.values_list("area_id", "date", "method"))
    assert (a, day - dt.timedelta(days=2), "seasonal") in flags
    assert (c, start, "repeat") in flags and (d, day - dt.timedelta(days=3), "repeat") in flags
    assert Violation.objects.filter(rule_id="t_never_skip").exists()
    ReportValue.objects.create(
        area_id=villages[5], date=day, indicator_id="zz_not_an_indicator", value=3, submitted_at=NOW
    )
    _same(reference, day)


# --- one read of the week and the days before it -----------------------------------------------
#
# The run reads the partition's days from ``half_window`` before the screened ones in one
# query (a row per area-day) and works on that frame: the repeat screen on the wide rows,
# the seasonal bounds on a cube of it, the history read only for the areas they keep.

_CELL = st.sampled_from([None, 0.0, -0.0, 1.0, 2.0, 3.0, float("nan")])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5), st.lists(_CELL, min_size=5, max_size=5)),
        max_size=30,
    ),
    st.integers(0, 5),
    st.integers(0, 4),
)
def test_repeats_of_wide_rows_are_the_long_screens(
    rows: list[tuple[int, int, list[float | None]]], lo: int, min_nonzero: int
) -> None:
    """nightly._repeats (a day's row against the day before's, column by column) gives the
    rows of outliers.repeats (a day's sorted (indicator, value) list against the day
    before's): unreported against reported, zeros of both signs, NaN, missing days, a
    threshold of nonzero values at its edge."""
    indicators = ["k0", "k1", "k2", "k3", "k4"]
    seen: dict[tuple[str, dt.date], list[float | None]] = {}
    for area, day, cells in rows:
        if any(c is not None for c in cells):
            seen[(f"a{area}", START + dt.timedelta(days=day))] = cells
    wide = pl.DataFrame(
        {
            "area_code": [a for a, _d in seen],
            "date": [d for _a, d in seen],
            **{k: [cells[i] for cells in seen.values()] for i, k in enumerate(indicators)},
        },
        schema={"area_code": pl.String, "date": pl.Date} | {k: pl.Float64 for k in indicators},
    )
    prm = outliers.Params(repeat_min_nonzero=min_nonzero)
    start, end = START + dt.timedelta(days=lo), START + dt.timedelta(days=5)
    mine = nightly._repeats(wide, start, end, prm).sort("area_code", "date")
    ref = outliers.repeats(nightly._long_of(wide), start, end, prm).sort("area_code", "date")
    assert mine.to_dicts() == ref.to_dicts()


def test_seasonal_candidates_keep_every_flagged_area() -> None:
    """The areas the bounds keep from the cube of the screened week and the ``half_window``
    days before hold every area the whole screen (63 days of history) flags in that week,
    and few of the areas with a value of at least ``min_value``."""
    demo = build_demo(seed=SEED, start=START, end=END)
    long = demo.reports.values.select(
        "area_code", "date", "indicator", pl.col("value").cast(pl.Float64)
    )
    prm = outliers.Params()
    end = dt.date(2023, 1, 12)
    start = end - dt.timedelta(days=6)
    first = start - dt.timedelta(days=prm.half_window)
    near = long.filter(pl.col("date").is_between(first, end))
    wide = near.pivot(on="indicator", index=["area_code", "date"], values="value")
    hot = set(nightly._seasonal_candidates(nightly._cube_of(wide, first, end), 7, prm))
    flags = outliers.screen(
        long.filter(pl.col("date") <= end),
        start,
        end,
        params=outliers.Params(methods=("seasonal",)),
    )
    flagged = set(flags["area_code"])
    assert len(flagged) >= 3 and flagged <= hot, (len(flagged), flagged - hot)
    big = set(
        near.filter((pl.col("value") >= prm.min_value) & (pl.col("date") >= start))["area_code"]
    )
    assert len(hot) < 0.25 * len(big), (len(hot), len(big))


def test_the_pivot_reads_the_indicators_of_its_days(db: None, world: pl.DataFrame) -> None:
    """The pivot's columns are the indicators with a value on one of the days read (the
    first and the last day included), not every indicator of the table."""
    from ruralwatch.reporting.models import Indicator

    day = dt.date(2023, 1, 12)
    reported = set(world.filter(pl.col("date").is_between(day, day))["indicator_id"])
    assert set(nightly._indicators_on(day, day)) == reported
    assert Indicator.objects.exclude(code__in=reported).exists()  # some never reported
    village = Area.objects.filter(level=5, code__startswith="98").order_by("code").first()
    assert village is not None
    extra = Indicator.objects.exclude(code__in=reported).order_by("code").first()
    assert extra is not None
    for when in (day - dt.timedelta(days=3), day + dt.timedelta(days=2)):
        ReportValue.objects.create(
            area_id=village.code, date=when, indicator_id=extra.code, value=1, submitted_at=NOW
        )
    assert extra.code not in nightly._indicators_on(
        day - dt.timedelta(days=2), day + dt.timedelta(days=1)
    )
    assert extra.code in nightly._indicators_on(day - dt.timedelta(days=3), day)
    assert extra.code in nightly._indicators_on(
        day + dt.timedelta(days=2), day + dt.timedelta(days=9)
    )
    assert nightly._indicators_on(day, day - dt.timedelta(days=1)) == []
    # An indicator left out of the pivot's columns (a value written after the probe) is
    # caught by the area-days' counts and read one row each: the same frame.
    body = f"FROM {ReportValue._meta.db_table} v WHERE v.date BETWEEN %s AND %s"
    params = [(day - dt.timedelta(days=3)).isoformat(), day.isoformat()]
    codes = nightly._indicators_on(day - dt.timedelta(days=3), day)
    whole = nightly._fetch_wide(body, params, codes)
    assert whole.height > 1000 and set(whole.columns) == {"area_code", "date", *codes}
    for fewer in (codes[1:], [c for c in codes if c != extra.code]):
        part = nightly._fetch_wide(body, params, fewer)
        assert (
            part.select(whole.columns)
            .sort("area_code", "date")
            .equals(whole.sort("area_code", "date"))
        )


@pytest.mark.parametrize(
    ("history_days", "methods"),
    [
        (3, ("seasonal", "repeat", "rule")),  # less history than the days read before
        (7, ("seasonal", "repeat", "rule")),  # exactly those days
        (56, ("repeat", "rule")),  # no seasonal screen: only the day before is read
        (56, ("rule",)),  # nor a repeat screen: the screened days only
        (56, ("seasonal",)),
    ],
)
def test_screening_alone_with_other_history_and_methods(
    db: None,
    world: pl.DataFrame,
    reference: Callable[..., Any],
    history_days: int,
    methods: tuple[str, ...],
) -> None:
    """screen_outliers (the API's and the import's path) stores the flags of the whole
    screen (:func:`nightly._screen_outliers_whole`) with a history as long as the days the
    run reads before the screened ones, with only some methods, and with a shorter history
    (then it screens the whole: the bounds would count neighbours the screen never sees,
    which gave other flags before this was checked)."""
    prm = outliers.Params(methods=methods)
    start, end = dt.date(2023, 1, 6), dt.date(2023, 1, 12)
    _, ref = reference(
        lambda: nightly._screen_outliers_whole(
            start, end, history_days=history_days, params=prm, now=NOW
        )
    )
    run = nightly.screen_outliers(start, end, history_days=history_days, params=prm, now=NOW)
    assert _state()[1] == ref[1]
    assert {m for m, n in run.flags.items() if n} == {f[3] for f in ref[1]}
    assert ref[1] and {f[3] for f in ref[1]} <= set(methods)
