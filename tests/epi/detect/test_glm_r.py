"""The GLM fit that GLR and CUSUM use for their in-control mean stops where R's ``glm`` stops, and
the LR's closed-form count of cases reaches the threshold exactly.

The R numbers were printed by R 4.2.2 (MASS 7.3-58.2), the commands given beside them.
"""

from __future__ import annotations

import numpy as np
import pytest

from ruralwatch.epi.detect._glm import MU_EPS, fit_glm_r, predict_r
from ruralwatch.epi.detect.glr import glr
from ruralwatch.epi.panel import Panel


def _design(t: np.ndarray, harmonic: bool) -> np.ndarray:
    cols = [np.ones_like(t), t]
    if harmonic:
        cols.append(np.cos(2 * np.pi * t / 12))
    return np.column_stack(cols)


def test_a_separated_poisson_fit_stops_at_r_maxit_with_means_at_eps() -> None:
    # y <- c(1, rep(0, 10)); t <- seq_along(y); f <- glm(y ~ t, family = poisson())
    # coef(f): 21.96706601752858 -21.967066017528669; f$iter 25, f$converged TRUE (the
    # deviance, 5.8e-10, stops moving); with maxit = 24 not converged; fitted(f)[11] = 2.22e-16
    y = np.r_[1.0, np.zeros(10)][:, None]
    t = np.arange(1, 12, dtype=np.float64)
    assert not fit_glm_r(_design(t, False), y, max_iter=24)[1][0]
    beta, conv = fit_glm_r(_design(t, False), y)
    assert conv[0]  # no MLE, yet the deviance criterion is met at R's 25th iteration
    assert beta[:, 0] == pytest.approx([21.96706601752858, -21.967066017528669], rel=1e-6)
    pred = predict_r(_design(np.array([11.0, 20.0]), False), beta)
    assert pred[:, 0].tolist() == [MU_EPS, MU_EPS]


def test_nb_fit_with_known_theta_matches_r_from_its_start() -> None:
    y = np.array([0, 3, 1, 0, 5, 2, 0, 0, 4, 7, 1, 0, 2, 3], dtype=np.float64)[:, None]
    x = _design(np.arange(1, 15, dtype=np.float64), True)
    theta = np.array([2.0])
    # glm(y ~ t + cos(2*pi*t/12), family = negative.binomial(2), control = glm.control(maxit = 1))
    one, _ = fit_glm_r(x, y, theta=theta, max_iter=1)
    assert one[:, 0] == pytest.approx(
        [0.449344342931335, 0.0507514778379618, -0.19859841261164], rel=1e-12
    )
    # the same with the default control: converged after 6 iterations
    full, conv = fit_glm_r(x, y, theta=theta)
    assert conv[0]
    assert full[:, 0] == pytest.approx(
        [0.22219819470519114, 0.061619326691899332, -0.15418266760364527], rel=1e-8
    )


def test_a_unit_alone_gets_the_same_fit_as_in_a_panel() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(1, 41, dtype=np.float64)
    y = rng.poisson(4.0, size=(40, 3)).astype(np.float64)
    y[:, 1] = 0.0
    y[0, 1] = 2.0  # separated
    y[7, 2] = np.nan
    x = _design(t, True)
    both = predict_r(x, fit_glm_r(x, y)[0])
    for u in range(3):
        alone = predict_r(x, fit_glm_r(x, y[:, [u]])[0])
        # the separated unit's coefficients drift, so rounding moves them by 1e-6; its means
        # (0 or 2) do not move
        np.testing.assert_allclose(alone[:, 0], both[:, u], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_lr_cases_is_the_count_at_which_the_statistic_reaches_c_arl(alpha: float) -> None:
    counts = np.array([3, 5, 2, 4, 9, 12, 4, 3, 8, 5], dtype=np.float64)
    mu0 = np.full(counts.size, 4.0)
    panel = Panel(counts=counts[:, None], units=("a",), freq=52)
    kw = dict(c_arl=2.0, theta=0.6, alpha=alpha, mu0=mu0, monitor=np.arange(counts.size))
    cases = glr(panel, ret="cases", **kw).upperbound[:, 0]
    stat = glr(panel, ret="value", **kw).score[:, 0]
    alarms = 0
    for n in range(counts.size):
        assert cases[n] != np.round(cases[n])  # not rounded to a whole count
        # put the count at n to the closed-form value: the statistic is then c_arl
        probe = counts.copy()
        probe[n] = cases[n]
        p2 = Panel(counts=probe[:, None], units=("a",), freq=52)
        st = glr(p2, ret="value", **kw).score[n, 0]
        assert st == pytest.approx(2.0, rel=1e-9)
        alarms += stat[n] >= 2.0
    assert alarms > 0  # the series does alarm, so restarts are exercised
