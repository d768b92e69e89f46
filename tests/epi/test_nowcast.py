"""Nowcasting (Höhle & an der Heiden 2014) against R surveillance::nowcast and on series whose
final counts are known.

The oracle cases (tests/fixtures/r_nowcast, made by make_oracle.R there) run R with 20,000
draws of the delay distribution; we draw 4,000, so a median or bound may differ by one case
where the mixture's cumulative mass sits near the quantile. Tolerances:

* bayes.trunc, bayes.notrunc: median, lower and upper bound of the 95% interval within 1 case;
  at least 90% of the cells equal.
* the delay CDF (posterior mean): within 0.003 of R's ``delayCDF``.
* lawless: the point nowcast ``y / F`` within 1 case of R's median (R reports a discretised
  Gaussian predictive whose interval we do not reproduce).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from bench.nowcast_coverage import simulate

from ruralwatch.epi import nowcast as nc
from ruralwatch.epi.nowcast import (
    METHODS,
    NowcastConfig,
    delay_cdf,
    hazard_counts,
    nowcast,
    nowcast_panel,
    poisgamma_prior,
    triangle_from_long,
)

ORACLE = Path(__file__).resolve().parent.parent / "fixtures" / "r_nowcast"
CASES = pl.read_csv(ORACLE / "cases.csv").to_dicts()


def _case(case: dict) -> tuple[np.ndarray, NowcastConfig]:
    start = dt.date.fromisoformat(case["start"])
    now = dt.date.fromisoformat(case["now"])
    tri = pl.read_csv(ORACLE / f"{case['name']}.triangle.csv")
    day = [(dt.date.fromisoformat(s) - start).days for s in tri["day"]]
    triangle = triangle_from_long(
        day, tri["delay"].to_numpy(), tri["n"].to_numpy(), (now - start).days + 1, case["D"]
    )
    cfg = NowcastConfig(
        max_delay=case["D"],
        window=None if case["m"] is None else int(case["m"]),
        kappa=case["kappa"],
        prior_mean=case["mean_lambda"],
        prior_var=case["var_lambda"],
        level=1 - case["alpha"],
        n_samples=4000,
    )
    return triangle, cfg


@pytest.fixture(scope="module", params=[c["name"] for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[dict, np.ndarray, NowcastConfig]:
    c = next(c for c in CASES if c["name"] == request.param)
    triangle, cfg = _case(c)
    return c, triangle, cfg


@pytest.mark.parametrize("method", ["bayes.trunc", "bayes.notrunc"])
def test_bayes_agrees_with_r(case, method):
    c, triangle, cfg = case
    r = pl.read_csv(ORACLE / f"{c['name']}.{method}.csv")
    k = len(r)
    ours = nowcast(triangle, method, cfg, grid_max=int(c["tinf_max"]))
    assert np.array_equal(ours.observed[-k:], r["observed"].to_numpy())
    got = np.c_[ours.median[-k:], ours.lower[-k:], ours.upper[-k:]]
    want = r.select("median", "lower", "upper").to_numpy()
    assert np.abs(got - want).max() <= 1, np.c_[want, got]
    assert (got == want).mean() >= 0.9
    # the days older than D are complete: no nowcast
    old = ours.observed[: -c["D"]]
    assert np.array_equal(ours.median[: -c["D"]], old)


def test_delay_cdf_agrees_with_r(case):
    c, triangle, cfg = case
    want = pl.read_csv(ORACLE / f"{c['name']}.cdf.csv")["cdf"].to_numpy()
    got = delay_cdf(triangle, "bayes.trunc", cfg)[0]
    assert np.abs(got - want).max() < 0.003
    assert got[-1] == 1.0 and np.all(np.diff(got) >= 0)


# R's lawless uses the lawless1994 window (a rectangle) when m is given; ours does not, so only
# the cases without a window are compared (docs/methods/nowcast.md).
@pytest.mark.parametrize("name", [c["name"] for c in CASES if c["m"] is None])
def test_lawless_point_agrees_with_r(name: str) -> None:
    c = next(c for c in CASES if c["name"] == name)
    triangle, cfg = _case(c)
    r = pl.read_csv(ORACLE / f"{c['name']}.lawless.csv")
    k = len(r)
    ours = nowcast(triangle, "lawless", cfg)
    assert np.abs(ours.median[-k:] - r["median"].to_numpy()).max() <= 1


def test_growth_case_truncation_matters():
    """While cases rise, ignoring truncation under-estimates the delays and the nowcast: the
    two Bayesian methods must differ on the growing series, as they do in R."""
    c = next(c for c in CASES if c["name"] == "growth")
    triangle, cfg = _case(c)
    trunc = nowcast(triangle, "bayes.trunc", cfg)
    notrunc = nowcast(triangle, "bayes.notrunc", cfg)
    assert trunc.median[-1] > notrunc.median[-1] + 5


@pytest.mark.parametrize("draws", [200, 500])  # 200: the assessment's (nowcasting.DEFAULT)
def test_panel_intervals_cover_the_truth(draws: int):
    """On 400 series with known final counts the 95% intervals of the last days hold the truth
    about 95% of the time, and the mean nowcast is unbiased within a few percent."""
    rng = np.random.default_rng(7)
    D = 6
    pmf = np.array([0.2, 0.3, 0.2, 0.12, 0.08, 0.06, 0.04])
    lam = 30 * np.exp(0.04 * np.arange(40))[None, :]
    tri, truth = simulate(rng, 400, 40, lam, pmf)
    res = nowcast_panel(tri, config=NowcastConfig(max_delay=D, n_samples=draws))
    final = truth[:, res.days].astype(float)
    inside = (res.lower <= final) & (final <= res.upper)
    assert 0.91 <= inside.mean() <= 0.99, inside.mean()
    # the last day (20% known) is the hard one: still covered
    assert inside[:, -1].mean() >= 0.88
    bias = (res.mean - final).sum() / final.sum()
    assert abs(bias) < 0.04, bias
    s = final.sum(axis=1)
    assert 0.9 <= ((res.sum_lower <= s) & (s <= res.sum_upper)).mean() <= 0.995
    # what the nowcast is for: the observed counts alone are far below the truth
    assert res.observed[:, -1].sum() < 0.3 * final[:, -1].sum()


def test_panel_agrees_with_single_series():
    c = next(c for c in CASES if c["name"] == "steady")
    triangle, cfg = _case(c)
    one = nowcast(triangle, "bayes.trunc", cfg)
    panel = nowcast_panel(np.stack([triangle, triangle]), "bayes.trunc", cfg)
    D = c["D"]
    np.testing.assert_allclose(panel.mean[0], one.mean[-D:], rtol=0.01)
    assert np.abs(panel.lower[0] - one.lower[-D:]).max() <= 2
    assert np.abs(panel.upper[0] - one.upper[-D:]).max() <= 2
    np.testing.assert_allclose(panel.mean[0], panel.mean[1], rtol=0.01)


def test_reproducible_with_the_seed():
    c = next(c for c in CASES if c["name"] == "small")
    triangle, cfg = _case(c)
    a = nowcast_panel(triangle, config=cfg)
    b = nowcast_panel(triangle, config=cfg)
    assert np.array_equal(a.lower, b.lower) and np.array_equal(a.mean, b.mean)
    # with keys, a unit's numbers do not depend on the other units of the panel
    other, _ = _case(next(c for c in CASES if c["name"] == "steady"))
    both = nowcast_panel(np.stack([other[-35:, :6], triangle]), config=cfg, keys=[7, 11])
    alone = nowcast_panel(triangle, config=cfg, keys=[11])
    assert np.array_equal(both.upper[1], alone.upper[0])
    assert np.array_equal(both.mean[1], alone.mean[0])
    # also first or last of a 300-unit panel
    many = np.stack([other[-35:, :6]] * 299 + [triangle])
    keys = [*range(100, 399), 11]
    for order in (slice(None), slice(None, None, -1)):
        big = nowcast_panel(many[order], config=cfg, keys=keys[order])
        u = 299 if order == slice(None) else 0
        for field in ("mean", "lower", "upper", "known_share", "sum_lower", "sum_upper"):
            assert np.array_equal(getattr(big, field)[u], getattr(alone, field)[0]), field
    with pytest.raises(ValueError, match="key"):
        nowcast_panel(triangle, config=cfg, keys=[1, 2])


def test_immediate_reporting_adds_nothing():
    rng = np.random.default_rng(3)
    tri, truth = simulate(rng, 3, 30, 20.0, np.array([1.0, 0, 0, 0]))
    res = nowcast_panel(tri, config=NowcastConfig(max_delay=3))
    assert np.array_equal(res.observed, truth[:, res.days])
    assert np.all(res.mean - res.observed < 0.5)
    assert np.array_equal(res.upper, res.observed)


def test_triangle_from_long():
    tri = triangle_from_long([0, 0, 1, 2, 0], [0, 5, 1, 0, 2], [3, 1, 2, 4, 1], 3, 2)
    assert tri.shape == (3, 3)
    assert tri[0].tolist() == [3.0, 0.0, 2.0]  # delay 5 counted as the maximum, 2
    assert tri[1, 1] == 2.0 and np.isnan(tri[1, 2])
    assert tri[2, 0] == 4.0 and np.isnan(tri[2, 1:]).all()
    with pytest.raises(ValueError, match="after now"):
        triangle_from_long([2], [1], [1], 3, 2)
    with pytest.raises(ValueError, match=">= 0"):
        triangle_from_long([0], [-1], [1], 3, 2)
    panel = triangle_from_long([0, 1], [0, 0], [1, 2], 2, 1, unit=[1, 0], n_units=2)
    assert panel.shape == (2, 2, 2) and panel[1, 0, 0] == 1 and panel[0, 1, 0] == 2


def test_hazard_counts_and_prior():
    # two rows: row 0 complete (delays 0,1,2 -> 2,1,1), row 1 sees delay 0 and 1, row 2 only 0
    tri = np.array([[2, 1, 1], [3, 2, np.nan], [4, np.nan, np.nan]], dtype=float)
    edge, rect = hazard_counts(tri)
    assert edge[0, 1:].tolist() == [1 + 2, 1]
    assert rect[0, 1:].tolist() == [3 + 5, 4]
    shape, rate = poisgamma_prior(tri, NowcastConfig(max_delay=2))
    assert shape[0] == pytest.approx(1.0) and rate[0] == pytest.approx(1 / 4)
    shape, rate = poisgamma_prior(tri, NowcastConfig(prior_mean=10, prior_var=50))
    assert shape[0] == pytest.approx(2.0) and rate[0] == pytest.approx(0.2)


def test_bad_arguments():
    tri = np.zeros((5, 3))
    with pytest.raises(ValueError, match="unknown method"):
        nowcast(tri, "unif")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one triangle"):
        nowcast(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="triangle is"):
        nowcast(np.zeros(5))
    assert set(METHODS) == {"bayes.trunc", "bayes.notrunc", "lawless"}


@pytest.mark.parametrize("samples", [1, 7, 40, 400, 1000])
def test_the_draws_quantiles_are_numpys_inverted_cdf(samples: int) -> None:
    """The panel's intervals pick the order statistics np.quantile's inverted CDF picks."""
    rng = np.random.default_rng(samples)
    draws = rng.poisson(rng.gamma(1.0, 3.0, size=(5, 3, 1)), size=(5, 3, samples)).astype(float)
    q = (0.025, 0.975)
    expected_lo, expected_hi = np.quantile(draws, q, axis=-1, method="inverted_cdf")
    sums = draws.sum(axis=1)  # before: the draws are partitioned in place
    lo, hi = nc._draw_quantiles(draws, q)
    assert np.array_equal(lo, expected_lo) and np.array_equal(hi, expected_hi)
    s_lo, s_hi = nc._draw_quantiles(sums, q)
    expected_lo, expected_hi = np.quantile(sums, q, axis=-1, method="inverted_cdf")
    assert np.array_equal(s_lo, expected_lo) and np.array_equal(s_hi, expected_hi)
