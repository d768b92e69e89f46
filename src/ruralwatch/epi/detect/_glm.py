"""Batched log-link GLM fits (Poisson, negative binomial) by IRLS, one column per series.

``x`` is the (n, p) design shared by all series, ``y`` the (n, U) responses and ``mask`` (n, U)
marks the rows each series may use (missing values are left out). All series are fitted at once.
The negative binomial fit is the joint maximum likelihood estimate of the coefficients and of
``theta`` (variance mu + mu^2/theta), the same estimate as ``MASS::glm.nb``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, psi

from ruralwatch.epi.irls import Control, Family, SharedDesign, irls, outer_rows
from ruralwatch.epi.linalg import solve_each

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = ["MU_EPS", "fit_glm_r", "fit_negbin", "predict_r"]

_THETA_MAX = 1e10


def _xtwx(xx: FloatArray, w: FloatArray, p: int) -> FloatArray:
    """X' W X per series, shape (U, p, p), as one matrix product (``xx`` = rows of x_i x_j)."""
    return np.ascontiguousarray((xx.T @ w).T).reshape(w.shape[1], p, p)


def _solve(a: FloatArray, b: FloatArray) -> FloatArray:
    """Batched solve a[u] beta[:, u] = b[:, u]; (p, U). Singular systems by least squares."""
    return np.asarray(solve_each(a, b.T).T, dtype=np.float64)


def _irls(
    x: FloatArray,
    y: FloatArray,
    mask: BoolArray,
    theta: FloatArray | None,
    beta0: FloatArray | None,
    max_iter: int = 100,
    tol: float = 1e-13,
) -> FloatArray:
    """Coefficients (p, U) of a log-link fit; Poisson when ``theta`` is None, else NB(theta).

    The one IRLS (:func:`ruralwatch.epi.irls.irls`) with the coefficient rule, the linear
    predictor clipped to +-700, from mu = y + 0.1 or from ``beta0``. Each series stops
    iterating once its own coefficients have converged, so a series gets the same answer
    alone as within a panel.
    """
    yy = np.where(mask, y, 0.0).T
    fit = irls(
        yy,
        mask.T.astype(np.float64),
        SharedDesign(x),
        Family(theta),
        Control(rule="coef", tol=tol, max_iter=max_iter, eta_clip=700.0),
        mu0=None if beta0 is not None else yy + 0.1,
        beta0=None if beta0 is None else beta0.T,
    )
    return np.asarray(fit.coef.T, dtype=np.float64)


# R's .Machine$double.eps: the log link's inverse never gives a mean below it (observed:
# ``poisson()$linkinv(-800)`` is 2.220446e-16), so neither fitted nor predicted means do.
MU_EPS = float(np.finfo(np.float64).eps)


def fit_glm_r(
    x: FloatArray,
    y: FloatArray,
    mask: BoolArray | None = None,
    theta: FloatArray | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = 25,
) -> tuple[FloatArray, BoolArray]:
    """Log-link GLM by Fisher scoring as R's ``glm`` does it: coefficients (p, U), converged (U,).

    Poisson when ``theta`` is None, else negative binomial with known ``theta`` per series (R's
    ``negative.binomial(theta)`` family). The documented ``glm.control`` rules: stop when
    ``|dev - dev_old| / (|dev| + 0.1) < tol`` or after ``max_iter`` iterations; means are
    ``max(exp(eta), eps)``; an iterate whose deviance is not finite is halved back towards the
    previous one. Where the maximum likelihood estimate exists this is it (to the criterion);
    where it does not (a sparse series whose fitted values run to 0, "fitted rates numerically
    0") the iteration stops, as R's does, with means at the ``eps`` floor, instead of running
    the coefficients away. The start is ``mu = y + 0.1`` (Poisson) or ``y + (y == 0) / 6`` (NB),
    the starts R's families use (observed: one iteration of R's ``glm`` from each agrees with
    one step from these to rounding).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    m = ~np.isnan(y) if mask is None else mask & ~np.isnan(y)
    yy = np.where(m, y, 0.0).T
    mu0 = yy + 0.1 if theta is None else yy + (yy == 0.0) / 6.0
    fit = irls(
        yy,
        m.T.astype(np.float64),
        SharedDesign(x),
        Family(theta),
        Control(tol=tol, max_iter=max_iter, mu_floor=MU_EPS, halving=True),
        mu0=mu0,
    )
    return np.asarray(fit.coef.T, dtype=np.float64), fit.converged


def predict_r(x: FloatArray, beta: FloatArray) -> FloatArray:
    """max(exp(x @ beta), eps): means as R's log link gives them, shape (n, U)."""
    with np.errstate(over="ignore", invalid="ignore"):
        eta = np.asarray(x, np.float64) @ beta
        return np.asarray(np.where(np.isnan(eta), np.nan, np.maximum(np.exp(eta), MU_EPS)))


