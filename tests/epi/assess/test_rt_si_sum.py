"""EpiEstim's rule for a serial interval that does not sum exactly to 1, against EpiEstim 2.2.4.

Fixtures: ``fixtures/epiestim_si_sum/`` (made by ``make_fixtures.R`` there): short series with a
parametric SI (its discretised mass is below 1 when cut at the series length) and given SIs whose
mass is just inside or just outside 0.01 of 1. What R observably does: a mass within 0.01 of 1 is
used as given (not rescaled); beyond that a given SI is refused and a parametric one is used as
given with a warning.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from ruralwatch.epi.assess.rt import SerialIntervalWarning, discrete_si, estimate_rt

HERE = Path(__file__).parent / "fixtures" / "epiestim_si_sum"
REL = 1e-8  # shared oracles README: EpiEstim, all columns, relative 1e-8


def _rows(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


INCIDENCE = np.array([float(r["I"]) for r in _rows("incidence.csv")])
CASES = _rows("cases.csv")


def _si(case: dict[str, str]) -> np.ndarray:
    n = int(case["n"])
    if case["method"] == "parametric_si":
        return discrete_si(np.arange(n), float(case["mean_si"]), float(case["std_si"]))
    return np.array([float(v) for v in case["si_distr"].split()])


def _estimate(case: dict[str, str]):  # type: ignore[no-untyped-def]
    n = int(case["n"])
    windows = ([int(case["t_start"])], [int(case["t_end"])]) if case["t_start"] else (None, None)
    rule = "warn" if case["method"] == "parametric_si" else "error"
    return estimate_rt(INCIDENCE[:n], _si(case), *windows, si_sum=rule)


ACCEPTED = [c for c in CASES if c["status"] != "error"]
REFUSED = [c for c in CASES if c["status"] == "error"]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c["case"])
def test_accepted_as_r(case: dict[str, str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _estimate(case)
    ours_warned = [w for w in caught if issubclass(w.category, SerialIntervalWarning)]
    assert bool(ours_warned) == (case["status"] == "warning")
    assert bool(res.warnings) == (case["status"] == "warning")
    used = np.loadtxt(HERE / f"{case['case']}__si_distr_used.csv")
    k = min(used.size, res.si_distr.size)  # R pads the vector to T + 1 entries; the rest is 0
    np.testing.assert_allclose(res.si_distr[:k], used[:k], rtol=1e-12, atol=1e-15)
    assert not used[k:].any() and not res.si_distr[k:].any()
    assert res.si_distr.sum() == pytest.approx(float(case["si_sum"]), rel=1e-12)
    ref = _rows(f"{case['case']}.csv")
    np.testing.assert_array_equal(res.t_start, [int(r["t_start"]) for r in ref])
    np.testing.assert_array_equal(res.t_end, [int(r["t_end"]) for r in ref])
    for col, mine in (("mean", res.mean[:, 0]), ("std", res.std[:, 0])):
        want = np.array([float("nan") if r[col] == "NA" else float(r[col]) for r in ref])
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(want))
        np.testing.assert_allclose(mine[~np.isnan(want)], want[~np.isnan(want)], rtol=REL)
    for i, q in enumerate(res.quantile_levels):
        want = np.array([float(r[f"q{q:g}"]) for r in ref])
        np.testing.assert_allclose(res.quantiles[i, :, 0], want, rtol=REL)


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c["case"])
def test_refused_as_r(case: dict[str, str]) -> None:
    assert case["message"] == "si_distr must sum to 1."
    with pytest.raises(ValueError, match=r"si_distr must sum to 1 \(within 0\.01\), sums to"):
        _estimate(case)


def test_parametric_beyond_tolerance_refused_when_asked() -> None:
    """The default rule is EpiEstim's for a given SI: the caller says when the SI is parametric."""
    si = discrete_si(np.arange(10), 6.8, 4.1)  # sums to 0.79
    with pytest.raises(ValueError, match=r"sums to 0\.78983"):
        estimate_rt(INCIDENCE[:10], si)


def test_issue_case_short_parametric_si_is_accepted_without_warning() -> None:
    """Issue 9 #3: 14 days, mean 2.6, sd 1.5 sums to 0.99979 and must simply run."""
    si = discrete_si(np.arange(14), 2.6, 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = estimate_rt(INCIDENCE, si)
    assert res.warnings == ()
    assert np.isfinite(res.mean).all()
