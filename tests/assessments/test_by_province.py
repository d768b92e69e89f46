"""The whole country is assessed one province tree at a time (issue 15): the panel of a run
is never the nation's, and the stored judgements are those of one pass over the whole tree.

Two synthetic counties relabelled into two provinces (91 and 92), imported with the reports
that had arrived by 06:00 the morning after the cycle date, so that the nowcast is at work and
each province's latest report is at another moment than the tree's (the pinned moment matters).
The one-pass judgement is ``services._judged`` over ``/``, what ``assess`` did before.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from ruralwatch.assessments import evidence_texts, services
from ruralwatch.assessments.evidence_texts import unpack_json
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.nowcasting import moment

pytestmark = pytest.mark.django_db

START = dt.date(2022, 12, 8)
CYCLE = dt.date(2023, 1, 20)
MORNING = dt.datetime.combine(
    CYCLE + dt.timedelta(days=1), dt.time(6), tzinfo=ZoneInfo("Asia/Shanghai")
)
#: (seed, province, province name)
COUNTIES = [(11, "91", "东岭省"), (13, "92", "西川省")]


def _relabel(col: str, province: str) -> pl.Expr:
    c = pl.col(col)
    return pl.when(c.is_null()).then(None).otherwise(pl.lit(province) + c.str.slice(2)).alias(col)


def _import(out: Path) -> None:
    from ruralwatch.areas.services import import_areas
    from ruralwatch.reporting.services import import_reports, roll_up
    from ruralwatch.synth import build_demo

    arrived = pl.lit(MORNING, dtype=pl.Datetime("us", "Asia/Shanghai"))
    areas, files = [], []
    for seed, province, name in COUNTIES:
        demo = build_demo(seed=seed, start=START, end=CYCLE)
        named = pl.when(pl.col("level") == 1).then(pl.lit(name)).otherwise(pl.col("name"))
        areas.append(
            demo.region.areas.with_columns(
                _relabel("code", province), _relabel("parent_code", province)
            )
            .with_columns(named.alias("name"))
            .select("code", "name", "level", "parent_code", "population")
        )
        path = out / f"reports-{province}.csv"
        (
            demo.reports.values.filter(
                pl.col("indicator") == "new_cases", pl.col("submitted_at") <= arrived
            )
            .with_columns(_relabel("area_code", province))
            .with_columns(pl.col("submitted_at").dt.strftime("%Y-%m-%d %H:%M:%S"))
            .pivot(
                on="indicator",
                index=["area_code", "date", "reporter", "submitted_at"],
                values="value",
            )
            .write_csv(path)
        )
        files.append(path)
    pl.concat(areas).sort("level", "code").write_csv(out / "areas.csv")
    import_areas(out / "areas.csv")
    for f in files:
        import_reports(f, now=MORNING)
    roll_up(START, CYCLE)


def _close(a: Any, b: Any, where: str, inexact: list[str]) -> None:
    """``a`` equals ``b``; floats may differ in their last bits only (a batch of fits gives
    each problem its answer to rounding, ``epi.irls``), counted in ``inexact``."""
    if isinstance(a, dict):
        # (PostgreSQL's jsonb keeps keys in its own order)
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: keys"
        for k in a:
            _close(a[k], b[k], f"{where}/{k}", inexact)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]", inexact)
    elif isinstance(a, float) and isinstance(b, float) and a != b:
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {a} != {b}"
        inexact.append(where)
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


def test_provinces_one_at_a_time_store_the_one_pass_judgements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(tmp_path)
    tree = moment("/", CYCLE, "new_cases")
    assert {moment(f"/{p}0000000000/", CYCLE, "new_cases") for p in ("91", "92")} - {tree}

    # Stale rows of the date (an area no longer judged among them) are replaced, as before.
    Judgement.objects.create(
        area_id="990000000000", indicator_id="new_cases", date=CYCLE, level="low",
        phase="plateau", text_zh="旧", text_en="old",
    )  # fmt: skip
    read: list[tuple[str, int]] = []
    series = services.subtree_series

    def spy(root_path: str, *args: Any, **kwargs: Any) -> Any:
        areas, values = series(root_path, *args, **kwargs)
        read.append((root_path, areas.height))
        return areas, values

    monkeypatch.setattr(services, "subtree_series", spy)
    summary = services.assess(CYCLE)
    monkeypatch.undo()

    total = Judgement.objects.count()
    assert [p for p, _ in read] == ["/910000000000/", "/920000000000/"]
    assert all(0 < n < total for _, n in read)  # no panel of the whole tree

    one = services.AssessmentSummary(CYCLE.isoformat())
    rows = services._judged(CYCLE, "/", "new_cases", 90, True, one).rows()
    assert summary.areas == len(rows) == total
    assert summary.by_phase == one.by_phase and summary.rebounds == one.rebounds
    assert summary.nowcast_added == one.nowcast_added and summary.nowcast_added
    stored = {
        j.area_id: j
        for j in Judgement.objects.filter(date=CYCLE, indicator_id="new_cases")
    }  # fmt: skip
    assert set(stored) == {r[0] for r in rows}
    inexact: list[str] = []
    for r in rows:
        j = stored[r[0]]
        assert (j.level, j.phase, j.rebound_detected, j.pooled) == r[3:7], r[0]
        assert (j.text_zh, j.text_en) == tuple(map(evidence_texts.sentence, r[7:9])), r[0]
        _close(json.loads(unpack_json(r[9])), j.evidence, r[0], inexact)
    assert any("nowcast" in j.evidence for j in stored.values())
    print(f"\n{len(rows)} judgements equal; {len(inexact)} floats not bit-equal {inexact[:3]}")


def test_the_panel_sums_the_reports_as_the_roll_ups_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For an indicator summed up, the assessment makes the series of levels 1–4 from the
    reports in its panel (``services._rolled_up``) instead of reading the roll-ups: the same
    panel as the roll-ups read with the reports, own reports of a township and a county
    included, so the same judgements. The roll-ups are read when a date of the window is
    archived (its village reports are gone, its roll-ups kept) or the indicator is not a sum."""
    import numpy as np

    from ruralwatch.areas.models import Area
    from ruralwatch.assessments import selectors
    from ruralwatch.reporting.models import ArchivedPeriod, Indicator, ReportValue
    from ruralwatch.reporting.services import roll_up

    _import(tmp_path)
    above = [
        Area.objects.filter(level=4, code__startswith="91").order_by("code").first(),
        Area.objects.filter(level=3, code__startswith="92").order_by("code").first(),
    ]
    for area, back, value in zip(above, (3, 40), (5.0, 7.0), strict=True):
        assert area is not None
        ReportValue.objects.create(
            area_id=area.code, date=CYCLE - dt.timedelta(days=back), indicator_id="new_cases",
            value=value, submitted_at=MORNING,
        )  # fmt: skip
    ReportValue.objects.create(  # a county's own report on a day none of its villages sent one
        area_id=above[1].code, date=START - dt.timedelta(days=10), indicator_id="new_cases",
        value=2.0, submitted_at=MORNING,
    )  # fmt: skip
    roll_up(START - dt.timedelta(days=10), CYCLE)
    start, n = CYCLE - dt.timedelta(days=90), 91
    for root in ("/910000000000/", "/920000000000/"):
        areas, both = selectors.subtree_series(root, "new_cases", start, CYCLE)
        _, reported = selectors.subtree_series(root, "new_cases", start, CYCLE, rolled=False)
        want = services.panel(areas, both, start, n)
        own = services.panel(areas, reported, start, n)
        got = services._rolled_up(own, services.parents(areas), areas["level"].to_list())
        upper = (areas["level"] < 5).to_numpy()
        assert np.isnan(own[:, upper]).sum() > np.isnan(want[:, upper]).sum() > 0
        assert np.array_equal(got, want, equal_nan=True), root

    sources: list[str] = []
    real = selectors.values_by_area

    def spy(source: str, *args: Any, **kwargs: Any) -> Any:
        sources.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(selectors, "values_by_area", spy)

    def judged() -> pl.DataFrame:
        sources.clear()
        one = services.AssessmentSummary(CYCLE.isoformat())
        return services._judged(CYCLE, "/910000000000/", "new_cases", 90, True, one)

    summed = judged()
    assert sources == ["report"]
    period = ArchivedPeriod.objects.create(
        start=START - dt.timedelta(days=30), end=START - dt.timedelta(days=20), file="x",
        sha256="0" * 64, values=0, submissions=0,
    )  # fmt: skip
    assert judged().equals(summed) and sources == ["report", "aggregate"]
    period.delete()
    Indicator.objects.filter(code="new_cases").update(aggregation="max")
    judged()
    assert sources == ["report", "aggregate"]