def _trigamma(v: FloatArray) -> FloatArray:
    """psi'(v) for v > 0, to about 1e-10 relative: the recurrence psi'(v) = psi'(v + 1) + 1/v^2
    up to v >= 6 (only where v is small), then the asymptotic series. (Used only for Newton
    curvatures, never in a score, so the estimates do not depend on its last digits; it is
    much faster than ``scipy.special.polygamma(1, v)``.)"""
    z = np.array(v, dtype=np.float64, copy=True)
    acc = np.zeros_like(z)
    small = np.flatnonzero(z < 6.0)
    if small.size:
        zs = z.flat[small]
        acs = np.zeros_like(zs)
        for _ in range(6):
            lo = zs < 6.0
            acs += np.where(lo, 1.0 / (zs * zs), 0.0)
            zs += lo
        z.flat[small] = zs
        acc.flat[small] = acs
    r = 1.0 / z
    r2 = r * r
    poly = -1.0 / 30.0 + r2 * (1.0 / 42.0 + r2 * (-1.0 / 30.0 + r2 * 5.0 / 66.0))
    series = r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r2 * poly)))
    return np.asarray(acc + series, dtype=np.float64)


class _Distinct:
    """The distinct (series, value) pairs of the used responses with their multiplicities, so
    that sums of psi(y + theta) over a series cost one evaluation per distinct count."""

    def __init__(self, yy: FloatArray, mask: BoolArray) -> None:
        srt = np.sort(np.where(mask, yy, np.inf), axis=0)  # each column sorted, unused last
        used = np.isfinite(srt)
        first = used.copy()
        first[1:] &= srt[1:] != srt[:-1]
        units, rows = np.nonzero(first.T)  # first rows of the distinct values, unit by unit
        end = np.empty_like(rows)  # the first row of the next distinct value of the unit
        end[:-1] = rows[1:]
        last = np.ones(units.size, dtype=bool)
        last[:-1] = units[1:] != units[:-1]
        end[last] = used.sum(axis=0)[units[last]]
        self.unit = units
        self.value = srt[rows, units]
        self.count = (end - rows).astype(np.float64)
        self.n_units = yy.shape[1]

    def sums(self, theta: FloatArray, todo: IntArray, curvature: bool) -> tuple[Any, Any]:
        """sum over each series in ``todo`` of psi(y + theta) and (if ``curvature``) of
        psi'(y + theta); ``theta`` holds the values of the series in ``todo``."""
        pos = np.full(self.n_units, -1)
        pos[todo] = np.arange(todo.size)
        sel = pos[self.unit]
        keep = sel >= 0
        sel = sel[keep]
        arg = self.value[keep] + theta[sel]
        cnt = self.count[keep]
        s1 = np.bincount(sel, weights=cnt * psi(arg), minlength=todo.size)
        s2 = (
            np.bincount(sel, weights=cnt * _trigamma(arg), minlength=todo.size)
            if curvature
            else None
        )
        return s1, s2


