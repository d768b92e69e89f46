"""Detection rules over the report store: the stored signal carries the numbers behind it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.services import import_reports, roll_up
from ruralwatch.signals.models import DetectionRule, Signal
from ruralwatch.signals.services import detect_signals
from tests.trees import ONE_TOWNSHIP as TREE

pytestmark = pytest.mark.django_db

# Township daily new cases = the sum of its two villages.
VILLAGE_1 = [2, 3, 2, 4, 3, 2, 3, 2, 30, 0]
VILLAGE_2 = [1, 0, 1, 0, 1, 1, 0, 1, 1, 0]
START = dt.date(2023, 1, 1)


def _township_with_a_spike(tmp_path: Path) -> dt.date:
    """The tree, ten days of the two villages (a spike on day 9, a death on day 10) rolled
    up, and only the EARS C1 and single-case rules active; the last day."""
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    lines = ["area_code,date,new_cases,deaths"]
    for i, (a, b) in enumerate(zip(VILLAGE_1, VILLAGE_2, strict=True)):
        day = (START + dt.timedelta(days=i)).isoformat()
        lines += [f"990101001001,{day},{a},{1 if i == 9 else 0}", f"990101001002,{day},{b},0"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    end = START + dt.timedelta(days=9)
    roll_up(START, end)
    DetectionRule.objects.exclude(method__in=["ears-c1", "cidars-single-case"]).update(active=False)
    return end


def test_ears_c1_signal_on_township_spike_and_single_case_deaths(tmp_path: Path) -> None:
    end = _township_with_a_spike(tmp_path)
    summary = detect_signals(START, end)
    again = detect_signals(START, end)  # idempotent
    assert summary.signals_by_method == again.signals_by_method
    # Before 1 Jan there are no reports: days without data are left out of the baseline, so
    # day 4 (4 cases) is judged against days 1–3 (3, 3, 3; sd 0) and also alarms.
    early = Signal.objects.get(method="ears-c1", date=START + dt.timedelta(days=3))
    assert (early.observed, early.threshold) == (4.0, 3.0)
    township = Signal.objects.get(method="ears-c1", area_id="990101001000", observed=31)
    # Day 9 (index 8): baseline = township totals of days 1–7 = 3,3,3,4,4,3,3.
    baseline = [3, 3, 3, 4, 4, 3, 3]
    mean = sum(baseline) / 7
    sd = (sum((x - mean) ** 2 for x in baseline) / 6) ** 0.5
    z = 3.090232306167813  # standard normal quantile at 1 - 0.001
    assert township.date == START + dt.timedelta(days=8)
    assert township.observed == 31
    assert township.threshold == pytest.approx(mean + z * sd, rel=1e-12)
    assert township.params["alpha"] == 0.001 and township.params["baseline"] == 7
    death = Signal.objects.get(method="cidars-single-case")
    assert (death.area_id, death.date, death.observed) == ("990101001001", end, 1.0)
    assert Signal.objects.count() == 3


def test_weekly_farrington_rule_on_county_weeks(tmp_path: Path) -> None:
    """Daily village reports are summed into ISO weeks (dated by Sunday) for the weekly rule."""
    import numpy as np

    from ruralwatch.epi.detect import get_detector
    from ruralwatch.epi.panel import Panel
    from ruralwatch.signals.defaults import NOUFAILY

    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    rng = np.random.default_rng(11)
    first = dt.date(2017, 1, 2)  # a Monday
    end = dt.date(2023, 1, 8)  # a Sunday
    n = (end - first).days + 1
    daily = rng.poisson(3.0, n)
    daily[-7:] += 12  # the last week has an outbreak
    lines = ["area_code,date,new_cases"] + [
        f"990101001001,{first + dt.timedelta(days=i)},{int(c)}" for i, c in enumerate(daily)
    ]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 2, 1, tzinfo=dt.UTC))
    roll_up(first, end)
    DetectionRule.objects.exclude(method="farrington-flexible").update(active=False)
    start = end - dt.timedelta(days=13)
    summary = detect_signals(start, end)
    weekly = daily.reshape(-1, 7).sum(axis=1).astype(float)  # Monday..Sunday weeks
    rule = DetectionRule.objects.get(method="farrington-flexible")
    sundays = [first + dt.timedelta(days=7 * k + 6) for k in range(len(weekly))]
    # The rule reads history_days before `start`, snapped to a Sunday: the same weeks here.
    keep = [
        k for k, s in enumerate(sundays) if s > start - dt.timedelta(days=rule.history_days + 7)
    ]
    panel = Panel(
        counts=weekly[keep, None],
        units=("990101000000",),
        dates=np.array(sundays, dtype="datetime64[D]")[keep],
        freq=52,
    )
    direct = get_detector("farrington-flexible")(
        panel, monitor=np.array([len(keep) - 1]), **NOUFAILY
    )
    assert direct.alarm[0, 0] == 1.0
    assert summary.signals_by_method.get("farrington-flexible", 0) == 1
    sig = Signal.objects.get(method="farrington-flexible")
    assert (sig.area_id, sig.date, sig.observed) == ("990101000000", end, weekly[-1])
    assert sig.threshold == pytest.approx(float(direct.upperbound[0, 0]))
    assert sig.date.weekday() == 6  # Sunday


def test_rules_on_one_series_read_it_once_and_keep_their_own_history(tmp_path: Path) -> None:
    """Two rules on the townships' cases with different history: one read of the longest
    history; each rule gets exactly the rows its own read would give, and stores the signals
    it gives run alone."""
    import numpy as np

    from ruralwatch.signals import services
    from ruralwatch.signals.selectors import level_panel_frame

    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    rng = np.random.default_rng(5)
    first = dt.date(2023, 1, 1)
    days = 40
    lines = ["area_code,date,new_cases"]
    for i in range(days):
        day = (first + dt.timedelta(days=i)).isoformat()
        lines += [f"990101001001,{day},{rng.poisson(6)}", f"990101001002,{day},{rng.poisson(2)}"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=dt.datetime(2023, 3, 1, tzinfo=dt.UTC))
    end = first + dt.timedelta(days=days - 1)
    roll_up(first, end)
    DetectionRule.objects.update(active=False)
    rules = []
    for method, history in (("ears-c1", 28), ("ears-c2", 9)):
        rule = DetectionRule.objects.get(level=4, indicator_id="new_cases", method=method)
        # many alarms, so that a difference would show
        rule.params, rule.history_days = {"alpha": 0.3}, history
        rule.save()
        rules.append(rule)
    start = end - dt.timedelta(days=9)

    frames = services._Frames(rules, start, end, "/")
    for rule in rules:
        own = start - dt.timedelta(days=rule.history_days)
        got = frames.frame(rule, own).sort("area", "date")
        assert got["date"].min() == own
        assert got.equals(level_panel_frame(4, "new_cases", own, end).sort("area", "date"))
    assert frames.read == {}  # let go after the last rule

    def stored(rule: DetectionRule) -> list[tuple]:
        return list(
            Signal.objects.filter(rule=rule)
            .order_by("area_id", "date")
            .values_list("area_id", "date", "observed", "expected", "threshold", "score")
        )

    alone = {}
    for rule in rules:
        DetectionRule.objects.update(active=False)
        DetectionRule.objects.filter(pk=rule.pk).update(active=True)
        detect_signals(start, end)
        alone[rule.pk] = stored(rule)
    assert alone[rules[0].pk] and alone[rules[1].pk]
    DetectionRule.objects.filter(pk__in=[r.pk for r in rules]).update(active=True)
    reads = []
    real = services.level_panel_frame

    def counted(*args):
        reads.append(args)
        return real(*args)

    services.level_panel_frame = counted
    try:
        detect_signals(start, end)
    finally:
        services.level_panel_frame = real
    assert [r[:3] for r in reads] == [(4, "new_cases", start - dt.timedelta(days=28))]
    for rule in rules:
        assert stored(rule) == alone[rule.pk]


def test_the_panel_is_the_one_from_long_makes() -> None:
    """services._panel finds the columns with polars; the panel is Panel.from_long's (sorted
    codes, NaN where no row, daily and weekly), whatever the rows' order."""
    import numpy as np
    import polars as pl

    from ruralwatch.epi.panel import Panel
    from ruralwatch.signals.services import _panel

    rng = np.random.default_rng(3)
    codes = np.array([f"41{rng.integers(0, 10**10):010d}" for _ in range(300)])
    start = dt.date(2023, 1, 2)
    for step, n_time in ((1, 9), (7, 6)):
        area = np.repeat(codes, n_time)
        row = np.tile(np.arange(n_time), codes.size)
        keep = rng.permutation(np.flatnonzero(rng.random(area.size) < 0.8))
        frame = pl.DataFrame(
            {
                "area": area[keep],
                "date": [start + dt.timedelta(days=int(r) * step) for r in row[keep]],
                "value": rng.poisson(3, keep.size).astype(float),
            }
        )
        end = start + dt.timedelta(days=(n_time - 1) * step)
        got = _panel(frame, start, end, step_days=step)
        want = Panel.from_long(
            frame["area"].to_numpy(),
            row[keep],
            frame["value"].to_numpy(),
            n_time=n_time,
            dates=np.datetime64(start) + np.arange(n_time) * step,
            freq=365 if step == 1 else 52,
        )
        assert got.units == want.units
        assert np.array_equal(got.counts, want.counts, equal_nan=True)
        assert np.array_equal(got.dates, want.dates) and got.freq == want.freq


def test_a_rule_whose_signals_cannot_be_stored_fails_alone(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The rules that ran store their signals together; when that fails, each is stored
    alone: the rule whose rows cannot be stored (here without their observed counts) fails
    and keeps its earlier signals, the others store theirs."""
    from ruralwatch.signals import services

    end = _township_with_a_spike(tmp_path)
    detect_signals(START, end)
    before = {
        m: sorted(Signal.objects.filter(method=m).values_list("area_id", "date", "observed"))
        for m in ("ears-c1", "cidars-single-case")
    }
    assert before["ears-c1"] and before["cidars-single-case"]
    Signal.objects.filter(method="cidars-single-case").delete()
    real = services._signal_rows

    def broken(rule, result, first):  # type: ignore[no-untyped-def]
        rows = real(rule, result, first)
        if rule.method != "ears-c1":
            return rows
        return [(*row[:5], None, *row[6:]) for row in rows]  # observed is NOT NULL

    monkeypatch.setattr(services, "_signal_rows", broken)
    summary = detect_signals(START, end)
    ears = DetectionRule.objects.get(method="ears-c1")
    assert list(summary.failed) == [str(ears)]
    assert summary.failed[str(ears)].startswith("IntegrityError")
    assert ears.last_error == summary.failed[str(ears)]
    assert DetectionRule.objects.get(method="cidars-single-case").last_error == ""
    assert summary.rules_run == 1 and list(summary.signals_by_method) == ["cidars-single-case"]
    for m in ("ears-c1", "cidars-single-case"):  # kept, and stored again
        got = sorted(Signal.objects.filter(method=m).values_list("area_id", "date", "observed"))
        assert got == before[m]


def test_a_day_detected_again_rewrites_only_the_signals_that_changed(tmp_path: Path) -> None:
    """Detection runs over the days before the cycle date every morning: a signal found again
    as it was keeps its stored row, one whose numbers changed is replaced, one no longer
    found is deleted, and a new one is added."""
    end = _township_with_a_spike(tmp_path)
    detect_signals(START, end)
    ids = dict(Signal.objects.values_list("date", "id"))
    assert len(ids) == 3
    spike, death = START + dt.timedelta(days=8), end
    # yesterday's numbers stored differently, and a signal that will not be found again
    Signal.objects.filter(date=death).update(observed=5.0)
    gone = Signal.objects.create(
        rule=DetectionRule.objects.get(method="ears-c1"),
        area_id="990101001000",
        indicator_id="new_cases",
        date=START + dt.timedelta(days=6),
        method="ears-c1",
        observed=99.0,
    )
    Signal.objects.filter(date=spike).delete()
    detect_signals(START, end)
    now = dict(Signal.objects.values_list("date", "id"))
    assert set(now) == set(ids)  # the one not found again is gone, the deleted one is back
    early = START + dt.timedelta(days=3)
    assert now[early] == ids[early]  # unchanged: the same row
    assert now[death] != ids[death] and now[spike] != ids[spike]
    assert Signal.objects.get(date=death).observed == 1.0
    assert not Signal.objects.filter(pk=gone.pk).exists()