def _theta_score(
    yy: FloatArray,
    mu: FloatArray,
    w: FloatArray,
    th: FloatArray,
    curvature: bool,
    special: tuple[Any, Any] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """d loglik / d log(theta) and its second derivative per column (the latter 0 if not
    ``curvature``). ``special``: the sums of psi(y + theta) and psi'(y + theta) over the used
    rows, if already known."""
    t = th[None, :]
    tm = t + mu
    yt = yy + t
    r = 1.0 / tm
    yr = yt * r
    n_obs = w.sum(axis=0)
    if special is None:
        s_psi = (w * psi(yt)).sum(axis=0)
        s_tri = (w * _trigamma(yt)).sum(axis=0) if curvature else None
    else:
        s_psi, s_tri = special
    score = s_psi - (w * (np.log(tm) + yr)).sum(axis=0) + n_obs * (np.log(th) + 1.0 - psi(th))
    g = score * th
    if not curvature:
        return g, np.zeros_like(g)
    d2 = s_tri + (w * r * (yr - 2.0)).sum(axis=0) + n_obs * (1.0 / th - _trigamma(th))
    return g, d2 * th * th + g


def _theta_step(lt: FloatArray, g: FloatArray, h: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Safeguarded Newton step on log(theta): new log theta and the step taken.

    Where the likelihood keeps rising with theta (no overdispersion) theta goes to a large cap,
    i.e. alpha = 1/theta is practically 0.
    """
    cap = np.log(_THETA_MAX)
    step = np.where(h < 0, -g / np.where(h < 0, h, -1.0), np.sign(g) * 1.0)
    step = np.clip(step, -2.0, 2.0)
    new = np.minimum(lt + step, cap)
    runaway = (new > np.log(1e8)) & (g > 0)
    return np.where(runaway, cap, new), step


def _theta_ml(
    y: FloatArray, mu: FloatArray, mask: BoolArray, theta: FloatArray, iters: int = 200
) -> FloatArray:
    """ML estimate of theta given mu, per column (safeguarded Newton on log theta)."""
    lt = np.log(np.minimum(theta, _THETA_MAX)).astype(np.float64)
    cap = np.log(_THETA_MAX)
    w_all = mask.astype(np.float64)
    yy_all = np.where(mask, y, 0.0)
    todo = np.arange(y.shape[1])
    for _ in range(iters):
        g, h = _theta_score(yy_all[:, todo], mu[:, todo], w_all[:, todo], np.exp(lt[todo]), True)
        new, step = _theta_step(lt[todo], g, h)
        lt[todo] = new
        todo = todo[~((np.abs(step) < 1e-11) | (new >= cap))]
        if todo.size == 0:
            break
    return np.asarray(np.exp(lt), dtype=np.float64)


def nb_loglik(y: FloatArray, mu: FloatArray, theta: FloatArray, mask: BoolArray) -> FloatArray:
    """Negative binomial log-likelihood per column."""
    yy = np.where(mask, y, 0.0)
    th = theta[None, :]
    ll = (
        gammaln(yy + th)
        - gammaln(th)
        - gammaln(yy + 1.0)
        + th * np.log(th / (th + mu))
        + yy * np.log(mu / (th + mu))
    )
    return np.asarray(np.where(mask, ll, 0.0).sum(axis=0), dtype=np.float64)


def _fit_negbin_alternating(
    x: FloatArray,
    y: FloatArray,
    m: BoolArray,
    beta: FloatArray,
    theta: FloatArray,
    max_outer: int = 200,
) -> tuple[FloatArray, FloatArray]:
    """The ``MASS::glm.nb`` scheme: theta by ML given the means, then the coefficients by IRLS
    given theta, until both settle. Slow but sure; used for series the batched steps do not
    settle."""
    beta = beta.copy()
    theta = theta.copy()
    mu = np.exp(x @ beta)
    todo = np.arange(y.shape[1])
    for _ in range(max_outer):
        theta_new = _theta_ml(y[:, todo], mu[:, todo], m[:, todo], theta[todo])
        beta_new = _irls(x, y[:, todo], m[:, todo], theta_new, beta[:, todo])
        mu[:, todo] = np.exp(x @ beta_new)
        d_theta = np.abs(np.log(theta_new) - np.log(theta[todo]))
        d_beta = np.max(np.abs(beta_new - beta[:, todo]), axis=0)
        theta[todo] = theta_new
        beta[:, todo] = beta_new
        todo = todo[(d_theta >= 1e-9) | (d_beta >= 1e-10)]
        if todo.size == 0:
            break
    return beta, _theta_ml(y, mu, m, theta)


def fit_negbin(
    x: FloatArray, y: FloatArray, mask: BoolArray | None = None, max_joint: int = 60
) -> tuple[FloatArray, FloatArray]:
    """Joint NB maximum likelihood: coefficients (p, U) and theta (U,).

    All series in one batch, each stopping when its own estimates have converged (a series gets
    the same answer alone as within a panel). From the Poisson fit and the moment estimate of
    theta, each iteration takes a joint Newton step in (coefficients, log theta) with the
    observed information where that is negative definite, and otherwise one Fisher scoring
    step for the coefficients plus one safeguarded Newton step for log theta (the two are
    orthogonal in the expected information). Sums of psi(y + theta) run over the distinct
    counts of each series. Series that have not settled after ``max_joint`` steps (e.g. a wild
    first step from a poor Poisson start when the fitting window holds a large epidemic) are
    fitted again from the start by the alternating scheme of ``MASS::glm.nb``. Both find the
    same joint maximum.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    m = ~np.isnan(y) if mask is None else mask & ~np.isnan(y)
    n_p = x.shape[1]
    xx = outer_rows(x)
    beta_p = _irls(x, y, m, None, None, tol=1e-6)
    eta = x @ beta_p
    mu = np.exp(eta)
    w_all = m.astype(np.float64)
    complete = bool(m.all())
    n_obs_all = w_all.sum(axis=0)
    yy_all = np.where(m, y, 0.0)
    table = _Distinct(yy_all, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta0 = w_all.sum(axis=0) / (w_all * (yy_all / mu - 1.0) ** 2).sum(axis=0)
    theta0 = np.minimum(np.where(np.isfinite(theta0) & (theta0 > 0), theta0, 1.0), _THETA_MAX)
    beta = beta_p.copy()
    lt = np.log(theta0)
    cap = np.log(_THETA_MAX)
    # Score test at the Poisson fit: d loglik / d alpha at alpha = 0 is
    # sum((y - mu)^2 - y) / 2. Where it is <= 0 the likelihood falls as soon as alpha leaves 0,
    # so theta goes to the cap at once (its score is only rounding noise near the cap).
    poisson_like = (w_all * ((yy_all - mu) ** 2 - yy_all)).sum(axis=0) <= 0.0
    lt[poisson_like] = cap
    todo = np.arange(y.shape[1])
    prev = np.full(y.shape[1], np.inf)
    for _ in range(max_joint):
        if todo.size == y.shape[1]:  # views while every series is still moving
            w, yy, mu_t, eta_t, beta_t = w_all, yy_all, mu, eta, beta
        else:
            w, yy, mu_t, eta_t = w_all[:, todo], yy_all[:, todo], mu[:, todo], eta[:, todo]
            beta_t = beta[:, todo]
        th = np.exp(lt[todo])
        frozen = lt[todo] >= cap
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # score and curvature in log(theta) (as _theta_score, sharing the pieces)
            s_psi, s_tri = table.sums(th, todo, True)
            r = 1.0 / (th[None, :] + mu_t)
            yr = yy + th[None, :]
            yr *= r  # (y + theta) / (theta + mu)
            a1 = np.log(r)
            np.subtract(yr, a1, out=a1)  # log(theta + mu) + (y + theta) / (theta + mu)
            a2 = yr - 2.0
            a2 *= r
            if not complete:
                a1 *= w
                a2 *= w
            n_obs = n_obs_all[todo]
            g = (s_psi - a1.sum(axis=0) + n_obs * (np.log(th) + 1.0 - psi(th))) * th
            d2 = s_tri + a2.sum(axis=0) + n_obs * (1.0 / th - _trigamma(th))
            h = d2 * th * th + g
            # joint Newton step with the observed information
            fw = mu_t * r
            fw *= th[None, :]  # Fisher weights of the coefficients
            if not complete:
                fw *= w
            res = yy - mu_t
            res *= fw
            hbb = -_xtwx(xx, fw * yr, n_p)
            gb = x.T @ (res / mu_t)
            res *= r
            hbt = x.T @ res
            hess = np.empty((todo.size, n_p + 1, n_p + 1))
            hess[:, :n_p, :n_p] = hbb
            hess[:, :n_p, n_p] = hbt.T
            hess[:, n_p, :n_p] = hbt.T
            hess[:, n_p, n_p] = h
            step = -_solve(hess, np.concatenate([gb, g[None, :]], axis=0))
            schur = h - (hbt * _solve(hbb, hbt)).sum(axis=0)
            newton = (schur < 0) & ~frozen & np.all(np.isfinite(step), axis=0)
            newton &= np.abs(step[n_p]) <= 2.0
            new_b = beta_t + step[:n_p]
            new_lt = np.minimum(lt[todo] + step[n_p], cap)
            new_lt = np.where((new_lt > np.log(1e8)) & (g > 0), cap, new_lt)  # as _theta_step
            other = np.flatnonzero(~newton)
            if other.size:
                # Fisher scoring for the coefficients at the current theta and a safeguarded
                # Newton step for log(theta) at the current means (orthogonal blocks)
                fo = fw[:, other]
                z = eta_t[:, other] + (yy[:, other] - mu_t[:, other]) / mu_t[:, other]
                new_b[:, other] = _solve(_xtwx(xx, fo, n_p), x.T @ (fo * z))
                lt_o, _ = _theta_step(lt[todo][other], g[other], h[other])
                new_lt[other] = np.where(frozen[other], cap, lt_o)
        d_theta = np.where(frozen, 0.0, np.abs(new_lt - lt[todo]))
        d_beta = np.max(np.abs(new_b - beta_t), axis=0)
        lt[todo] = new_lt
        beta[:, todo] = new_b
        if todo.size == y.shape[1]:
            np.clip(x @ new_b, -700.0, 700.0, out=eta)
            np.exp(eta, out=mu)
        else:
            eta[:, todo] = np.clip(x @ new_b, -700.0, 700.0)
            mu[:, todo] = np.exp(eta[:, todo])
        size = np.maximum(d_theta, d_beta / (1.0 + np.max(np.abs(new_b), axis=0)))
        # converged, or at the rounding floor (a tiny step that no longer shrinks)
        done = (size < 1e-13) | ((size < 1e-9) & (size > 0.25 * prev[todo]))
        done &= np.isfinite(new_lt) & np.isfinite(size)
        prev[todo] = size
        todo = todo[~done]
        if todo.size == 0:
            break
    theta = np.exp(lt)
    if todo.size:
        b_alt, t_alt = _fit_negbin_alternating(
            x, y[:, todo], m[:, todo], beta_p[:, todo], theta0[todo]
        )
        beta[:, todo] = b_alt
        theta[todo] = t_alt
    return beta, np.asarray(theta, dtype=np.float64)
